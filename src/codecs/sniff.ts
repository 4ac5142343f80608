// Restore never trusts a file name: it reads the first bytes, peels compression layers by the magic
// bytes each codec declares (src/codecs/index.ts: gzip 1f 8b, zstd 28 b5 2f fd, zip "PK\3\4"; a plain
// tar, which compresses nothing and is no codec, by "ustar" at offset 257), and tells what the raw
// dump is (pg_dump custom "PGDMP", SQLite "SQLite format 3\0", mongodump archive 6d e2 99 81, else plain
// SQL). Peeked bytes are re-emitted in front of the rest, so nothing is lost and nothing is buffered
// beyond a few KiB. A tar whose first entry is `toc.dat` is a `pg_dump -Ft` archive: it is the dump
// itself and passes through whole. A gzip holding another tar is reported as one 'targz' layer; a plain
// tar holding one dump is unpacked by the same rules but adds no layer (it compresses nothing).
// Damage found while peeking rejects; damage found later makes the returned stream error. A coffre delta
// (magic C0 FF "REDLTA") is recognised but refused by openDump: it needs its parent; openDelta reads it.

import type { Readable } from 'node:stream';
import type { Codec, CompressionName, RawFormat } from '../core/types.ts';
import { usageError } from '../core/errors.ts';
import { sqlDialectMarked, type SqlDialect } from '../core/engine-names.ts';
import { createGunzip } from 'node:zlib';
import { joinStages, peek, through } from './streams.ts';
import { layerErrors } from './archive-rules.ts';
import { codecs } from './index.ts';
import { untar } from './targz.ts';
import { firstTarFile, firstZipFile, isTreeMember, type TreeKind } from './archive-tree.ts';
import { looksLikeBson } from '../formats/mongo-archive.ts';

export interface OpenedDump {
  /** What the raw bytes are, once every compression layer is peeled. */
  format: RawFormat;
  /** The raw dump bytes. */
  stream: Readable;
  /** Compression layers found, outermost first (e.g. ["gzip"] or ["targz"]); empty for a raw dump. */
  layers: CompressionName[];
  /** For SQL text: whose dialect its first lines show, when they show it (pg_dump's or mysqldump's header). */
  sqlDialect?: SqlDialect;
  /** For SQL text: the major version of the pg_dump that wrote it, from its header ("Dumped by pg_dump version 17.0"). */
  pgDumpMajor?: number;
  /**
   * Set (only when openDump was asked for trees) when the input is a tar, tar.gz or zip of a dump folder:
   * `stream` is then the archive's bytes (gunzipped for tar.gz), to unpack with extractTree, and `format`
   * what the first entry shows (pg-directory or mongo-directory; the unpacked folder's layout decides).
   */
  tree?: TreeKind;
}

export interface OpenOptions {
  /** Recognise archives of dump folders (see archive-tree.ts) instead of refusing their second file. */
  trees?: boolean;
}

function pgDumpMajorOf(head: Buffer): number | undefined {
  const m = /^-- Dumped by pg_dump version (\d+)/m.exec(head.toString('utf8', 0, Math.min(head.length, PEEK_BYTES)));
  return m ? Number(m[1]) : undefined;
}

export type { SqlDialect } from '../core/engine-names.ts';

/** The dialect of a SQL dump from the marks its tool leaves in the first few KiB (each engine declares its own), or undefined. */
export function sqlDialectOf(head: Buffer): SqlDialect | undefined {
  return sqlDialectMarked(head.toString('utf8', 0, Math.min(head.length, PEEK_BYTES)));
}

/** Bytes looked at before deciding; also the window checked for NUL bytes in SQL text. */
const PEEK_BYTES = 4096;
/** More nested layers than this is not a dump but a puzzle (or a decompression bomb). */
const MAX_LAYERS = 4;

/** The codecs recognised by their own first bytes, in registry order. */
const recognisable = codecs
  .names()
  .map((name) => codecs.get(name))
  .filter((codec): codec is Codec & { magic: readonly number[] } => codec.magic !== undefined && codec.magic.length > 0);

function startsWith(head: Buffer, bytes: readonly number[]): boolean {
  return head.length >= bytes.length && bytes.every((b, i) => head[i] === b);
}

/** The compression layer (or a plain tar) the first bytes show, or null for a raw dump. */
function wrapperOf(head: Buffer): Codec | 'tar' | null {
  const codec = recognisable.find((c) => startsWith(head, c.magic));
  if (codec) return codec;
  if (isTar(head)) return 'tar';
  return null;
}

function isTar(head: Buffer): boolean {
  return head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar';
}

/**
 * A tar of a dump folder: its first file is a member of a dump folder's layout, except a pg_dump -Ft archive
 * (its own toc.dat first, uncompressed: -Ft never compresses, where a -Fd folder's toc.dat says gzip).
 */
