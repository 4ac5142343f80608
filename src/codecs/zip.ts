// zip holding one entry. Writing streams through yazl: the size is unknown up front, so the entry carries
// a data descriptor (and ZIP64 records once it passes 4 GB). Reading is streaming too, with no random
// access, because the artifact may come straight from a remote storage: local file header, entry data,
// data descriptor, then the central directory, in the order they arrive.
//
// The hard part is where a deflated entry with a data descriptor ends, since nothing before the data says
// how long it is. The deflate stream itself does: it ends with a final block. The entry's bytes are fed
// to a raw inflater one chunk at a time, each only after the previous one is fully processed; when the
// inflater reports the end of the stream, `bytesWritten` says how many input bytes it consumed, so what
// is left of the last chunk is the start of the data descriptor and goes back to the reader. The
// descriptor's sizes (32- or 64-bit, with or without its optional signature) and the CRC-32 of the
// inflated bytes are then checked against what was actually read.
//
// Refused: more than one file entry (directory entries are skipped), names that would escape (`..`,
// absolute paths), encrypted entries, compression methods other than stored and deflate, and entries the
// central directory marks as symlinks. The central directory comes after the data, so such a
// refusal may arrive after bytes were emitted; the stream then errors and never ends cleanly.
// Every length read from the archive is bounded or skipped without being kept (at most 64 KiB of a name
// or an extra field is held at once), so memory stays bounded whatever the records claim.

import { PassThrough } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';
import type Yazl from 'yazl';
import { lazy } from '../core/lazy.ts';
import type { Codec, CompressOptions } from '../core/types.ts';
import { ByteReader, joinEnds, pullTransform } from './streams.ts';
import { checkEntryPath, corruptArtifact, layerErrors, unsupportedArchive } from './archive-rules.ts';

const yazl = lazy<typeof Yazl>('yazl');

const LAYER = 'zip';
const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const END_OF_CENTRAL = 0x06054b50;
const ZIP64_END_OF_CENTRAL = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const DATA_DESCRIPTOR = 0x08074b50;
const ARCHIVE_EXTRA_DATA = 0x08064b50;
const DIGITAL_SIGNATURE = 0x05054b50;
const KNOWN_SIGNATURES = new Set([LOCAL_HEADER, CENTRAL_HEADER, END_OF_CENTRAL, ZIP64_END_OF_CENTRAL, ZIP64_LOCATOR, ARCHIVE_EXTRA_DATA, DIGITAL_SIGNATURE]);
const MAX32 = 0xffffffff;

interface LocalEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Bit 3: CRC and sizes follow the data in a descriptor. */
  hasDescriptor: boolean;
}

const truncated = (what: string) => corruptArtifact(LAYER, `the archive ends inside ${what}`);

async function readExact(reader: ByteReader, n: number, what: string): Promise<Buffer> {
  const buf = await reader.exact(n);
  if (buf.length < n) throw truncated(what);
  return buf;
}

/**
 * Skips n bytes the archive claims a record holds, without keeping them: a length read from the input is the
 * attacker's, and the bytes behind it may be a decompressed stream of any size (a gzip-wrapped zip).
 */
async function skipExact(reader: ByteReader, n: number, what: string): Promise<void> {
  if ((await reader.skip(n)) < n) throw truncated(what);
}

/** Largest ZIP64 end record accepted: 56 bytes plus an "extensible data sector" nobody writes. */
const MAX_ZIP64_END_RECORD = 64 * 1024;

function decodeName(raw: Buffer, flags: number): string {
  return raw.toString(flags & 0x0800 ? 'utf8' : 'latin1');
}

