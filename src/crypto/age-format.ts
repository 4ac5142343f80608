// The age v1 header (https://age-encryption.org/v1, checked against the reference `age-encryption` package
// and the age CLI): a version line, one stanza per recipient, and a MAC line.
//
//     age-encryption.org/v1
//     -> X25519 <base64 ephemeral share>
//     <base64 body: the 16-byte file key wrapped with ChaCha20-Poly1305, zero nonce>
//     --- <base64 HMAC-SHA256 of everything above, up to and including "---">
//
// Base64 is standard without padding, canonical, stanza bodies wrapped at 64 columns (48 bytes a line; a
// body that fills its last line is followed by an empty one). The X25519 wrap key is HKDF-SHA256 of the
// shared secret with salt = ephemeral share || recipient and info "age-encryption.org/v1/X25519"; the MAC
// key HKDF-SHA256 of the file key, empty salt, info "header". After the header: a 16-byte nonce, then the
// STREAM payload (age-stream.ts) under HKDF-SHA256(file key, salt nonce, info "payload").

import { createCipheriv, createDecipheriv, createHmac, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { failure, usageError } from '../core/errors.ts';
import { publicKeyFromRaw, rawPublicKey, type AgeIdentity, type AgeRecipient } from './age-keys.ts';

export const AGE_VERSION_LINE = 'age-encryption.org/v1';
/** The first bytes of every binary age file. */
export const AGE_MAGIC = Buffer.from(`${AGE_VERSION_LINE}\n`, 'latin1');
/** The first line of an ASCII-armored age file (`age -a`). */
export const AGE_ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
export const AGE_ARMOR_END = '-----END AGE ENCRYPTED FILE-----';
/** Headers larger than this are refused: 64 KiB holds about 500 X25519 stanzas. */
export const MAX_HEADER_BYTES = 64 * 1024;
const X25519_LABEL = 'age-encryption.org/v1/X25519';
const ZERO_NONCE = Buffer.alloc(12);

export interface Stanza {
  args: string[];
  body: Buffer;
}

export interface ParsedHeader {
  stanzas: Stanza[];
  /** The header's bytes up to and including "---": what the MAC covers. */
  macInput: Buffer;
  mac: Buffer;
  /** Bytes of the whole header, MAC line included: the nonce starts here. */
  length: number;
}

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

/** Standard base64 without padding, as age writes it. */
export function b64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

/** Decodes canonical unpadded standard base64; undefined for anything else (padding, other alphabets, stray bits). */
function unb64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*$/.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return b64(bytes) === text ? bytes : undefined;
}

function headerError(detail: string): Error {
  return failure('AGE_HEADER_INVALID', `The age header is damaged or not in the age v1 format: ${detail}. Restore another backup, or check the file was copied whole.`);
}

function sealKey(key: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function openKey(key: Buffer, sealed: Buffer): Buffer | undefined {
  try {
    const d = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  } catch {
    return undefined;
  }
}

/** The X25519 stanza that gives `recipient` the file key. */
function wrapX25519(fileKey: Buffer, recipient: AgeRecipient): Stanza {
  const ephemeral = generateKeyPairSync('x25519');
  const share = rawPublicKey(ephemeral.publicKey);
  const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient.publicKey });
  const key = hkdf(secret, Buffer.concat([share, recipient.raw]), X25519_LABEL);
  return { args: ['X25519', b64(share)], body: sealKey(key, fileKey) };
}

function encodeStanzas(stanzas: readonly Stanza[]): string {
  let out = `${AGE_VERSION_LINE}\n`;
  for (const s of stanzas) {
    out += `-> ${s.args.join(' ')}\n`;
    for (let i = 0; i < s.body.length; i += 48) out += `${b64(s.body.subarray(i, i + 48))}\n`;
    if (s.body.length % 48 === 0) out += '\n';
  }
  return `${out}---`;
}

function macOf(fileKey: Buffer, macInput: Buffer): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(macInput)
    .digest();
}

/** A new header for these recipients, and the file key it wraps. */
export function buildHeader(recipients: readonly AgeRecipient[]): { header: Buffer; fileKey: Buffer } {
  if (recipients.length === 0) throw usageError('AGE_NO_RECIPIENTS', 'Encryption needs at least one recipient.');
  const fileKey = randomBytes(16);
  const macInput = Buffer.from(encodeStanzas(recipients.map((r) => wrapX25519(fileKey, r))), 'latin1');
  const header = Buffer.concat([macInput, Buffer.from(` ${b64(macOf(fileKey, macInput))}\n`, 'latin1')]);
  return { header, fileKey };
}

