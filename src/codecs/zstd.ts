// Zstandard (level 3 by default, like `zstd -3`): much faster than gzip at a similar ratio. Compression runs
// the `zstd` command-line tool as a child process when it is in PATH, and node:zlib's zstd otherwise: on the
// same 305 MB pg_dump, `zstd -3` took 2.4 s of CPU where node:zlib took 3.4 s, and as a child it also
// takes the compression off coffre's thread pool and its buffers out of coffre's heap. Both write one
// standard zstd frame with a content checksum, which either side (and any zstd) decompresses: the choice
// changes no artifact's format, restore or checksum. Decompression stays in node:zlib. A truncated or
// damaged frame fails with a coded error naming the zstd layer.
// A delta (CompressOptions.delta) of at most 8 MiB is compressed with zstd's optimal parser
// instead (see compressDelta): deltas are mostly short changed rows, on which level 3's greedy parser
// loses a fifth of the size; a larger delta streams at the plan's level like a dump.

import { statSync } from 'node:fs';
import path from 'node:path';
import { Duplex, Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import { constants, createZstdCompress, createZstdDecompress } from 'node:zlib';
import type { Codec, CompressOptions } from '../core/types.ts';
import { spawnFilter } from '../children/process.ts';
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
  /** Tests only: the largest delta compressed with the optimal parser (default SMALL_DELTA_BYTES). */
  smallDeltaBytes?: number;
}

/**
 * A delta up to this size is compressed with SMALL_DELTA_PARAMS: at most ~0.5 s of CPU (about 20 MB/s),
 * and up to 8 MiB of held delta (plus its compressed bytes) in memory until it ends.
 */
export const SMALL_DELTA_BYTES = 8 << 20;

/**
 * zstd's optimal parser (btopt) with the least search: measured on the delta of a PostgreSQL table of
 * ~23-byte rows (1 % updated, 1 % inserted; 1.48 MB raw), 471 KB against level 3's 603 KB (1.83 % of the
 * full backup instead of 2.35 %), and 1.35 % instead of 1.45 % on the wider rows of bench/incremental.ts;
 * level 16 (btopt with a deeper search) gives 478 KB for 4x the time, levels 5-15 (greedy and lazy
 * parsers) 565-585 KB. The data of a delta being small, the parser matters more than the search.
 */
const SMALL_DELTA_PARAMS = {
  [constants.ZSTD_c_strategy]: constants.ZSTD_btopt,
  [constants.ZSTD_c_windowLog]: 22,
  [constants.ZSTD_c_hashLog]: 16,
  [constants.ZSTD_c_chainLog]: 12,
  [constants.ZSTD_c_searchLog]: 1,
  [constants.ZSTD_c_minMatch]: 6,
  [constants.ZSTD_c_targetLength]: 32,
  [constants.ZSTD_c_checksumFlag]: 1,
};

/**
 * The delta's compressor: compresses with SMALL_DELTA_PARAMS as the delta arrives (on the thread pool, beside
 * the encoder), holding the delta's bytes and that output until the delta ends or passes `cap` bytes. A
 * small delta is then one standard frame with a content checksum, as the others; a larger one is instead
 * streamed through `stream()` (the plan's level), the held bytes first, so its cost stays a dump's.
 */
function compressDelta(stream: () => Duplex, cap: number): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const input = source[Symbol.asyncIterator]();
    const held: Buffer[] = [];
    let bytes = 0;
    const small = createZstdCompress({ params: SMALL_DELTA_PARAMS, chunkSize: OUTPUT_CHUNK });
    const out: Buffer[] = [];
    small.on('data', (chunk: Buffer) => out.push(chunk));
    const smallDone = finished(small);
    smallDone.catch(() => {}); // awaited below when the small path is taken
    try {
      for (;;) {
        const r = await input.next();
        if (r.done) {
          small.end();
          await smallDone;
          yield* out.splice(0);
          return;
        }
        held.push(r.value);
        bytes += r.value.length;
        if (bytes > cap) break;
        if (!small.write(r.value)) await once(small, 'drain');
      }
    } finally {
      if (!small.writableFinished) small.destroy();
    }
    out.length = 0;
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield* held.splice(0);
      for (let r = await input.next(); !r.done; r = await input.next()) yield r.value;
    };
    const stage = stream();
    const fed = pipeline(Readable.from(rest(), { objectMode: false }), stage);
    fed.catch(() => {}); // its failure also fails the stage, which the loop below reports
    for await (const chunk of stage) yield chunk as Buffer;
    await fed;
  });
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
  // the allow-list of children/process.ts, so ZSTD_CLEVEL or ZSTD_NBTHREADS in coffre's never change the level.
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
    compress: (compressOptions?: CompressOptions) => {
      const plain = (): Duplex => {
        const use = zstdCompressor(options.compressor);
        return use === 'node' ? nodeCompress(level) : cliCompress(use, level);
      };
      // Levels 16 and up are optimal parsers already, with a deeper search: a delta keeps them.
      return compressOptions?.delta && level < 16 ? compressDelta(plain, options.smallDeltaBytes ?? SMALL_DELTA_BYTES) : plain();
    },
    takesSmallChunks: () => zstdCompressor(options.compressor) !== 'node',
    decompress: () => joinStages([createZstdDecompress({ chunkSize: OUTPUT_CHUNK })], layerErrors('zstd')),
  } satisfies Codec;
}

export const zstd = zstdCodec();
