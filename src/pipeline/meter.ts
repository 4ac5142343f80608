// A pass-through stage that hashes and counts the bytes going by: placed after the dump (raw sha256 and
// size) and after the codec (stored sha256 and size) in the one backup pipeline, and in front of every
// reader on the way back, so each check costs no extra read.

import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { ProgressListener } from '../core/types.ts';

export interface Meter extends Transform {
  /** Bytes seen so far. */
  readonly bytes: number;
  /** sha256 (hex) of every byte seen; valid once the stream has ended. */
  digest(): string;
}

export interface MeterOptions {
  onProgress?: ProgressListener;
  /**
   * Checked when the input ends, before the end is passed on: a mismatch errors the stream instead of
   * ending it, so a consumer never commits bytes that fail their checksum.
   */
  expect?: { sha256: string; size?: number; error: (actual: { sha256: string; size: number }) => Error };
}

/** A hashing, counting pass-through. */
export function createMeter(options: MeterOptions = {}): Meter {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  const finish = () => (digest ??= hash.digest('hex'));
  const meter = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      const sha256 = finish();
      const e = options.expect;
      if (e && (e.sha256 !== sha256 || (e.size !== undefined && e.size !== bytes))) cb(e.error({ sha256, size: bytes }));
      else cb();
    },
  }) as Meter;
  Object.defineProperty(meter, 'bytes', { get: () => bytes });
  meter.digest = finish;
  return meter;
}
