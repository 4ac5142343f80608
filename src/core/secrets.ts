// Secrets at rest in the catalog (target URLs with their passwords, destination keys). AES-256-GCM with a
// key derived from ENCRYPTION_SECRET, or, in embedded mode without it, a random key kept in
// $DATA_DIR/secret.key (0600). Ciphertexts are versioned (`v1:<base64 iv|tag|ct>`) so that the scheme can
// change later without guessing. A wrong key is detected by GCM's tag and reported as such, never as garbage.

import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { failure, usageError } from './errors.ts';

/** What the key needs of the configuration (config.ts's Config is one). */
export interface SecretKeySettings {
  encryptionSecret?: string;
  dataDir: string;
  catalog: { kind: 'sqlite' | 'postgres' };
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// A fixed application salt: the secret itself must carry the entropy; the salt only separates coffre's
// derived keys from any other use of the same passphrase.
const APP_SALT = 'coffre/catalog-secrets/v1';

/** The key that seals and opens catalog secrets. */
export interface SecretKey {
  readonly key: Buffer;
  /** Where the key came from, for error messages: "ENCRYPTION_SECRET" or the key file's path. */
  readonly source: string;
}

// Derivations under way or done, by passphrase: each is computed once per process.
const derived = new Map<string, Promise<Buffer>>();

/**
 * Derives the 32-byte key from a passphrase (scrypt, fixed app salt). It runs on libuv's thread pool, not
 * the main thread: its ~60 ms of CPU overlap what the process does meanwhile (see prepareSecretKey).
 */
export function deriveKey(secret: string): Promise<SecretKey> {
  let key = derived.get(secret);
  if (!key) {
    key = new Promise<Buffer>((resolve, reject) => scrypt(secret, APP_SALT, 32, { N: 1 << 14, r: 8, p: 1 }, (err, k) => (err ? reject(err) : resolve(k))));
    derived.set(secret, key);
  }
  return key.then((k) => ({ key: k, source: 'ENCRYPTION_SECRET' }));
}

/**
 * Starts deriving ENCRYPTION_SECRET's key now, for a process that will open the catalog soon (the CLI calls
 * it before it loads the command's modules, so the derivation and the loading use both cores); the open
 * then awaits the same derivation. Without ENCRYPTION_SECRET there is nothing to derive.
 */
export function prepareSecretKey(config: Pick<SecretKeySettings, 'encryptionSecret'>): void {
  if (config.encryptionSecret) deriveKey(config.encryptionSecret).catch(() => {}); // a failure is reported by the open
}

/**
 * Finds the catalog key: ENCRYPTION_SECRET when set; otherwise, for the embedded catalog only, the key
 * file in DATA_DIR, created (random, 0600, folder 0700) on first use, with one notice through `announce`.
 * A PostgreSQL catalog without ENCRYPTION_SECRET is refused: its several servers must share one key.
 */
export async function loadSecretKey(config: SecretKeySettings, announce: (message: string) => void = (m) => process.stderr.write(`${m}\n`)): Promise<SecretKey> {
  if (config.encryptionSecret) return deriveKey(config.encryptionSecret);
  if (config.catalog.kind === 'postgres') {
    throw usageError(
      'SECRET_REQUIRED',
      'ENCRYPTION_SECRET must be set when the catalog is PostgreSQL (DATABASE_URL): set it to a long random value, the same on every coffre server.',
    );
  }
  const file = path.join(config.dataDir, 'secret.key');
  try {
    const text = (await readFile(file, 'utf8')).trim();
    const key = Buffer.from(text, 'base64');
    if (key.length !== 32)
      throw failure(
        'SECRET_KEY_FILE_INVALID',
        `The key file ${file} is damaged (it must hold 32 base64 bytes): restore it from a copy, or set ENCRYPTION_SECRET to the secret used before.`,
      );
    return { key, source: file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await chmod(config.dataDir, 0o700);
  const key = randomBytes(32);
  try {
    await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretKey(config, announce);
    throw err;
  }
  announce(`coffre: generated a new encryption key in ${file} (mode 0600). Back it up with the catalog, or set ENCRYPTION_SECRET instead.`);
  return { key, source: file };
}

/** Seals a text: `v1:` + base64(iv | tag | ciphertext). */
export function encryptSecret(key: SecretKey, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
}

/** Opens a sealed text; `what` names the thing for the error ("target prod-db"). */
export function decryptSecret(key: SecretKey, sealed: string, what: string): string {
  const [version, body] = sealed.split(':', 2);
  if (version !== VERSION || !body) {
    throw failure('SECRET_UNREADABLE', `The stored secret of ${what} has an unknown format (${version}): this catalog was written by a newer coffre.`);
  }
  const raw = Buffer.from(body, 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw failure('SECRET_UNREADABLE', `The stored secret of ${what} is truncated.`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw failure(
      'SECRET_UNREADABLE',
      key.source === 'ENCRYPTION_SECRET'
        ? `ENCRYPTION_SECRET differs from the one used to store the secrets of ${what}: set it back to the original value.`
        : `The key in ${key.source} differs from the one used to store the secrets of ${what}: restore the original key file, or set ENCRYPTION_SECRET to the secret used before.`,
    );
  }
}

/** Seals a settings object's secret fields (a destination's or notifier's), or null when it has none. */
export function sealSecrets(key: SecretKey, secrets: Record<string, string>): string | null {
  return Object.keys(secrets).length ? encryptSecret(key, JSON.stringify(secrets)) : null;
}

/** Opens what sealSecrets sealed (null: no secrets); `what` names the owner for the error. */
export function openSecrets(key: SecretKey, sealed: string | null, what: string): Record<string, string> {
  return sealed ? (JSON.parse(decryptSecret(key, sealed, what)) as Record<string, string>) : {};
}
