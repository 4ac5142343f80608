// gzip through node:zlib (level 6 by default, like `gzip -6`). Decompression accepts concatenated members
// (as `gzip` writes with `cat a.gz b.gz`) and fails on a truncated or damaged stream with a coded error
// naming the gzip layer, so a cut artifact never restores as a silently shorter dump.

import { createGzip, createGunzip } from 'node:zlib';
import type { Codec } from '../core/types.ts';
import { joinStages } from './streams.ts';
import { layerErrors } from './archive-rules.ts';

export interface GzipOptions {
  /** 1 (fastest) to 9 (smallest); default 6. */
  level?: number;
}

/** Output pieces of 1 MiB rather than zlib's 16 KiB: fewer trips through the stages after the codec. */
const OUTPUT_CHUNK = 1 << 20;

/** A gzip codec at the given level. */
export function gzipCodec(options: GzipOptions = {}) {
  const level = options.level ?? 6;
  return {
    name: 'gzip',
    extension: '.gz',
    magic: [0x1f, 0x8b],
    compress: () => joinStages([createGzip({ level, chunkSize: OUTPUT_CHUNK })], (err) => err as Error),
    decompress: () => joinStages([createGunzip({ chunkSize: OUTPUT_CHUNK })], layerErrors('gzip')),
  } satisfies Codec;
}

export const gzip = gzipCodec();
