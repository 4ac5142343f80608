// `coffre destination add|edit|list|remove|test`: where artifacts are stored. Options after NAME other than
// --type are handed to the storage backend as its settings, kebab-case turned camelCase (--path DIR for
// local; --bucket, --region, --prefix, --endpoint, --force-path-style, --storage-class, --sse,
// --access-key-id, --secret-access-key for s3 …), so a new backend needs no change here.
//
// Secrets and argv: anything on a command line is visible to every user in `ps` and lands in shell
// history. So any setting can instead be read from an environment variable (`--secret-access-key-env VAR`)
// or from a file (`--secret-access-key-file PATH`, content trimmed; `--credentials-file key.json` for gcs),
// and each provider's own variables (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*) are read when
// nothing is given. A secret given directly on the command line still works, with a warning.

import { addDestination, listDestinations, removeDestination, testDestination, updateDestination } from '../../services/destinations.ts';
import { usageError } from '../../core/errors.ts';
import { parse, positional, settingsFromFlags } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printRows, type Io } from '../output.ts';

export const help = `coffre destination add NAME --type local [--path DIR]   add a destination (default path: BACKUP_ROOT)
coffre destination add NAME --type s3 --bucket B [--region R] [--prefix P] [--endpoint URL [--allow-http]] [--force-path-style]
      [--storage-class C] [--sse AES256|aws:kms [--sse-kms-key-id K]] [--access-key-id-env VAR --secret-access-key-env VAR]
coffre destination add NAME --type gcs --bucket B [--prefix P] [--project ID] [--api-endpoint URL] [--credentials-file KEY.json]
coffre destination add NAME --type azure --container C [--prefix P] (--connection-string-env VAR | --account-name A --account-key-env VAR
      [--endpoint URL] | --sas-url-env VAR)
      any setting X may come from --X-env VAR or --X-file PATH instead of the command line (secrets should);
      without credentials, the providers' environment variables are read (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*)
coffre destination edit NAME [--name NEW] [SETTING ...]  change settings or credentials (same flags as add; the type stays)
coffre destination list                                list destinations
coffre destination remove NAME                         remove a destination no plan uses
coffre destination test NAME                           check that it is reachable and writable`;

/** Shorter or provider-worded flags for backend settings. */
const aliases: Record<string, string> = { sse: 'serverSideEncryption', project: 'projectId' };
/** Settings that are switches: `--allow-http` alone means true. */
const switches = new Set(['allowHttp', 'forcePathStyle']);
/** Settings that are secrets: warned about when given on the command line. */
const secretSettings = new Set(['secretAccessKey', 'sessionToken', 'accountKey', 'connectionString', 'sasUrl', 'credentials']);

/** The command's flags as a backend's settings (cli/args.ts settingsFromFlags). */
function settingsOf(args: string[], warn: (line: string) => void = () => {}): { name?: string; settings: Record<string, unknown>; json: boolean } {
  return settingsFromFlags(args, { command: 'destination', switches, secrets: secretSettings, aliases }, warn);
}

/** "bucket=b prefix=p/" from a destination's (secret-free) settings. */
function describeConfig(config: Record<string, unknown>): string {
  return (
    Object.entries(config)
      .filter(([, v]) => v !== undefined && v !== null && v !== '' && v !== false)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ') || '(defaults)'
  );
}

/** Runs a destination subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const { name, settings } = settingsOf(rest, (line) => io.err(`${line}\n`));
      if (!name) throw usageError('MISSING_ARGUMENT', '`coffre destination add` needs a NAME.');
      if (settings.type === undefined) throw usageError('MISSING_OPTION', '`coffre destination add` needs --type (local, s3, gcs or azure).', { field: 'type' });
      const d = await withContext(io, (ctx) => addDestination(ctx, { ...settings, name, type: settings.type }, { via: 'cli', warn: (m) => io.err(m) }));
      if (io.json) printJson(io, d);
      else io.out(`Destination ${d.name} added: ${d.type} ${describeConfig(d.config)}\n`);
      return 0;
    }
    case 'edit': {
      const { name, settings } = settingsOf(rest, (line) => io.err(`${line}\n`));
      if (!name) throw usageError('MISSING_ARGUMENT', '`coffre destination edit` needs a NAME.');
      if (Object.keys(settings).length === 0)
        throw usageError('MISSING_OPTION', '`coffre destination edit` needs at least one setting to change (see `coffre destination --help`).');
      const d = await withContext(io, (ctx) => updateDestination(ctx, name, settings, { via: 'cli', warn: (m) => io.err(m) }));
      if (io.json) printJson(io, d);
      else io.out(`Destination ${d.name} updated: ${d.type} ${describeConfig(d.config)}\n`);
      return 0;
    }
    case 'list': {
      parse('destination list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listDestinations(ctx));
      printRows(
        io,
        rows,
        [
          ['name', (r) => r.name],
          ['type', (r) => r.type],
          ['settings', (r) => describeConfig(r.config)],
        ],
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
      throw usageError('UNKNOWN_COMMAND', `Unknown command "destination ${sub ?? ''}": use destination add, edit, list, remove or test.`);
  }
}
