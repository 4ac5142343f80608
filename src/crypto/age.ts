// The encryption stage of the pipeline, in the standard age v1 format, so that a backup opens with nothing
// but the age CLI and an identity (`age -d -i key.txt ARTIFACT | zstd -d`). Backups need only public keys
// (recipients); restores and verifies take identities. Built on node:crypto throughout (X25519, HKDF,
// HMAC, ChaCha20-Poly1305): see age-format.ts for the header, age-stream.ts for the payload.
//
// openEncrypted() is the way back: it looks at the first bytes (never a file name), passes anything that
// is not age through untouched, and otherwise parses the header, finds the identity that opens it, checks
// the header's MAC and returns the authenticated plaintext stream. ASCII-armored files (`age -a`) are
// de-armored first. A damaged header, a wrong identity, a truncated or damaged payload each fail with
// their own COFFRE_E_AGE_* code.

import { randomBytes } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { failure, usageError } from '../core/errors.ts';
import { peek, through } from '../codecs/streams.ts';
import { AGE_ARMOR_BEGIN, AGE_ARMOR_END, AGE_MAGIC, buildHeader, MAX_HEADER_BYTES, parseHeader, payloadKey, stanzaTypes, unwrapFileKey } from './age-format.ts';
import { createStreamDecryptor, createStreamEncryptor } from './age-stream.ts';
import type { AgeIdentity, AgeRecipient } from './age-keys.ts';

export type { AgeIdentity, AgeRecipient } from './age-keys.ts';

/** A transform from plaintext to an age v1 file encrypted to every one of `recipients`. */
export function createAgeEncryptor(recipients: readonly AgeRecipient[]): Transform {
  const { header, fileKey } = buildHeader(recipients);
  const nonce = randomBytes(16);
  return createStreamEncryptor(payloadKey(fileKey, nonce), Buffer.concat([header, nonce]));
}

/** Whether these first bytes are an age file: 'binary', 'armored' (age -a), or undefined. */
export function ageKindOf(head: Buffer): 'binary' | 'armored' | undefined {
  if (head.length >= AGE_MAGIC.length && head.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)) return 'binary';
  if (head.toString('latin1', 0, 64).trimStart().startsWith(AGE_ARMOR_BEGIN)) return 'armored';
  return undefined;
}

export interface OpenEncryptedOptions {
  /** Identities to try, in order. */
  identities: readonly AgeIdentity[];
  /** The recipients the journal or manifest recorded, named when no identity fits. */
  recipients?: readonly string[];
  /** What is being opened, for messages: "The artifact plan/x.sql.zst", "The file /tmp/d.age". */
  what: string;
}

export interface OpenedEncrypted {
  /** The plaintext (authenticated chunk by chunk), or the input unchanged when it is not age. */
  stream: Readable;
  encrypted: boolean;
  /** The identity that opened it. */
  identity?: AgeIdentity;
}

function namesOf(list: readonly string[]): string {
  return list.length === 1 ? list[0] : `${list.length} recipients (${list.join(', ')})`;
}

/** An encrypted input met without an identity: exit 2, naming who can open it. */
export function identityRequired(what: string, recipients: readonly string[] | undefined, stanzas?: number): Error {
  const to = recipients?.length ? namesOf(recipients) : `${stanzas ?? 'its'} recipient${stanzas === 1 ? '' : 's'}`;
  return usageError(
    'AGE_IDENTITY_REQUIRED',
    `${what} is encrypted with age to ${to}: give an identity that opens it: {hint}.`,
    { recipients: recipients ?? [] },
    { identity: 'FILE' },
  );
}

/** None of the identities given is a recipient: exit 2, naming both sides (public keys only). */
export function noMatchingIdentity(what: string, identities: readonly AgeIdentity[], recipients: readonly string[] | undefined, detail = ''): Error {
  const tried = [...new Set(identities.map((i) => i.recipient))];
  const to = recipients?.length ? `it was encrypted to ${namesOf(recipients)}` : 'it was encrypted to other recipients';
  return usageError(
    'AGE_NO_MATCHING_IDENTITY',
    `No identity given opens ${what.replace(/^The /, 'the ')}: ${to}, and the identities given are for ${tried.join(', ')}${detail}. Give the identity of one of its recipients.`,
    { recipients: recipients ?? [], tried },
  );
}