/** Reads a local file header (its signature already consumed). */
async function readLocalHeader(reader: ByteReader): Promise<LocalEntry> {
  const fixed = await readExact(reader, 26, 'a local file header');
  const flags = fixed.readUInt16LE(2);
  const method = fixed.readUInt16LE(4);
  let crc = fixed.readUInt32LE(10);
  let compressedSize = fixed.readUInt32LE(14);
  let size = fixed.readUInt32LE(18);
  const name = decodeName(await readExact(reader, fixed.readUInt16LE(22), 'a file name'), flags);
  const extra = await readExact(reader, fixed.readUInt16LE(24), 'an extra field');
  checkEntryPath(LAYER, name);
  if (flags & 0x0001 || flags & 0x0040 || flags & 0x2000) throw unsupportedArchive(LAYER, `the entry ${JSON.stringify(name)} is encrypted`);
  if (method !== 0 && method !== 8) {
    throw unsupportedArchive(LAYER, `the entry ${JSON.stringify(name)} uses compression method ${method}; only stored (0) and deflate (8) are supported`);
  }
  // ZIP64: 0xffffffff sizes are in the 0x0001 extra field, uncompressed size first.
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(at);
    const len = extra.readUInt16LE(at + 2);
    if (id === 0x0001) {
      let p = at + 4;
      if (size === MAX32 && p + 8 <= at + 4 + len) {
        size = Number(extra.readBigUInt64LE(p));
        p += 8;
      }
      if (compressedSize === MAX32 && p + 8 <= at + 4 + len) compressedSize = Number(extra.readBigUInt64LE(p));
    }
    at += 4 + len;
  }
  const hasDescriptor = (flags & 0x0008) !== 0;
  if (hasDescriptor) crc = 0;
  return { name, flags, method, crc, compressedSize, size, hasDescriptor };
}

interface Counts {
  crc: number;
  compressed: number;
  size: number;
}

/** Yields the inflated bytes of a deflate stream and leaves the reader just after its last byte. */
async function* inflateEntry(reader: ByteReader, counts: Counts): AsyncGenerator<Buffer> {
  const inflater = createInflateRaw();
  const start = reader.position;
  let fed = 0;
  let last: Buffer | null = null;
  let stop = false;
  const feeding = (async () => {
    try {
      while (!stop) {
        const chunk = await reader.chunk();
        if (chunk === null) {
          inflater.end(); // a stream cut short fails here with "unexpected end of file"
          return;
        }
        last = chunk;
        fed += chunk.length;
        await new Promise<void>((resolve) => inflater.write(chunk, () => resolve()));
        if (inflater.destroyed || inflater.bytesWritten < fed) return; // the deflate stream ended inside this chunk
      }
    } catch (err) {
      inflater.destroy(err as Error);
    }
  })();
  try {
    for await (const out of inflater as AsyncIterable<Buffer>) {
      counts.crc = crc32(out, counts.crc);
      counts.size += out.length;
      yield out;
    }
    await feeding;
    const extra = fed - inflater.bytesWritten;
    if (extra > 0) {
      if (last === null || extra > (last as Buffer).length) throw corruptArtifact(LAYER, 'the deflate stream could not be delimited');
      reader.unshift((last as Buffer).subarray((last as Buffer).length - extra));
    }
    counts.compressed = reader.position - start;
  } finally {
    stop = true;
    inflater.destroy();
  }
}

/** Yields the bytes of a stored entry of known size. */
async function* storedEntry(reader: ByteReader, entry: LocalEntry, counts: Counts): AsyncGenerator<Buffer> {
  let left = entry.compressedSize;
  while (left > 0) {
    const chunk = await reader.chunk(left);
    if (chunk === null) throw truncated(`the entry ${JSON.stringify(entry.name)}`);
    left -= chunk.length;
    counts.crc = crc32(chunk, counts.crc);
    counts.size += chunk.length;
    counts.compressed += chunk.length;
    yield chunk;
  }
}

function isSignature(buf: Buffer, at: number): boolean {
  return buf.length >= at + 4 && KNOWN_SIGNATURES.has(buf.readUInt32LE(at));
}

/**
 * Reads the data descriptor after an entry. Its signature is optional and its sizes are 32- or 64-bit
 * (yazl writes 64-bit ones without announcing ZIP64 in the local header), so the layout chosen is the one
 * whose sizes equal what was read and which is followed by another zip record.
 */
async function readDescriptor(reader: ByteReader, name: string, counts: Counts): Promise<{ crc: number; compressed: number; size: number }> {
  let first = await readExact(reader, 4, 'a data descriptor');
  if (first.readUInt32LE(0) === DATA_DESCRIPTOR) {
    const next = await readExact(reader, 4, 'a data descriptor');
    // Either a signature then the CRC, or (one time in 2^32) a CRC that happens to equal the signature.
    if (counts.crc === DATA_DESCRIPTOR && next.readUInt32LE(0) !== DATA_DESCRIPTOR) reader.unshift(next);
    else first = next;
  }
  const crc = first.readUInt32LE(0);
  const rest = await reader.exact(20);
  const matches = (compressed: number, size: number) => compressed === counts.compressed && size === counts.size;
  if (rest.length >= 16 && isSignature(rest, 16) && matches(Number(rest.readBigUInt64LE(0)), Number(rest.readBigUInt64LE(8)))) {
    reader.unshift(rest.subarray(16));
    return { crc, compressed: counts.compressed, size: counts.size };
  }
  if (rest.length >= 8 && isSignature(rest, 8) && matches(rest.readUInt32LE(0), rest.readUInt32LE(4))) {
    reader.unshift(rest.subarray(8));
    return { crc, compressed: counts.compressed, size: counts.size };
  }
  if (rest.length < 12) throw truncated(`the data descriptor of ${JSON.stringify(name)}`);
  throw corruptArtifact(LAYER, `the data descriptor of ${JSON.stringify(name)} does not match its data (sizes differ)`);
}

