// The `coffre` command line: one thin dispatcher. Each command parses its flags, calls one service and
// prints; every error leaves as `error: <message>` with exit code 2 (bad usage or input) or 1 (the
// operation failed), never as a stack trace.

import { enableCompileCache } from 'node:module';
import path from 'node:path';
import type { Io } from './output.ts';

// The compile cache: Node keeps each module's type-stripped and compiled form on disk, so a command does not
// strip and compile its ~500 modules again (about 0.4 s of a backup's start-up). It lives beside the code,
// in the package's node_modules/.cache, not in a shared temporary folder: whoever can write it can already
// write the code it caches. A package folder the user cannot write just runs without it. bin/coffre.js
// turns it on before this file loads; this line serves `node src/cli/main.ts` (then a no-op from the bin).
// That is also why this file imports nothing but types statically: every static import would be compiled
// before the cache is on.
enableCompileCache?.({ directory: path.join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'coffre-compile') });
// Each command module is loaded only when it runs: a `coffre backup` need not load the HTTP server, the
// cluster queue or any cloud SDK, which keeps start-up fast and the peak memory of a backup low.
interface CommandModule {
  help: string;
}
const modules = {
  target: () => import('./commands/target.ts'),
  destination: () => import('./commands/destination.ts'),
  plan: () => import('./commands/plan.ts'),
  runs: () => import('./commands/runs.ts'),
  serve: () => import('./commands/serve.ts'),
  token: () => import('./commands/token.ts'),
  prune: () => import('./commands/prune.ts'),
  reindex: () => import('./commands/reindex.ts'),
  notify: () => import('./commands/notify.ts'),
  status: () => import('./commands/status.ts'),
  key: () => import('./commands/key.ts'),
  drill: () => import('./commands/drill.ts'),
};

type Handler = (args: string[], io: Io) => Promise<number>;

const commands: Record<string, () => Promise<Handler>> = {
  target: async () => (await modules.target()).run,
  destination: async () => (await modules.destination()).run,
  plan: async () => (await modules.plan()).run,
  backup: async () => (await modules.runs()).backup,
  restore: async () => (await modules.runs()).restore,
  journal: async () => (await modules.runs()).journal,
  verify: async () => (await modules.runs()).verify,
  serve: async () => (await modules.serve()).run,
  token: async () => (await modules.token()).run,
  prune: async () => (await modules.prune()).run,
  reindex: async () => (await modules.reindex()).run,
  notify: async () => (await modules.notify()).run,
  status: async () => (await modules.status()).run,
  key: async () => (await modules.key()).run,
  drill: async () => (await modules.drill()).run,
};

async function usage(): Promise<string> {
  const helps = await Promise.all(Object.values(modules).map(async (load) => ((await load()) as CommandModule).help));
  return `coffre: backups of PostgreSQL, MySQL/MariaDB, MongoDB and SQLite databases

${helps.join('\n\n')}

Every command takes --json. Exit codes: 0 done, 1 the operation failed, 2 bad usage or input.
Configuration: DATA_DIR, BACKUP_ROOT, DATABASE_URL, ENCRYPTION_SECRET, DEFAULT_COMPRESSION.
`;
}

/**
 * Starts the catalog key's derivation (scrypt, on the thread pool) before anything else loads, so that it
 * runs on the second core while the command's ~500 modules load on this one. It reads ENCRYPTION_SECRET
 * as is, without waiting for config.ts (and zod) to load: this is only a head start, keyed by the secret
 * itself, so the open uses it only if loadConfig() yields the very same secret, and a value loadConfig()
 * refuses is reported by the command as before (the derivation is then wasted, nothing else).
 */
async function prepareKey(): Promise<void> {
  const secret = process.env.ENCRYPTION_SECRET;
  if (!secret) return;
  try {
    (await import('../core/secrets.ts')).prepareSecretKey({ encryptionSecret: secret });
  } catch {
    // reported when the command opens the catalog itself
  }
}

/** Runs the CLI with the given arguments (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  // Nearly every command opens the catalog, whose key is derived while the modules load (see prepareKey);
  // help, --version and an unknown command do not start it.
  const named = argv[0];
  if (named !== undefined && Object.hasOwn(commands, named)) void prepareKey();
  const { processIo, reportError } = await import('./output.ts');
  const io = processIo(argv.includes('--json'));
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      io.out(await usage());
      return 0;
    }
    if (name === '--version' || name === 'version') {
      const { coffreVersion } = await import('../pipeline/manifest.ts');
      io.out(`coffre ${coffreVersion()}\n`);
      return 0;
    }
    const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!load) throw (await import('../core/errors.ts')).usageError('UNKNOWN_COMMAND', `Unknown command "${name}": run \`coffre help\` for the list.`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(await usage());
      return 0;
    }
    const handler = await load();
    return await handler(rest, io);
  } catch (err) {
    return reportError(io, err);
  }
}

/**
 * main() for a process of its own (bin/coffre.js, `node src/cli/main.ts`): a last guard turns anything
 * that escaped every handler (an 'error' event nobody listened to, a rejected promise nobody awaited)
 * into one coded line on stderr and exit 1, never a stack trace. Finding one is a bug to fix where it
 * started; the guard only keeps the user's terminal (or --json reader) clean meanwhile.
 */
export async function runCommand(argv: string[]): Promise<void> {
  const { processIo, reportError } = await import('./output.ts');
  const io = processIo(argv.includes('--json'));
  const escaped = (err: unknown) => {
    process.exitCode = Math.max(reportError(io, err), 1);
    process.exit();
  };
  process.on('uncaughtException', escaped);
  process.on('unhandledRejection', escaped);
  process.exitCode = await main(argv);
}

if (import.meta.main) await runCommand(process.argv.slice(2));