function isTreeTar(head: Buffer): boolean {
  const first = firstTarFile(head);
  if (!first || !isTreeMember(first)) return false;
  return !(isPgTar(head) && head.length > 523 && head.toString('latin1', 512, 517) === 'PGDMP' && head[523] === 0);
}

/** What a tree's first entry suggests it holds (the unpacked layout decides). */
function treeFormat(firstFile: string): RawFormat {
  return /\.(bson|json)(\.gz)?$/.test(firstFile) ? 'mongo-directory' : 'pg-directory';
}

/** pg_dump -Ft writes toc.dat as the tar's first entry. */
function isPgTar(head: Buffer): boolean {
  const end = head.indexOf(0, 0);
  return head.toString('latin1', 0, end < 0 || end > 100 ? 100 : end) === 'toc.dat';
}

const RECOGNISED = `coffre recognises ${recognisable.map((c) => c.name).join(', ')}, tar and tar.gz holding plain SQL text, a pg_dump custom (-Fc) or tar (-Ft) archive, a SQLite database, a mongodump archive or .bson file, or a folder (pg_dump -Fd, mongodump)`;

/** Formats that are clearly not a dump coffre can restore, named so the message says what the input is. */
const FOREIGN: readonly { name: string; magic: readonly number[] }[] = [
  { name: 'bzip2-compressed', magic: [0x42, 0x5a, 0x68] },
  { name: 'xz-compressed', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { name: 'lz4-compressed', magic: [0x04, 0x22, 0x4d, 0x18] },
  { name: '7-Zip', magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
];

/** First bytes of a coffre delta (docs/delta-format.md): recognised, but restorable only through its chain. */
const DELTA_MAGIC = [0xc0, 0xff, 0x52, 0x45, 0x44, 0x4c, 0x54, 0x41] as const;

function rawFormatOf(head: Buffer, layers: readonly CompressionName[], acceptDelta = false): RawFormat | 'delta' {
  if (startsWith(head, DELTA_MAGIC)) {
    if (acceptDelta) return 'delta';
    const inside = layers.length > 0 ? ` (inside ${layers.join(' + ')})` : '';
    throw usageError(
      'DELTA_NEEDS_PARENT',
      `The input${inside} is a coffre delta: a differential or incremental backup holds only the changes since its parent backup and cannot be restored alone. Restore it by its journal id (\`coffre restore ID\`, POST /api/restore/ID), which rebuilds the chain from its full backup.`,
      { layers },
    );
  }
  if (head.toString('latin1', 0, 5) === 'PGDMP') {
    // Byte 10 is the archive format: 1 for -Fc. Anything else alone is the toc.dat of a -Fd folder.
    if (head.length > 10 && head[10] !== 1) {
      throw usageError(
        'PG_TOC_ALONE',
        `The input${layers.length > 0 ? ` (inside ${layers.join(' + ')})` : ''} is the toc.dat of a pg_dump directory-format (-Fd) dump, which cannot be restored without its data files: give the whole folder, or a tar or zip of it.`,
        { layers },
      );
    }
    return 'pg-custom';
  }
  if (head.toString('latin1', 0, 16) === 'SQLite format 3\0') return 'sqlite';
  if (startsWith(head, [0x6d, 0xe2, 0x99, 0x81])) return 'mongo-archive';
  if (looksLikeBson(head)) return 'mongo-bson';
  const inside = layers.length > 0 ? ` (inside ${layers.join(' + ')})` : '';
  const foreign = FOREIGN.find((f) => startsWith(head, f.magic));
  if (foreign) throw usageError('UNKNOWN_FORMAT', `The input${inside} is ${foreign.name} data, which coffre does not read: ${RECOGNISED}.`, { layers });
  const text = head.toString('utf8', 0, Math.min(head.length, PEEK_BYTES)).trimStart();
  if (text.startsWith('{') && /^\{\s*"(indexes|options|collectionName|uuid|ServerVersion)"\s*:/.test(text)) {
    throw usageError(
      'MONGO_METADATA_ONLY',
      `The input${inside} is mongodump JSON (a <collection>.metadata.json or prelude.json), not a dump: it holds no documents. Give the .bson file beside it, or the whole mongodump folder.`,
      { layers },
    );
  }
  if (/^[[{]\s*["{[\]}]/.test(text)) {
    throw usageError('UNKNOWN_FORMAT', `The input${inside} is JSON text, not a dump (mongoexport's JSON and test data are not restorable dumps): ${RECOGNISED}.`, { layers });
  }
  if (head.subarray(0, PEEK_BYTES).includes(0)) {
    throw usageError('UNKNOWN_FORMAT', `The input${inside} is binary data in no format coffre knows (it is not SQL text): ${RECOGNISED}.`, { layers });
  }
  return 'sql';
}

/**
 * Peels compression layers by their magic bytes (never by file name) and tells what the raw dump is.
 * Rejects with COFFRE_E_EMPTY_ARTIFACT for an empty input (or one that decompresses to nothing), with
 * COFFRE_E_UNKNOWN_FORMAT for binary data in no known format, and with COFFRE_E_CORRUPT_ARTIFACT when a
 * layer is already broken within its first bytes. Later damage makes the returned stream error.
 */
export async function openDump(input: Readable, options: OpenOptions = {}): Promise<OpenedDump> {
  return (await open(input, false, options.trees === true)) as OpenedDump;
}

/**
 * Like openDump, for a stored differential or incremental artifact: peels the compression layers and
 * requires the coffre delta magic underneath (COFFRE_E_NOT_A_DELTA otherwise). The stream is the delta.
 */
export async function openDelta(input: Readable): Promise<{ stream: Readable; layers: CompressionName[] }> {
  const opened = await open(input, true);
  if (opened.format !== 'delta') {
    opened.stream.destroy();
    input.destroy();
    throw usageError('NOT_A_DELTA', `The artifact holds a ${opened.format} dump where a coffre delta was expected: the journal row and the stored bytes disagree.`);
  }
  return { stream: opened.stream, layers: opened.layers };
}

async function open(input: Readable, acceptDelta: boolean, trees = false): Promise<Omit<OpenedDump, 'format'> & { format: RawFormat | 'delta' }> {
  const layers: CompressionName[] = [];
  let stream: Readable = input;
  try {
    return await peel(input, layers, (s) => (stream = s), acceptDelta, trees);
  } catch (err) {
    stream.destroy();
    input.destroy();
    throw err;
  }
}

async function peel(
  input: Readable,
  layers: CompressionName[],
  track: (stream: Readable) => void,
  acceptDelta: boolean,
  trees: boolean,
): Promise<Omit<OpenedDump, 'format'> & { format: RawFormat | 'delta' }> {
  let { head, stream } = await peek(input, PEEK_BYTES);
  for (let depth = 0; ; depth++) {
    track(stream);
    if (head.length === 0) {
      const inside = layers.length > 0 ? `Its ${layers.join(' + ')} layer holds nothing` : 'It holds no bytes at all';
      throw usageError('EMPTY_ARTIFACT', `The artifact is empty. ${inside}, so there is nothing to restore; choose another backup or file.`, { layers });
    }
    const wrapper = wrapperOf(head);
    const name = wrapper === 'tar' || wrapper === null ? wrapper : wrapper.name;
    if (wrapper === null) {
      const format = rawFormatOf(head, layers, acceptDelta);
      return format === 'sql' ? { format, stream, layers, sqlDialect: sqlDialectOf(head), pgDumpMajor: pgDumpMajorOf(head) } : { format, stream, layers };
    }
    if (wrapper === 'tar' && trees && isTreeTar(head)) return { format: treeFormat(firstTarFile(head)!), stream, layers, tree: 'tar' };
    if (wrapper === 'tar' && isPgTar(head)) return { format: 'pg-tar', stream, layers };
    if (name === 'zip' && trees && isTreeMember(firstZipFile(head) ?? '')) {
      layers.push('zip');
      return { format: treeFormat(firstZipFile(head)!), stream, layers, tree: 'zip' };
    }
    if (depth >= MAX_LAYERS) {
      throw usageError(
        'UNKNOWN_FORMAT',
        `The input nests more than ${MAX_LAYERS} compression layers (${layers.join(' + ')} + ${name}); coffre refuses it as a likely decompression bomb.`,
        { layers },
      );
    }
    if (name === 'gzip') {
      // Whether this gzip is a tar.gz is known only once it is open; its errors then name that layer.
      let layer = 'gzip';
      const gunzip = joinStages([createGunzip()], (err) => layerErrors(layer)(err));
      ({ head, stream } = await peek(through(stream, gunzip), PEEK_BYTES));
      if (trees && isTar(head) && isTreeTar(head)) {
        layers.push('targz');
        return { format: treeFormat(firstTarFile(head)!), stream, layers, tree: 'tar.gz' };
      }
      if (isTar(head) && !isPgTar(head)) {
        layer = 'tar.gz';
        stream = through(stream, untar('tar.gz'));
        layers.push('targz');
        ({ head, stream } = await peek(stream, PEEK_BYTES));
      } else {
        layers.push('gzip');
      }
      continue;
    }
    if (wrapper === 'tar') {
      ({ head, stream } = await peek(through(stream, untar('tar')), PEEK_BYTES));
      continue;
    }
    layers.push(wrapper.name);
    ({ head, stream } = await peek(through(stream, wrapper.decompress()), PEEK_BYTES));
  }
}
