// The `coffre` command line: one thin dispatcher. Each command parses its flags, calls one service and
// prints; every error leaves as `error: <message>` with exit code 2 (bad usage or input) or 1 (the
// operation failed), never as a stack trace.

import { usageError } from '../core/errors.ts';
import { processIo, reportError, type Io } from './output.ts';
import * as target from './commands/target.ts';
import * as destination from './commands/destination.ts';
import * as plan from './commands/plan.ts';
import * as runs from './commands/runs.ts';
import * as serve from './commands/serve.ts';
import * as token from './commands/token.ts';
import * as prune from './commands/prune.ts';

const usage = `coffre: backups of PostgreSQL, MySQL/MariaDB, MongoDB and SQLite databases

${target.help}

${destination.help}

${plan.help}

${runs.help}

${serve.help}
${token.help}
${prune.help}

Every command takes --json. Exit codes: 0 done, 1 the operation failed, 2 bad usage or input.
Configuration: DATA_DIR, BACKUP_ROOT, DATABASE_URL, ENCRYPTION_SECRET, DEFAULT_COMPRESSION.
`;

type Handler = (args: string[], io: Io) => Promise<number>;

const commands: Record<string, Handler> = {
  target: target.run,
  destination: destination.run,
  plan: plan.run,
  backup: runs.backup,
  restore: runs.restore,
  journal: runs.journal,
  verify: runs.verify,
  serve: serve.run,
  token: token.run,
  prune: prune.run,
};

/** Runs the CLI with the given arguments (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const io = processIo(argv.includes('--json'));
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      io.out(usage);
      return 0;
    }
    if (name === '--version' || name === 'version') {
      const { coffreVersion } = await import('../pipeline/manifest.ts');
      io.out(`coffre ${coffreVersion()}\n`);
      return 0;
    }
    const handler = commands[name];
    if (!handler) throw usageError('UNKNOWN_COMMAND', `Unknown command "${name}": run \`coffre help\` for the list.`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(`${usage}`);
      return 0;
    }
    return await handler(rest, io);
  } catch (err) {
    return reportError(io, err);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
