// age keys for encrypted backups: a plan's recipients (public keys: all a backup needs), the identities a
// restore or verify is given (--identity FILE, --identity-env VAR), and identities an operator chose to
// keep in the catalog (sealed with the catalog secret) so that the API, the scheduler and drills can open
// backups unattended, at the price of keeping the key beside the journal. An identity is never printed,
// logged, returned by the API or written into a manifest; only its recipient is shown.

import { readFile, writeFile } from 'node:fs/promises';
import { newId, isoNow } from '../core/ids.ts';
import { conflict, notFound, usageError } from '../core/errors.ts';
import { decryptSecret, encryptSecret } from '../core/secrets.ts';
import {
  encodeIdentity,
  generateIdentity,
  identityFileText,
  parseIdentity,
  parseIdentityFile,
  parseRecipient,
  parseRecipientsFile,
  type AgeIdentity,
  type AgeRecipient,
} from '../crypto/age-keys.ts';
import { identityRequired, noMatchingIdentity } from '../crypto/age.ts';
import { deleteIdentity, identityByName, identityNameTaken, insertIdentity, listIdentityRows, listIdentityViews } from '../catalog/keys.ts';
import type { ServiceContext } from './service-context.ts';
import { namedVariable } from '../config.ts';
import { checkName } from './names.ts';

/** Appended to the key of an encrypted artifact: `…-full-<id>.sql.zst.age`. */
export const AGE_EXTENSION = '.age';

/** The recipients new backups of a plan are encrypted to, parsed; undefined when the plan does not encrypt. */
export function planRecipients(plan: { encryptTo?: string[] | null }): AgeRecipient[] | undefined {
  return plan.encryptTo?.length ? plan.encryptTo.map((r) => parseRecipient(r)) : undefined;
}

/** The recipients a journal row records (null column: not encrypted). */
export function recordedRecipients(row: { recipients?: string | null }): string[] {
  return row.recipients ? (JSON.parse(row.recipients) as string[]) : [];
}

/** Recipients from --encrypt-to values and --encrypt-to-file files (age -R syntax), in order. */
export async function recipientsFrom(values: readonly string[], files: readonly string[]): Promise<string[]> {
  const out = values.map((v) => parseRecipient(v, `--encrypt-to ${JSON.stringify(v.slice(0, 80))}`).recipient);
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw usageError('AGE_RECIPIENT_INVALID', `--encrypt-to-file names ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
    out.push(...parseRecipientsFile(text, file).map((r) => r.recipient));
  }
  return [...new Set(out)];
}

/** Where a restore or verify gets identities from: files and environment variables, each holding age-keygen's format. */
export interface IdentitySources {
  files?: readonly string[];
  env?: readonly string[];
}

/** Reads identities from files and environment variables; a usage error naming the source that fails (never its content). */
export async function identitiesFrom(sources: IdentitySources = {}): Promise<AgeIdentity[]> {
  const out: AgeIdentity[] = [];
  for (const file of sources.files ?? []) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw usageError('AGE_IDENTITY_UNREADABLE', `--identity names ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
    out.push(...parseIdentityFile(text, `the identity file ${file}`));
  }
  for (const name of sources.env ?? []) {
    const text = namedVariable(name);
    if (!text) throw usageError('AGE_IDENTITY_UNREADABLE', `--identity-env names the environment variable ${name}, which is not set.`);
    out.push(...parseIdentityFile(text, `the environment variable ${name}`));
  }
  return out;
}

/** The identities kept in the catalog (opened with the catalog secret). */
export async function storedIdentities(ctx: ServiceContext): Promise<AgeIdentity[]> {
  const rows = await listIdentityRows(ctx.catalog.db);
  return rows.map((r) => parseIdentity(decryptSecret(ctx.catalog.key, r.secret, `identity ${r.name}`), `the catalog identity ${r.name}`));
}