/** Drops the first `n` bytes of a stream. */
function skipBytes(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      if (left >= chunk.length) {
        left -= chunk.length;
        return cb();
      }
      const rest = chunk.subarray(left);
      left = 0;
      cb(null, rest);
    },
  });
}

/** Turns an ASCII-armored age file back into the binary one (PEM-style: standard base64, 64 columns). */
function dearmor(): Transform {
  let text = '';
  let state: 'begin' | 'body' | 'end' = 'begin';
  const bad = (detail: string) => failure('AGE_HEADER_INVALID', `The armored age file is damaged: ${detail}.`);
  const lines = (final: boolean, out: Buffer[]): Error | undefined => {
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) {
        if (text.length > 1024) return bad('a line is longer than 1 KiB');
        if (!final || text.trim() === '') return undefined;
      }
      const line = (nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '');
      text = nl < 0 ? '' : text.slice(nl + 1);
      if (state === 'begin') {
        if (line.trim() === '') continue;
        if (line.trim() !== AGE_ARMOR_BEGIN) return bad('it does not start with the BEGIN line');
        state = 'body';
      } else if (state === 'body') {
        if (line.trim() === AGE_ARMOR_END) {
          state = 'end';
          continue;
        }
        if (line.length > 64 || !/^[A-Za-z0-9+/]*={0,2}$/.test(line)) return bad('a line is not base64 of at most 64 columns');
        out.push(Buffer.from(line, 'base64'));
      } else if (line.trim() !== '') {
        return bad('there is data after the END line');
      }
      if (nl < 0) return undefined;
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      text += chunk.toString('latin1');
      const out: Buffer[] = [];
      const err = lines(false, out);
      cb(err, err || out.length === 0 ? undefined : Buffer.concat(out));
    },
    flush(cb: TransformCallback) {
      const out: Buffer[] = [];
      const err = lines(true, out) ?? (state !== 'end' ? bad('the END line is missing (truncated?)') : undefined);
      cb(err, err || out.length === 0 ? undefined : Buffer.concat(out));
    },
  });
}

/**
 * Opens an input that may be age-encrypted (see the module comment). Rejects before any plaintext is
 * produced when the header is damaged (COFFRE_E_AGE_HEADER_INVALID, also for a header MAC mismatch), when
 * no identity is given (COFFRE_E_AGE_IDENTITY_REQUIRED) or none fits (COFFRE_E_AGE_NO_MATCHING_IDENTITY),
 * or the file ends inside its header or nonce (COFFRE_E_AGE_TRUNCATED); later damage makes the returned
 * stream error (COFFRE_E_AGE_PAYLOAD_CORRUPT, COFFRE_E_AGE_TRUNCATED) before the damaged chunk's bytes.
 */
export async function openEncrypted(input: Readable, options: OpenEncryptedOptions): Promise<OpenedEncrypted> {
  let { head, stream } = await peek(input, AGE_ARMOR_BEGIN.length + 64);
  const kind = ageKindOf(head);
  if (!kind) return { stream, encrypted: false };
  try {
    if (kind === 'armored') stream = through(stream, dearmor());
    ({ head, stream } = await peek(stream, MAX_HEADER_BYTES + 16));
    const header = parseHeader(head);
    if (!header) {
      if (head.length >= MAX_HEADER_BYTES)
        throw failure('AGE_HEADER_INVALID', `${options.what} has an age header larger than ${MAX_HEADER_BYTES} bytes, which coffre does not read.`);
      throw failure('AGE_TRUNCATED', `${options.what} is truncated: it ends inside its age header.`);
    }
    if (options.identities.length === 0) throw identityRequired(options.what, options.recipients, header.stanzas.length);
    const opened = unwrapFileKey(header, options.identities);
    if (!opened) {
      const types = stanzaTypes(header).filter((t) => t !== 'X25519');
      const detail = types.length ? ` (its header also has ${types.join(', ')} stanzas, which coffre does not open)` : '';
      throw noMatchingIdentity(options.what, options.identities, options.recipients, detail);
    }
    if (head.length < header.length + 16) throw failure('AGE_TRUNCATED', `${options.what} is truncated: it ends right after its age header.`);
    const nonce = head.subarray(header.length, header.length + 16);
    const decrypted = through(through(stream, skipBytes(header.length + 16)), createStreamDecryptor(payloadKey(opened.fileKey, nonce)));
    return { stream: decrypted, encrypted: true, identity: opened.identity };
  } catch (err) {
    stream.destroy();
    input.destroy();
    throw err;
  }
}