/** Yields one entry's bytes and checks them against its CRC-32 and sizes. */
async function* entryData(reader: ByteReader, entry: LocalEntry): AsyncGenerator<Buffer> {
  const counts: Counts = { crc: 0, compressed: 0, size: 0 };
  if (entry.method === 8) {
    yield* inflateEntry(reader, counts);
  } else {
    if (entry.hasDescriptor && entry.compressedSize === 0 && entry.size === 0 && !entry.name.endsWith('/')) {
      // A stored entry whose size comes only after it cannot be delimited without guessing.
      throw unsupportedArchive(LAYER, `the stored entry ${JSON.stringify(entry.name)} does not give its size before its data; re-create the zip with deflate compression`);
    }
    yield* storedEntry(reader, entry, counts);
  }
  const expected = entry.hasDescriptor ? await readDescriptor(reader, entry.name, counts) : { crc: entry.crc, compressed: entry.compressedSize, size: entry.size };
  if (expected.crc !== counts.crc) throw corruptArtifact(LAYER, `CRC-32 mismatch in ${JSON.stringify(entry.name)}`);
  if (expected.size !== counts.size || expected.compressed !== counts.compressed) {
    throw corruptArtifact(LAYER, `the entry ${JSON.stringify(entry.name)} does not have the size its header gives`);
  }
}

const tooMany = (names: string[]) => unsupportedArchive(LAYER, `it holds more than one file (${names.map((n) => JSON.stringify(n)).join(', ')})`);

/** Reads the central directory (its first signature consumed) to its end, checking what the local headers could not say. */
async function readCentralDirectory(reader: ByteReader, emitted: string[], many = false): Promise<void> {
  const files: string[] = [];
  let signature = CENTRAL_HEADER;
  for (;;) {
    if (signature === CENTRAL_HEADER) {
      const fixed = await readExact(reader, 42, 'the central directory');
      const madeBy = fixed.readUInt16LE(0) >> 8;
      const flags = fixed.readUInt16LE(4);
      const name = decodeName(await readExact(reader, fixed.readUInt16LE(24), 'the central directory'), flags);
      await skipExact(reader, fixed.readUInt16LE(26) + fixed.readUInt16LE(28), 'the central directory');
      checkEntryPath(LAYER, name);
      // Only symlinks are refused by type: Info-ZIP records a FIFO type for data it read from a pipe,
      // and every extractor writes such an entry as a regular file.
      const unixType = (fixed.readUInt32LE(34) >>> 16) & 0o170000;
      if ((madeBy === 3 || madeBy === 19) && unixType === 0o120000) {
        throw unsupportedArchive(LAYER, `the entry ${JSON.stringify(name)} is a symbolic link`);
      }
      if (!name.endsWith('/') && unixType !== 0o040000) files.push(name);
      if (files.length > 1 && !many) throw tooMany(files); // at once: a directory of a million entries is never kept
    } else if (signature === ZIP64_END_OF_CENTRAL) {
      const size = (await readExact(reader, 8, 'the ZIP64 end record')).readBigUInt64LE(0);
      if (size > BigInt(MAX_ZIP64_END_RECORD)) throw corruptArtifact(LAYER, `the ZIP64 end record claims ${size} bytes (at most ${MAX_ZIP64_END_RECORD} are plausible)`);
      await skipExact(reader, Number(size), 'the ZIP64 end record');
    } else if (signature === ZIP64_LOCATOR) {
      await readExact(reader, 16, 'the ZIP64 locator');
    } else if (signature === DIGITAL_SIGNATURE) {
      await skipExact(reader, (await readExact(reader, 2, 'the central directory')).readUInt16LE(0), 'the central directory');
    } else if (signature === END_OF_CENTRAL) {
      const fixed = await readExact(reader, 18, 'the end of central directory record');
      await skipExact(reader, fixed.readUInt16LE(16), 'the archive comment');
      break;
    } else {
      throw corruptArtifact(LAYER, `unexpected record 0x${signature.toString(16)} in the central directory`);
    }
    signature = (await readExact(reader, 4, 'the central directory')).readUInt32LE(0);
  }
  if (files.length > 1 && !many) throw tooMany(files);
  if (files.length !== emitted.length || files.some((f, i) => f !== emitted[i])) {
    throw corruptArtifact(LAYER, `the central directory lists ${JSON.stringify(files)} but the archive holds ${JSON.stringify(emitted)}`);
  }
}

