// age X25519 keys (https://age-encryption.org/v1): recipients are bech32 `age1…` strings (HRP "age") of a
// 32-byte Curve25519 public key, identities bech32 `AGE-SECRET-KEY-1…` strings (HRP "AGE-SECRET-KEY-",
// upper case) of a 32-byte scalar. The curve work is node:crypto's X25519 (OpenSSL), fed raw keys through
// fixed DER prefixes; bech32 is @scure/base's. Also the two text files age reads: a recipients file and
// an identity file (age-keygen's), both one key a line, `#` comments and blank lines ignored.

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { lazy } from '../core/lazy.ts';
import { usageError } from '../core/errors.ts';

const scure = lazy<typeof import('@scure/base')>('@scure/base');

/** A public key backups can be encrypted to. */
export interface AgeRecipient {
  /** The `age1…` string, lower case. */
  readonly recipient: string;
  readonly publicKey: KeyObject;
  /** The 32 raw public key bytes (part of the stanza's HKDF salt). */
  readonly raw: Buffer;
}

/** A private key that opens what was encrypted to its recipient. Never printed, logged or stored in a manifest. */
export interface AgeIdentity {
  /** The recipient of this identity (`age1…`), which is what messages name. */
  readonly recipient: string;
  readonly privateKey: KeyObject;
  /** The raw public key bytes. */
  readonly publicRaw: Buffer;
  /** Where it came from, for messages: a file path, an environment variable, "the catalog". */
  readonly source: string;
}

// X25519 keys in DER: these fixed prefixes followed by the 32 raw bytes (RFC 8410).
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The raw 32 bytes of an X25519 public key object. */
export function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** An X25519 public key object from its 32 raw bytes. */
export function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function encodeRecipient(raw: Buffer): string {
  return scure().bech32.encodeFromBytes('age', raw);
}

/** Parses one `age1…` recipient; a usage error saying what is wrong otherwise (post-quantum, SSH and plugin keys are named). */
export function parseRecipient(text: string, where = 'the recipient'): AgeRecipient {
  const s = text.trim();
  if (/^age1pq1/i.test(s))
    throw usageError('AGE_RECIPIENT_UNSUPPORTED', `${where} is a post-quantum (age1pq1…) recipient; coffre encrypts to X25519 recipients (age1…, as age-keygen makes them).`);
  if (/^age1[a-z0-9]+1/i.test(s) && !/^age1[02-9ac-hj-np-z]{58}$/.test(s)) {
    throw usageError('AGE_RECIPIENT_UNSUPPORTED', `${where} is an age plugin recipient; coffre encrypts to X25519 recipients (age1…, as age-keygen makes them).`);
  }
  if (/^ssh-(ed25519|rsa) /.test(s))
    throw usageError('AGE_RECIPIENT_UNSUPPORTED', `${where} is an SSH public key; coffre encrypts to X25519 recipients (age1…, made by \`coffre key generate\` or age-keygen).`);
  let bytes: Uint8Array;
  try {
    if (!s.toLowerCase().startsWith('age1')) throw new Error('prefix');
    const decoded = scure().bech32.decodeToBytes(s);
    if (decoded.prefix !== 'age') throw new Error('prefix');
    bytes = decoded.bytes;
  } catch {
    throw usageError(
      'AGE_RECIPIENT_INVALID',
      `${where} (${JSON.stringify(s.slice(0, 80))}) is not an age recipient: it must look like age1 followed by 58 letters and digits (see \`coffre key generate\`).`,
    );
  }
  if (bytes.length !== 32) throw usageError('AGE_RECIPIENT_INVALID', `${where} (${s}) does not hold a 32-byte X25519 public key.`);
  const raw = Buffer.from(bytes);
  return { recipient: encodeRecipient(raw), publicKey: publicKeyFromRaw(raw), raw };
}

/** The identity of a 32-byte scalar. */
function identityFromScalar(scalar: Buffer, source: string): AgeIdentity {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, scalar]), format: 'der', type: 'pkcs8' });
  const publicRaw = rawPublicKey(createPublicKey(privateKey));
  return { recipient: encodeRecipient(publicRaw), privateKey, publicRaw, source };
}