/** What a run may try: the identities given, then those kept in the catalog. */
export async function keyringOf(ctx: ServiceContext, sources?: IdentitySources): Promise<AgeIdentity[]> {
  return [...(await identitiesFrom(sources)), ...(await storedIdentities(ctx))];
}

/**
 * Refuses, before anything runs, a backup encrypted to recipients none of the identities is for: exit 2
 * naming the recipients. `what` names the backup ("Backup 0191…").
 */
export function checkKeyringOpens(what: string, recipients: readonly string[], identities: readonly AgeIdentity[]): void {
  if (recipients.length === 0) return;
  if (identities.length === 0) throw identityRequired(what, recipients);
  if (!identities.some((i) => recipients.includes(i.recipient))) throw noMatchingIdentity(what, identities, recipients);
}

/** An identity kept in the catalog, as shown (public key only). */
export interface StoredIdentityView {
  id: string;
  name: string;
  recipient: string;
  createdAt: string;
}

/** Keeps identities in the catalog, sealed with the catalog secret; the caller warns the user what this means. */
export async function importIdentity(ctx: ServiceContext, name: unknown, sources: IdentitySources): Promise<StoredIdentityView[]> {
  const base = checkName('identity', name);
  const identities = await identitiesFrom(sources);
  if (identities.length === 0) throw usageError('MISSING_OPTION', '`coffre key import` needs --identity FILE or --identity-env VAR.');
  const db = ctx.catalog.db;
  const out: StoredIdentityView[] = [];
  for (let i = 0; i < identities.length; i++) {
    const rowName = identities.length === 1 ? base : `${base}-${i + 1}`;
    if (await identityNameTaken(db, rowName)) {
      throw conflict('IDENTITY_EXISTS', `An identity named "${rowName}" is already stored: remove it first (coffre key remove ${rowName}) or choose another name.`);
    }
    const secret = secretOf(identities[i]);
    const row = { id: newId(), name: rowName, recipient: identities[i].recipient, secret: encryptSecret(ctx.catalog.key, secret), created_at: isoNow() };
    await insertIdentity(db, row);
    out.push({ id: row.id, name: row.name, recipient: row.recipient, createdAt: row.created_at });
  }
  return out;
}

/** The AGE-SECRET-KEY-1… text of an identity (to seal it). */
function secretOf(identity: AgeIdentity): string {
  const der = identity.privateKey.export({ format: 'der', type: 'pkcs8' });
  return encodeIdentity(der.subarray(der.length - 32));
}

/** The identities kept in the catalog (public keys only). */
export async function listStoredIdentities(ctx: ServiceContext): Promise<StoredIdentityView[]> {
  const rows = await listIdentityViews(ctx.catalog.db);
  return rows.map((r) => ({ id: r.id, name: r.name, recipient: r.recipient, createdAt: r.created_at }));
}

/** Removes a stored identity by name. */
export async function removeStoredIdentity(ctx: ServiceContext, name: string): Promise<StoredIdentityView> {
  const row = await identityByName(ctx.catalog.db, name);
  if (!row) throw notFound('IDENTITY_NOT_FOUND', `No identity named "${name}" is stored: see \`coffre key list\`.`);
  await deleteIdentity(ctx.catalog.db, row.id);
  return { id: row.id, name: row.name, recipient: row.recipient, createdAt: row.created_at };
}

/**
 * A new X25519 identity. With `out`, written there in age-keygen's format (0600; an existing file is never
 * overwritten) and only the recipient returned; without it, the file text is returned for stdout.
 */
export async function generateKey(out?: string): Promise<{ recipient: string; text?: string; file?: string }> {
  const generated = generateIdentity();
  const text = identityFileText(generated);
  if (!out) return { recipient: generated.recipient, text };
  try {
    await writeFile(out, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw conflict('FILE_EXISTS', `${out} already exists: coffre never overwrites a key file; choose another path.`);
    throw usageError('FILE_UNWRITABLE', `${out} cannot be written (${code ?? 'error'}).`);
  }
  return { recipient: generated.recipient, file: out };
}
