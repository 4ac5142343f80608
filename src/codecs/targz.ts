// tar.gz holding the dump. A tar header states its entry's size before the data, but a dump's size is
// unknown while it streams, and holding a whole dump in memory is not an option. So the writer holds at
// most one chunk (16 MiB by default):
//   - a dump that fits in one chunk becomes one entry named `entryName`;
//   - a longer one becomes consecutive entries `entryName.part000000`, `entryName.part000001`, ... each a
//     full chunk except the last, so `tar xzf x.tar.gz && cat entryName.part* > entryName` rebuilds it.
// The reader concatenates the parts (or takes the single entry) in order. It also reads a tar.gz made by
// GNU tar holding one regular file (directory entries are skipped). Refused: `..` and absolute names,
// hard and symbolic links, devices, FIFOs, and any file beyond the one dump (or its parts in sequence).
// Names longer than 100 bytes get a PAX `path` record, as POSIX tar does.

import { Transform, type Duplex } from 'node:stream';
import { createGzip, createGunzip } from 'node:zlib';
import type TarStream from 'tar-stream';
import { lazy } from '../core/lazy.ts';
import type { Codec, CompressOptions } from '../core/types.ts';
import { joinStages, pullTransform, type ByteReader } from './streams.ts';
import { checkEntryPath, layerErrors, unsupportedArchive } from './archive-rules.ts';

/** tar-stream, loaded on first use (core/lazy.ts); archive-tree.ts shares it. */
export const tarStream = lazy<typeof TarStream>('tar-stream');

const BLOCK = 512;
/** The largest size an 11-digit octal ustar size field holds. */
const MAX_ENTRY = 0o77777777777;

/** Name of the index-th part of a dump written in parts. */
export function partName(entryName: string, index: number): string {
  return `${entryName}.part${String(index).padStart(6, '0')}`;
}

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  header.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

function ustarHeader(name: Buffer, size: number, type: string, mtime: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  name.copy(header, 0, 0, 100);
  writeOctal(header, 0o600, 100, 8);
  writeOctal(header, 0, 108, 8);
  writeOctal(header, 0, 116, 8);
  writeOctal(header, size, 124, 12);
  writeOctal(header, mtime, 136, 12);
  header.fill(' ', 148, 156);
  header.write(type, 156, 'ascii');
  header.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** The header blocks of a regular file entry: a PAX `path` record first when the name exceeds 100 bytes. */
function entryHeaders(name: string, size: number, mtime: number): Buffer[] {
  const raw = Buffer.from(name, 'utf8');
  if (raw.length <= 100) return [ustarHeader(raw, size, '0', mtime)];
  const body = ` path=${name}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  const record = Buffer.from(`${length}${body}`, 'utf8');
  const shortName = Buffer.from(
    raw
      .subarray(0, 100)
      .toString('utf8')
      .replace(/\uFFFD+$/, ''),
    'utf8',
  );
  return [ustarHeader(Buffer.from('PaxHeader/coffre'), record.length, 'x', mtime), record, padding(record.length), ustarHeader(shortName, size, '0', mtime)];
}

/** Raw bytes -> tar bytes, holding at most one chunk (plus the write in progress). */
function tarWriter(entryName: string, chunkSize: number): Transform {
  const mtime = Math.floor(Date.now() / 1000);
  let held: Buffer[] = [];
  let heldBytes = 0;
  let parts = 0;
  const emit = (stream: Transform, name: string, size: number) => {
    for (const block of entryHeaders(name, size, mtime)) stream.push(block);
    let left = size;
    while (left > 0) {
      const first = held[0];
      if (first.length <= left) {
        held.shift();
        stream.push(first);
        left -= first.length;
      } else {
        stream.push(first.subarray(0, left));
        held[0] = first.subarray(left);
        left = 0;
      }
    }
    heldBytes -= size;
    stream.push(padding(size));
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      held.push(chunk);
      heldBytes += chunk.length;
      // Strictly more than a chunk: only then is it certain another part follows.
      while (heldBytes > chunkSize) emit(this, partName(entryName, parts++), chunkSize);
      callback();
    },
    flush(callback) {
      if (parts === 0) emit(this, entryName, heldBytes);
      else if (heldBytes > 0) emit(this, partName(entryName, parts++), heldBytes);
      held = [];
      this.push(Buffer.alloc(2 * BLOCK));
      callback();
    },
  });
}

export const typeNames: Record<string, string> = {
  link: 'a hard link',
  symlink: 'a symbolic link',
  'character-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a FIFO',
};

/** Yields the dump inside a tar: its one regular file, or its parts concatenated in order. */
async function* readTar(reader: ByteReader, layer: string): AsyncGenerator<Buffer> {
  const extract = tarStream().extract();
  const feeding = (async () => {
    try {
      for (let chunk = await reader.chunk(); chunk !== null; chunk = await reader.chunk()) {
        if (!extract.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              extract.off('drain', done);
              extract.off('close', done);
              resolve();
            };
            extract.on('drain', done);
            extract.on('close', done);
          });
        }
        if (extract.destroyed) return;
      }
      extract.end(undefined);
    } catch (err) {
      extract.destroy(err as Error);
    }
  })();
  const files: string[] = [];
  let base: string | null = null;
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      checkEntryPath(layer, name);
      if (type === 'directory') {
        for await (const _ of entry);
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        throw unsupportedArchive(layer, `the entry ${JSON.stringify(name)} is ${typeNames[type as string] ?? `of an unsupported type (${String(type)})`}`);
      }
      if (files.length === 0) {
        if (name.endsWith('.part000000')) base = name.slice(0, -'.part000000'.length);
      } else if (base === null || name !== partName(base, files.length)) {
        const detail =
          base === null
            ? `it holds more than one file (${[...files, name].map((n) => JSON.stringify(n)).join(', ')})`
            : `${JSON.stringify(name)} comes where part ${JSON.stringify(partName(base, files.length))} was expected`;
        throw unsupportedArchive(layer, detail);
      }
      files.push(name);
      for await (const data of entry as AsyncIterable<Buffer>) yield data;
    }
    await feeding;
  } finally {
    extract.destroy();
  }
  if (files.length === 0) throw unsupportedArchive(layer, 'it holds no file');
}

/** A tar reader (no compression) applying the rules above; `layer` names it in errors. */
export function untar(layer = 'tar'): Duplex {
  return pullTransform((reader) => readTar(reader, layer), layerErrors(layer));
}

export interface TargzOptions {
  /** Bytes per tar entry when a dump is split into parts; default 16 MiB. Also the memory held. */
  chunkSize?: number;
  /** gzip level 1-9; default 6. */
  level?: number;
}

/** A tar.gz codec with the given chunk size and gzip level. */
export function targzCodec(options: TargzOptions = {}) {
  const chunkSize = options.chunkSize ?? 16 * 1024 * 1024;
  const level = options.level ?? 6;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_ENTRY) throw new RangeError(`tar chunk size must be an integer from 1 to ${MAX_ENTRY}`);
  return {
    name: 'targz',
    extension: '.tar.gz',
    compress: (opts: CompressOptions) => joinStages([tarWriter(opts.entryName, chunkSize), createGzip({ level })], (err) => err as Error),
    decompress: () => joinStages([createGunzip(), untar('tar.gz')], layerErrors('tar.gz')),
  } satisfies Codec;
}

export const targz = targzCodec();
