// `coffre target add|edit|list|remove|test`: databases to back up. A URL with its password on the command
// line is visible to other users (ps) and kept in shell history, so the URL may come from --url-env VAR or
// --url-file PATH, or the password alone from --password-env VAR or --password-file PATH; a password
// given in --url still works, with a warning.

import { addTarget, listTargets, removeTarget, testTarget, updateTarget } from '../../services/targets.ts';
import { parseConnectionUrl, schemeList, withPassword } from '../../core/connection.ts';
import { usageError } from '../../core/errors.ts';
import { fromEnvOrFile, optional, parse, positional, type Parsed } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printRows, type Io } from '../output.ts';

export const help = `coffre target add NAME --url URL     add a database (${schemeList})
      the URL may come from --url-env VAR or --url-file PATH, the password alone from --password-env VAR or --password-file PATH
coffre target edit NAME [--url URL] [--password-env VAR] [--name NEW]   change a target in place (a rotated password, a new host)
coffre target list                   list targets (passwords are never shown)
coffre target remove NAME            remove a target no plan uses
coffre target test NAME              connect and report the server and client versions (a server target: the databases it would back up)
      a server target (every database of a server): a URL without a database (postgres://u@h:5432/), or --all-databases;
      [--include GLOB ...] [--exclude GLOB ...] filter names (system databases out unless named), [--parallel N] (default 1);
      on edit, --include '' / --exclude '' clear the filters`;

const urlFlags = {
  url: { type: 'string' },
  'url-env': { type: 'string' },
  'url-file': { type: 'string' },
  'password-env': { type: 'string' },
  'password-file': { type: 'string' },
  'all-databases': { type: 'boolean' },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  parallel: { type: 'string' },
} as const;

/** The server target flags given (only those given: an edit keeps the others). */
function serverFlags(p: Parsed): { allDatabases?: boolean; include?: string[]; exclude?: string[]; parallel?: string } {
  const list = (name: string) => {
    const v = p.values[name];
    if (v === undefined) return undefined;
    return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string' && x !== '');
  };
  const out: { allDatabases?: boolean; include?: string[]; exclude?: string[]; parallel?: string } = {};
  if (p.values['all-databases'] === true) out.allDatabases = true;
  const include = list('include');
  const exclude = list('exclude');
  if (include) out.include = include;
  if (exclude) out.exclude = exclude;
  const parallel = optional(p, 'parallel');
  if (parallel !== undefined) out.parallel = parallel;
  return out;
}

function serverLine(t: { server: boolean; include: string[]; exclude: string[]; parallel: number }): string {
  return t.server
    ? ` (server target: include ${t.include.length ? t.include.join(' ') : 'all'}${t.exclude.length ? `, exclude ${t.exclude.join(' ')}` : ''}, parallel ${t.parallel})`
    : '';
}

/** The value given by --X, --X-env VAR or --X-file PATH (at most one of them), and whether it came straight from argv. */
function oneOf(p: Parsed, command: string, flag: string): { value?: string; direct: boolean } {
  const given = [flag, `${flag}-env`, `${flag}-file`].filter((f) => optional(p, f) !== undefined);
  if (given.length > 1) throw usageError('BAD_ARGUMENTS', `\`coffre ${command}\` takes one of ${given.map((f) => `--${f}`).join(', ')}, not several.`);
  const [f] = given;
  if (!f) return { direct: false };
  if (f === flag) return { value: optional(p, f), direct: true };
  return { value: fromEnvOrFile(`--${f}`, f.endsWith('-env') ? 'env' : 'file', optional(p, f)!), direct: false };
}

