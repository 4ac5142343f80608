// `coffre destination add|list|remove`: where artifacts are stored. Options after NAME other than --type
// are handed to the storage backend as its settings (--path DIR for local; cloud fields later), so a new
// backend needs no change here.

import { addDestination, listDestinations, removeDestination, testDestination } from '../../services/destinations.ts';
import { usageError } from '../../core/errors.ts';
import { parse, positional } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printTable, type Io } from '../output.ts';

export const help = `coffre destination add NAME --type local [--path DIR]   add a destination (default path: BACKUP_ROOT)
coffre destination list                                list destinations
coffre destination remove NAME                         remove a destination no plan uses
coffre destination test NAME                           check that it is reachable and writable`;

/** --key value / --key=value pairs into camelCase settings; --json is the output switch. */
function settingsOf(args: string[]): { name?: string; settings: Record<string, unknown>; json: boolean } {
  const settings: Record<string, unknown> = {};
  let name: string | undefined;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') {
      json = true;
      continue;
    }
    if (!a.startsWith('--')) {
      if (name !== undefined) throw usageError('BAD_ARGUMENTS', `Unexpected argument "${a}" for \`coffre destination add\`.`);
      name = a;
      continue;
    }
    const eq = a.indexOf('=');
    const key = (eq > 0 ? a.slice(2, eq) : a.slice(2)).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : args[i + 1];
    if (eq < 0) {
      if (value === undefined || value.startsWith('--')) throw usageError('BAD_ARGUMENTS', `Option ${a} needs a value (see \`coffre destination --help\`).`);
      i++;
    }
    if (!key) throw usageError('BAD_ARGUMENTS', `Bad option "${a}".`);
    settings[key] = value;
    value = undefined;
  }
  return { name, settings, json };
}

/** Runs a destination subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const { name, settings } = settingsOf(rest);
      if (!name) throw usageError('MISSING_ARGUMENT', '`coffre destination add` needs a NAME.');
      if (settings.type === undefined) throw usageError('MISSING_OPTION', '`coffre destination add` needs --type (local).', { field: 'type' });
      const d = await withContext(io, (ctx) => addDestination(ctx, { ...settings, name, type: settings.type }));
      if (io.json) printJson(io, d);
      else io.out(`Destination ${d.name} added: ${d.type}${typeof d.config.path === 'string' ? ` ${d.config.path}` : ''}\n`);
      return 0;
    }
    case 'list': {
      parse('destination list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listDestinations(ctx));
      type Row = (typeof rows)[0];
      if (io.json) printJson(io, rows);
      else
        printTable(
          io,
          [['name', (r: Row) => r.name], ['type', (r: Row) => r.type], ['settings', (r: Row) => Object.entries(r.config).map(([k, v]) => `${k}=${String(v)}`).join(' ') || '(defaults)']],
          rows,
          'No destinations yet: add one with `coffre destination add NAME --type local --path DIR`.',
        );
      return 0;
    }
    case 'remove': {
      const p = parse('destination remove', rest, {}, 1);
      const d = await withContext(io, (ctx) => removeDestination(ctx, positional(p, 0, 'a NAME', 'destination remove')));
      if (io.json) printJson(io, d);
      else io.out(`Destination ${d.name} removed (its stored artifacts were left in place).\n`);
      return 0;
    }
    case 'test': {
      const p = parse('destination test', rest, {}, 1);
      const d = await withContext(io, (ctx) => testDestination(ctx, positional(p, 0, 'a NAME', 'destination test')));
      if (io.json) printJson(io, d);
      else io.out(`Destination ${d.name} is reachable and writable.\n`);
      return 0;
    }
    default:
      throw usageError('UNKNOWN_COMMAND', `Unknown command "destination ${sub ?? ''}": use destination add, list, remove or test.`);
  }
}
