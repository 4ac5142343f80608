// Zstandard (level 3 by default, like `zstd -3`): much faster than gzip at a similar ratio. Compression runs
// the `zstd` command-line tool as a child process when it is in PATH, and node:zlib's zstd otherwise: on the
// same 305 MB pg_dump, `zstd -3` took 2.4 s of CPU where node:zlib took 3.4 s, and as a child it also
// takes the compression off coffre's thread pool and its buffers out of coffre's heap. Both write one
// standard zstd frame with a content checksum, which either side (and any zstd) decompresses: the choice
// changes no artifact's format, restore or checksum. Decompression stays in node:zlib. A truncated or
// damaged frame fails with a coded error naming the zstd layer.

import { statSync } from 'node:fs';
import path from 'node:path';
import { constants, createZstdCompress, createZstdDecompress } from 'node:zlib';
import type { Codec } from '../core/types.ts';
import { spawnFilter } from '../pipeline/process.ts';
import { joinStages } from './streams.ts';
import { layerErrors } from './archive-rules.ts';
import { namedVariable } from '../config.ts';

export interface ZstdOptions {
  /** 1 (fastest) to 19 (smallest); default 3. */
  level?: number;
  /**
   * Which compressor to use: 'auto' (default) runs the `zstd` CLI when PATH has it, else node:zlib;
   * 'node' always node:zlib; 'cli' always the CLI (failing with COFFRE_E_ZSTD_NOT_FOUND without it).
   */
  compressor?: 'auto' | 'node' | 'cli';
}

/** Output pieces of 1 MiB rather than zlib's 16 KiB: fewer trips through the stages after the codec. */
const OUTPUT_CHUNK = 1 << 20;

/** The zstd executable in `pathEnv` (a PATH value), or undefined when there is none. */
export function findZstd(pathEnv: string | undefined = namedVariable('PATH')): string | undefined {
  for (const dir of (pathEnv ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, 'zstd');
    try {
      const s = statSync(file);
      if (s.isFile() && (s.mode & 0o111) !== 0) return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** Which compressor a zstd codec with `choice` uses under `pathEnv`: the CLI's path, or 'node'. */
export function zstdCompressor(choice: ZstdOptions['compressor'] = 'auto', pathEnv: string | undefined = namedVariable('PATH')): string | 'node' {
  if (choice === 'node') return 'node';
  const bin = findZstd(pathEnv);
  if (bin) return bin;
  return choice === 'cli' ? 'zstd' : 'node';
}

/** `zstd -LEVEL -q -c` between stdin and stdout, as one Duplex; a non-zero exit errors it (COFFRE_E_ZSTD_FAILED). */
function cliCompress(bin: string, level: number) {
  // --check (the default, stated): a content checksum, as node:zlib's side writes. The child's environment is
  // the allow-list of pipeline/process.ts, so ZSTD_CLEVEL or ZSTD_NBTHREADS in coffre's never change the level.
  // Written straight into the child's stdin and read straight off its stdout (no stage in between).
  return spawnFilter({ command: bin, args: [`-${level}`, '--check', '-q', '-c'], label: 'ZSTD' });
}

function nodeCompress(level: number) {
  return joinStages(
    [createZstdCompress({ params: { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 1 }, chunkSize: OUTPUT_CHUNK })],
    (err) => err as Error,
  );
}

/** A zstd codec at the given level. */
export function zstdCodec(options: ZstdOptions = {}) {
  const level = options.level ?? 3;
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new RangeError(`zstd level must be 1 to 19 (got ${level})`);
  return {
    name: 'zstd',
    extension: '.zst',
    magic: [0x28, 0xb5, 0x2f, 0xfd],
    compress: () => {
      const use = zstdCompressor(options.compressor);
      return use === 'node' ? nodeCompress(level) : cliCompress(use, level);
    },
    takesSmallChunks: () => zstdCompressor(options.compressor) !== 'node',
    decompress: () => joinStages([createZstdDecompress({ chunkSize: OUTPUT_CHUNK })], layerErrors('zstd')),
  } satisfies Codec;
}

export const zstd = zstdCodec();