/** The URL given by --url, --url-env or --url-file, with --password-env/--password-file set in it; warns about a password in argv. */
function urlOf(p: Parsed, command: string, io: Io): string | undefined {
  const url = oneOf(p, command, 'url');
  const password = ['password-env', 'password-file'].filter((f) => optional(p, f) !== undefined);
  if (password.length > 1) throw usageError('BAD_ARGUMENTS', `\`coffre ${command}\` takes --password-env or --password-file, not both.`);
  if (url.value === undefined) {
    if (password.length) throw usageError('MISSING_OPTION', `\`coffre ${command}\`: --${password[0]} goes with --url (the URL without its password).`, { field: 'url' });
    return undefined;
  }
  if (password.length) {
    const f = password[0];
    return withPassword(url.value, fromEnvOrFile(`--${f}`, f === 'password-env' ? 'env' : 'file', optional(p, f)!));
  }
  if (url.direct && parseConnectionUrl(url.value, { allowNoDatabase: true }).password !== undefined) {
    io.err('warning: the password in --url is visible to other users (ps) and kept in shell history; prefer --password-env VAR or --url-env VAR.\n');
  }
  return url.value;
}

/** Runs a target subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const p = parse('target add', rest, urlFlags, 1);
      const name = positional(p, 0, 'a NAME', 'target add');
      const url = urlOf(p, 'target add', io);
      if (url === undefined) throw usageError('MISSING_OPTION', '`coffre target add` needs --url URL (or --url-env VAR, or --url-file PATH).', { field: 'url' });
      const t = await withContext(io, (ctx) => addTarget(ctx, { name, url, ...serverFlags(p) }, { via: 'cli', warn: (m) => io.err(m) }));
      if (io.json) printJson(io, t);
      else io.out(`Target ${t.name} added: ${t.engine}, ${t.url}${serverLine(t)}\n`);
      return 0;
    }
    case 'edit': {
      const p = parse('target edit', rest, { ...urlFlags, name: { type: 'string' } }, 1);
      const ref = positional(p, 0, 'a NAME', 'target edit');
      const url = urlOf(p, 'target edit', io);
      const newName = optional(p, 'name');
      const server = serverFlags(p);
      if (url === undefined && newName === undefined && Object.keys(server).length === 0)
        throw usageError('MISSING_OPTION', '`coffre target edit` needs --url (or --url-env, --url-file), --all-databases, --include, --exclude, --parallel or --name.');
      const t = await withContext(io, (ctx) =>
        updateTarget(ctx, ref, { ...(url !== undefined ? { url } : {}), ...(newName !== undefined ? { name: newName } : {}), ...server }, { via: 'cli', warn: (m) => io.err(m) }),
      );
      if (io.json) printJson(io, t);
      else io.out(`Target ${t.name} updated: ${t.engine}, ${t.url}${serverLine(t)}\n`);
      return 0;
    }
    case 'list': {
      parse('target list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listTargets(ctx));
      printRows(
        io,
        rows,
        [
          ['name', (r: (typeof rows)[0]) => r.name],
          ['engine', (r: (typeof rows)[0]) => r.engine],
          ['url', (r: (typeof rows)[0]) => r.url],
        ],
        'No targets yet: add one with `coffre target add NAME --url URL`.',
      );
      return 0;
    }
    case 'remove': {
      const p = parse('target remove', rest, {}, 1);
      const t = await withContext(io, (ctx) => removeTarget(ctx, positional(p, 0, 'a NAME', 'target remove')));
      if (io.json) printJson(io, t);
      else io.out(`Target ${t.name} removed.\n`);
      return 0;
    }
    case 'test': {
      const p = parse('target test', rest, {}, 1);
      const t = await withContext(io, (ctx) => testTarget(ctx, positional(p, 0, 'a NAME', 'target test')));
      if (io.json) printJson(io, t);
      else {
        io.out(`Target ${t.name} is reachable: server ${t.serverVersion}, client ${t.tool} ${t.clientVersion}.\n`);
        if (t.databases) io.out(`It would back up ${t.databases.length} database(s)${t.databases.length ? `: ${t.databases.join(', ')}` : ''}.\n`);
      }
      return 0;
    }
    default:
      throw usageError('UNKNOWN_COMMAND', `Unknown command "target ${sub ?? ''}": use target add, edit, list, remove or test.`);
  }
}