/** An entry of a zip read as a tree: its name and its bytes (read them to the end before the next entry). */
export type ZipFileHandler = (name: string, data: AsyncIterable<Buffer>) => Promise<void>;

/**
 * The zip reader: the one file entry's bytes, checked. Given `each`, every file entry goes to it instead
 * (a zip of a dump folder), by the same rules, and nothing is yielded.
 */
async function* unzip(reader: ByteReader, each?: ZipFileHandler): AsyncGenerator<Buffer> {
  const files: string[] = [];
  const first = await reader.exact(4);
  if (first.length === 0) throw corruptArtifact(LAYER, 'the archive is empty');
  if (first.length < 4 || first.readUInt32LE(0) !== LOCAL_HEADER) {
    if (first.length === 4 && first.readUInt32LE(0) === END_OF_CENTRAL) throw unsupportedArchive(LAYER, 'it holds no file');
    throw corruptArtifact(LAYER, 'it does not start with a zip local file header');
  }
  let signature = LOCAL_HEADER;
  while (signature === LOCAL_HEADER) {
    const entry = await readLocalHeader(reader);
    if (entry.name.endsWith('/')) {
      for await (const chunk of entryData(reader, entry)) {
        if (chunk.length > 0) throw corruptArtifact(LAYER, `the directory entry ${JSON.stringify(entry.name)} holds data`);
      }
    } else {
      if (files.length > 0 && !each) throw tooMany([...files, entry.name]);
      files.push(entry.name);
      if (each) await each(entry.name, entryData(reader, entry));
      else yield* entryData(reader, entry);
    }
    signature = (await readExact(reader, 4, 'the archive')).readUInt32LE(0);
  }
  if (signature === ARCHIVE_EXTRA_DATA) {
    await skipExact(reader, (await readExact(reader, 4, 'the archive')).readUInt32LE(0), 'the archive extra data record');
    signature = (await readExact(reader, 4, 'the archive')).readUInt32LE(0);
  }
  if (!KNOWN_SIGNATURES.has(signature) || signature === LOCAL_HEADER) throw corruptArtifact(LAYER, `unexpected record 0x${signature.toString(16)} after the entries`);
  if (files.length === 0) throw unsupportedArchive(LAYER, 'it holds no file');
  await readCentralDirectory(reader, files, each !== undefined);
}

/** Reads a whole zip, handing each file entry to `each` (checked as unzip checks its one entry). */
export async function unzipEach(input: AsyncIterable<Buffer>, each: ZipFileHandler): Promise<void> {
  const it = input[Symbol.asyncIterator]();
  const reader = new ByteReader(async () => {
    const r = await it.next();
    return r.done ? null : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
  });
  try {
    for await (const _ of unzip(reader, each));
  } catch (err) {
    throw layerErrors(LAYER)(err);
  } finally {
    await it.return?.();
  }
}

/** Options of the zip writer. */
export interface ZipOptions {
  /** Deflate level 1-9; default 6. */
  level?: number;
}

/** A zip codec (one deflated entry) at the given level. */
export function zipCodec(options: ZipOptions = {}) {
  const level = options.level ?? 6;
  return {
    name: 'zip',
    extension: '.zip',
    magic: [0x50, 0x4b, 0x03, 0x04], // "PK\3\4", a local file header
    compress: (opts: CompressOptions) => {
      const zipfile = new (yazl().ZipFile)();
      const input = new PassThrough();
      zipfile.addReadStream(input, opts.entryName, { compressionLevel: level, mode: 0o100600, mtime: new Date() });
      zipfile.end();
      const output = zipfile.outputStream as PassThrough;
      zipfile.on('error', (err: Error) => output.destroy(err));
      return joinEnds(input, output, [input, output], (err) => err as Error);
    },
    decompress: () => pullTransform(unzip, layerErrors(LAYER)),
  } satisfies Codec;
}

export const zip = zipCodec();
