// age's STREAM payload: the plaintext cut in 64 KiB chunks, each sealed with ChaCha20-Poly1305 (node:crypto,
// i.e. OpenSSL's, well over 1 GiB/s) under the payload key with a 12-byte nonce = 11-byte big-endian chunk
// counter || a flag byte, 0x01 on the last chunk only. Only the last chunk may be short; it is empty only
// when it is also the first (an empty plaintext). A full chunk is held back until more input shows it is
// not the last, so both directions keep at most one chunk beyond what they pass on.
//
// Decryption hands out a chunk's plaintext only after its tag checked, so bytes that were changed never
// leave this stage; a truncated payload (it ends on a chunk that is not flagged last) and a damaged chunk
// are errors, told apart in the message.

import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { failure } from '../core/errors.ts';

export const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const SEALED_CHUNK = CHUNK_BYTES + TAG_BYTES;

/** The 12-byte nonce of chunk `index` (a safe integer is plenty: 2^53 chunks of 64 KiB). */
function nonceOf(index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(Math.floor(index / 2 ** 32), 3, 4);
  nonce.writeUInt32BE(index >>> 0, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function seal(key: Buffer, index: number, last: boolean, plain: Buffer, out: Buffer[]): void {
  const c = createCipheriv('chacha20-poly1305', key, nonceOf(index, last), { authTagLength: TAG_BYTES });
  out.push(c.update(plain));
  c.final();
  out.push(c.getAuthTag());
}

function open(key: Buffer, index: number, last: boolean, sealed: Buffer): Buffer | undefined {
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonceOf(index, last), { authTagLength: TAG_BYTES });
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    d.final();
    return plain;
  } catch {
    return undefined;
  }
}

/**
 * Plaintext in, sealed STREAM chunks out. `prefix` (the header and nonce) is emitted first. Whole chunks
 * are sealed straight from the input's memory; only the pieces around a chunk boundary are copied.
 */
export function createStreamEncryptor(key: Buffer, prefix: Buffer): Transform {
  let buf = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  /** A full chunk not sealed yet: it is the last one if the input ends now. */
  let held: Buffer | undefined;
  let index = 0;
  let started = false;
  const sealHeld = (out: Buffer[]) => {
    if (held) seal(key, index++, false, held, out);
    held = undefined;
  };
  return new Transform({
    // One chunk of buffering each side: the stage adds little to what the pipeline holds.
    highWaterMark: CHUNK_BYTES,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const out: Buffer[] = started ? [] : [prefix];
      started = true;
      let at = 0;
      if (used > 0) {
        const n = Math.min(CHUNK_BYTES - used, chunk.length);
        chunk.copy(buf, used, 0, n);
        used += n;
        at = n;
        if (used === CHUNK_BYTES) {
          sealHeld(out);
          held = buf;
          buf = Buffer.allocUnsafe(CHUNK_BYTES);
          used = 0;
        }
      }
      for (; chunk.length - at >= CHUNK_BYTES; at += CHUNK_BYTES) {
        sealHeld(out);
        held = chunk.subarray(at, at + CHUNK_BYTES);
      }
      if (at < chunk.length) {
        sealHeld(out);
        chunk.copy(buf, used, at);
        used += chunk.length - at;
      }
      // Each sealed piece goes on as it is (a join would copy every byte once more, and leave it to the GC).
      for (const piece of out) this.push(piece);
      cb();
    },
    flush(cb: TransformCallback) {
      const out: Buffer[] = started ? [] : [prefix];
      if (held) seal(key, index, true, held, out);
      else seal(key, index, true, buf.subarray(0, used), out);
      for (const piece of out) this.push(piece);
      cb();
    },
  });
}

/** Sealed STREAM chunks in (the bytes after the nonce), authenticated plaintext out. */
export function createStreamDecryptor(key: Buffer): Transform {
  const buf = Buffer.allocUnsafe(SEALED_CHUNK);
  let used = 0;
  let index = 0;
  const corrupt = (i: number) =>
    failure(
      'AGE_PAYLOAD_CORRUPT',
      `The age payload is damaged: chunk ${i + 1} (at payload byte ${i * SEALED_CHUNK}) fails authentication (damaged or cut short). Nothing from it was used; restore another backup or an intact copy.`,
    );
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const out: Buffer[] = [];
      let at = 0;
      while (at < chunk.length) {
        if (used === SEALED_CHUNK) {
          const plain = open(key, index, false, buf);
          if (!plain) return cb(corrupt(index));
          out.push(plain);
          index++;
          used = 0;
        }
        const n = Math.min(SEALED_CHUNK - used, chunk.length - at);
        chunk.copy(buf, used, at, at + n);
        used += n;
        at += n;
      }
      cb(null, out.length === 0 ? undefined : out.length === 1 ? out[0] : Buffer.concat(out));
    },
    flush(cb: TransformCallback) {
      if (used < TAG_BYTES) return cb(truncated(index));
      const sealed = buf.subarray(0, used);
      const plain = open(key, index, true, sealed);
      if (!plain) return cb(used === SEALED_CHUNK && open(key, index, false, sealed) ? truncated(index + 1) : corrupt(index));
      if (plain.length === 0 && index > 0) return cb(failure('AGE_PAYLOAD_CORRUPT', 'The age payload ends with an empty chunk after others, which age never writes.'));
      cb(null, plain);
    },
  });
}

function truncated(chunks: number): Error {
  return failure(
    'AGE_TRUNCATED',
    `The age file is truncated: its payload ends after ${chunks} chunk${chunks === 1 ? '' : 's'} without the final one. Check the file was copied whole, or restore another backup.`,
  );
}
