// `coffre target add|list|remove|test`: databases to back up.

import { addTarget, listTargets, removeTarget, testTarget } from '../../services/targets.ts';
import { usageError } from '../../core/errors.ts';
import { parse, positional, required } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printTable, type Io } from '../output.ts';

export const help = `coffre target add NAME --url URL     add a database (postgres://, mysql://, mariadb://, mongodb://, sqlite:/path)
coffre target list                   list targets (passwords are never shown)
coffre target remove NAME            remove a target no plan uses
coffre target test NAME              connect and report the server and client versions`;

/** Runs a target subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const p = parse('target add', rest, { url: { type: 'string' } }, 1);
      const name = positional(p, 0, 'a NAME', 'target add');
      const url = required(p, 'url', 'target add', 'URL');
      const t = await withContext(io, (ctx) => addTarget(ctx, { name, url }));
      if (io.json) printJson(io, t);
      else io.out(`Target ${t.name} added: ${t.engine}, ${t.url}\n`);
      return 0;
    }
    case 'list': {
      parse('target list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listTargets(ctx));
      if (io.json) printJson(io, rows);
      else printTable(io, [['name', (r: (typeof rows)[0]) => r.name], ['engine', (r: (typeof rows)[0]) => r.engine], ['url', (r: (typeof rows)[0]) => r.url]], rows, 'No targets yet: add one with `coffre target add NAME --url URL`.');
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
      else io.out(`Target ${t.name} is reachable: server ${t.serverVersion}, client ${t.tool} ${t.clientVersion}.\n`);
      return 0;
    }
    default:
      throw usageError('UNKNOWN_COMMAND', `Unknown command "target ${sub ?? ''}": use target add, list, remove or test.`);
  }
}