/** Parses one `AGE-SECRET-KEY-1…` line. The message never repeats the key. */
export function parseIdentity(text: string, source: string): AgeIdentity {
  const s = text.trim();
  if (s.startsWith('AGE-PLUGIN-')) throw usageError('AGE_IDENTITY_UNSUPPORTED', `${source} holds an age plugin identity; coffre reads X25519 identities (AGE-SECRET-KEY-1…).`);
  if (s.startsWith('AGE-SECRET-KEY-PQ-'))
    throw usageError('AGE_IDENTITY_UNSUPPORTED', `${source} holds a post-quantum identity; coffre reads X25519 identities (AGE-SECRET-KEY-1…).`);
  if (s.startsWith('-----BEGIN'))
    throw usageError('AGE_IDENTITY_UNSUPPORTED', `${source} holds a PEM key (SSH?); coffre reads X25519 identities (AGE-SECRET-KEY-1…, as age-keygen writes them).`);
  let bytes: Uint8Array;
  try {
    if (!s.startsWith('AGE-SECRET-KEY-1')) throw new Error('prefix');
    const decoded = scure().bech32.decodeToBytes(s);
    if (decoded.prefix !== 'age-secret-key-') throw new Error('prefix');
    bytes = decoded.bytes;
  } catch {
    throw usageError(
      'AGE_IDENTITY_INVALID',
      `${source} does not hold a valid age identity (a line AGE-SECRET-KEY-1… of 74 characters, as age-keygen or \`coffre key generate\` writes it).`,
    );
  }
  if (bytes.length !== 32) throw usageError('AGE_IDENTITY_INVALID', `${source} holds an identity that is not a 32-byte X25519 key.`);
  return identityFromScalar(Buffer.from(bytes), source);
}

/** The meaningful lines of an age key file: trimmed, without blank lines and `#` comments. */
function keyLines(text: string): { line: string; number: number }[] {
  return text
    .split(/\r?\n/)
    .map((line, i) => ({ line: line.trim(), number: i + 1 }))
    .filter((l) => l.line !== '' && !l.line.startsWith('#'));
}

/** Parses an identity file (age-keygen's format: comments, blank lines, one AGE-SECRET-KEY-1… a line). */
export function parseIdentityFile(text: string, source: string): AgeIdentity[] {
  if (text.length > 1 << 20) throw usageError('AGE_IDENTITY_INVALID', `${source} is larger than 1 MiB: it is not an age identity file.`);
  const lines = keyLines(text);
  if (lines.length === 0) throw usageError('AGE_IDENTITY_INVALID', `${source} holds no identity (expected a line AGE-SECRET-KEY-1…).`);
  return lines.map((l) => parseIdentity(l.line, lines.length > 1 ? `${source} (line ${l.number})` : source));
}

/** Parses a recipients file (age -R syntax: comments, blank lines, one recipient a line). */
export function parseRecipientsFile(text: string, source: string): AgeRecipient[] {
  if (text.length > 1 << 20) throw usageError('AGE_RECIPIENT_INVALID', `${source} is larger than 1 MiB: it is not a recipients file.`);
  const lines = keyLines(text);
  if (lines.length === 0) throw usageError('AGE_RECIPIENT_INVALID', `${source} holds no recipient (expected lines age1…).`);
  return lines.map((l) => parseRecipient(l.line, `line ${l.number} of ${source}`));
}

/** The `AGE-SECRET-KEY-1…` text of an X25519 identity's 32-byte scalar. */
export function encodeIdentity(scalar: Uint8Array): string {
  return scure().bech32.encodeFromBytes('AGE-SECRET-KEY-', scalar).toUpperCase();
}

/** A new random X25519 identity: its `AGE-SECRET-KEY-1…` text and its recipient. */
export function generateIdentity(): { secret: string; recipient: string } {
  const { privateKey } = generateKeyPairSync('x25519');
  const scalar = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const secret = encodeIdentity(scalar);
  return { secret, recipient: identityFromScalar(Buffer.from(scalar), 'generated').recipient };
}

/** The identity file text age-keygen writes: creation time, public key comment, the key. */
export function identityFileText(generated: { secret: string; recipient: string }, created = new Date()): string {
  return `# created: ${created.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n# public key: ${generated.recipient}\n${generated.secret}\n`;
}

/** Recipients in a stable form: parsed, deduplicated, in the order given. */
export function normaliseRecipients(list: readonly string[]): string[] {
  const out: string[] = [];
  for (const r of list) {
    const parsed = parseRecipient(r).recipient;
    if (!out.includes(parsed)) out.push(parsed);
  }
  return out;
}