/**
 * Parses a header at the start of `head`. Returns undefined when `head` ends before the header does (the
 * caller reads more, up to MAX_HEADER_BYTES); throws COFFRE_E_AGE_HEADER_INVALID for a malformed one.
 */
export function parseHeader(head: Buffer): ParsedHeader | undefined {
  let pos = 0;
  const line = (): string | undefined => {
    const end = head.indexOf(0x0a, pos);
    if (end < 0) return undefined;
    const text = head.toString('latin1', pos, end);
    pos = end + 1;
    return text;
  };
  const version = line();
  if (version === undefined) return undefined;
  if (version !== AGE_VERSION_LINE) throw headerError(`the first line is not "${AGE_VERSION_LINE}"`);
  const stanzas: Stanza[] = [];
  for (;;) {
    const start = pos;
    const l = line();
    if (l === undefined) return undefined;
    if (l.startsWith('--- ')) {
      const mac = unb64(l.slice(4));
      if (mac?.length !== 32) throw headerError('the MAC line is malformed');
      return { stanzas, macInput: head.subarray(0, start + 3), mac, length: pos };
    }
    if (!l.startsWith('-> ')) throw headerError('a line is neither a stanza ("-> ") nor the MAC ("--- ")');
    const args = l.slice(3).split(' ');
    if (args.some((a) => a === '' || !/^[\x21-\x7e]+$/.test(a))) throw headerError('a stanza has an empty or non-printable argument');
    const body: Buffer[] = [];
    for (;;) {
      const b = line();
      if (b === undefined) return undefined;
      const bytes = b.length <= 64 ? unb64(b) : undefined;
      if (!bytes) throw headerError('a stanza body is not canonical base64 wrapped at 64 columns');
      body.push(bytes);
      if (bytes.length < 48) break;
    }
    stanzas.push({ args, body: Buffer.concat(body) });
  }
}

/** Kinds of stanza in a header, for messages ("X25519", "scrypt", "ssh-ed25519", …). */
export function stanzaTypes(h: ParsedHeader): string[] {
  return [...new Set(h.stanzas.map((s) => s.args[0]))];
}

/** Tries one identity on one X25519 stanza: the file key, or undefined when it is not for this identity. */
function unwrapX25519(s: Stanza, id: AgeIdentity): Buffer | undefined {
  if (s.args.length !== 2) throw headerError('an X25519 stanza has the wrong number of arguments');
  const share = unb64(s.args[1]);
  if (share?.length !== 32) throw headerError('an X25519 stanza has a malformed ephemeral share');
  if (s.body.length !== 32) throw headerError('an X25519 stanza has a body of the wrong size');
  let secret: Buffer;
  try {
    secret = diffieHellman({ privateKey: id.privateKey, publicKey: publicKeyFromRaw(share) });
  } catch {
    throw headerError('an X25519 stanza has an invalid ephemeral share');
  }
  if (secret.every((b) => b === 0)) throw headerError('an X25519 stanza has a low-order ephemeral share');
  return openKey(hkdf(secret, Buffer.concat([share, id.publicRaw]), X25519_LABEL), s.body);
}

/**
 * The file key of a parsed header, using the first identity that opens a stanza, with the header's MAC
 * checked; undefined when no identity opens any stanza. A stanza that opens but whose MAC then fails is a
 * damaged header (COFFRE_E_AGE_HEADER_INVALID), never a wrong key.
 */
export function unwrapFileKey(h: ParsedHeader, identities: readonly AgeIdentity[]): { fileKey: Buffer; identity: AgeIdentity } | undefined {
  if (h.stanzas.some((s) => s.args[0] === 'scrypt')) {
    throw usageError(
      'AGE_PASSPHRASE_UNSUPPORTED',
      'The file is encrypted with an age passphrase (scrypt); coffre opens files encrypted to X25519 recipients. Decrypt it first: age -d -o dump FILE.',
    );
  }
  for (const s of h.stanzas) {
    if (s.args[0] !== 'X25519') continue;
    for (const id of identities) {
      const fileKey = unwrapX25519(s, id);
      if (!fileKey) continue;
      if (fileKey.length !== 16) throw headerError('a stanza wraps a file key of the wrong size');
      if (!timingSafeEqual(macOf(fileKey, h.macInput), h.mac)) throw headerError('its MAC does not match (a byte of the header changed)');
      return { fileKey, identity: id };
    }
  }
  return undefined;
}

/** The STREAM payload key for a file key and the nonce that follows the header. */
export function payloadKey(fileKey: Buffer, nonce: Buffer): Buffer {
  return hkdf(fileKey, nonce, 'payload');
}
