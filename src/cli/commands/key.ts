// `coffre key generate|import|list|remove`: age identities for encrypted backups. `generate` needs no
// catalog (like age-keygen); `import` keeps an identity in the catalog, sealed with the catalog secret,
// for unattended restores and drills, and says plainly that the key then sits beside the journal.

import { generateKey, importIdentity, listStoredIdentities, removeStoredIdentity } from '../../services/keys.ts';
import { usageError } from '../../core/errors.ts';
import { optional, parse, positional } from '../args.ts';
import { withContext } from '../context.ts';
import { printJson, printRows, type Io } from '../output.ts';

export const help = `coffre key generate [--out FILE]      make an age X25519 identity (age-keygen format, 0600) and print its recipient
coffre key import NAME --identity FILE | --identity-env VAR
                                     keep an identity in the catalog (encrypted) for unattended restores and drills
coffre key list                      identities kept in the catalog (public keys only)
coffre key remove NAME               forget a kept identity`;

const WARNING =
  'warning: this identity is now kept in the catalog, encrypted with the catalog secret (ENCRYPTION_SECRET or $DATA_DIR/secret.key). ' +
  'Whoever has the catalog and that secret can decrypt every backup made for it: the key now sits beside the backups it protects. ' +
  "Keep an offline recovery key among each plan's recipients, and remove this one (coffre key remove) when unattended restores are no longer needed.\n";

/** Runs a key subcommand. */
export async function run(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'generate': {
      const p = parse('key generate', rest, { out: { type: 'string' } }, 0);
      const out = optional(p, 'out');
      const key = await generateKey(out);
      if (io.json) printJson(io, { recipient: key.recipient, file: key.file ?? null });
      else if (key.file) io.out(`Public key: ${key.recipient}\n`);
      else io.out(key.text!);
      if (!io.json && key.file) io.err(`Identity written to ${key.file} (mode 0600). Give plans its public key (--encrypt-to), keep the file offline.\n`);
      return 0;
    }
    case 'import': {
      const p = parse('key import', rest, { identity: { type: 'string', multiple: true }, 'identity-env': { type: 'string', multiple: true } }, 1);
      const name = positional(p, 0, 'a NAME', 'key import');
      const list = (n: string) => (Array.isArray(p.values[n]) ? (p.values[n] as string[]) : []);
      const stored = await withContext(io, (ctx) => importIdentity(ctx, name, { files: list('identity'), env: list('identity-env') }));
      if (io.json) printJson(io, stored);
      else for (const k of stored) io.out(`Identity ${k.name} stored: ${k.recipient}\n`);
      io.err(WARNING);
      return 0;
    }
    case 'list': {
      parse('key list', rest, {}, 0);
      const rows = await withContext(io, (ctx) => listStoredIdentities(ctx));
      printRows(
        io,
        rows,
        [
          ['name', (r) => r.name],
          ['recipient', (r) => r.recipient],
          ['stored', (r) => r.createdAt],
        ],
        'No identity is kept in the catalog.',
      );
      return 0;
    }
    case 'remove': {
      const p = parse('key remove', rest, {}, 1);
      const removed = await withContext(io, (ctx) => removeStoredIdentity(ctx, positional(p, 0, 'a NAME', 'key remove')));
      if (io.json) printJson(io, removed);
      else io.out(`Identity ${removed.name} (${removed.recipient}) removed from the catalog.\n`);
      return 0;
    }
    default:
      throw usageError('UNKNOWN_COMMAND', `Unknown command "key ${sub ?? ''}": use key generate, import, list or remove.`);
  }
}
