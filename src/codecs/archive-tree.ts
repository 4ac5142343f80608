// A tar, tar.gz or zip that holds a dump folder (pg_dump -Fd, mongodump's `<db>/<coll>.bson` output) rather
// than one dump file. Such a dump needs its files by name (pg_restore opens toc.dat and each data file), so it
// is unpacked into a private temporary folder and restored from there; memory stays bounded (one chunk at a
// time), the disk holds the unpacked dump. Which archives are trees is decided from the first bytes, by the
// name of the first file entry (after directory entries): a member of a dump folder's layout (toc.dat, N.dat,
// N.dat.gz, blobs.toc, *.bson, *.bson.gz, *.metadata.json, prelude.json, oplog.bson). Any other first file
// keeps the one-file rules of targz.ts and zip.ts. Entry rules are those of archive-rules.ts: no `..`, no
// absolute path, no link, no device; plus no entry twice and a bounded number of entries.

import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkEntryPath, layerErrors, unsupportedArchive } from './archive-rules.ts';
import { tarStream, typeNames } from './targz.ts';
import { unzipEach } from './zip.ts';

/** Which reader a tree needs, and the layer name its errors carry. */
export type TreeKind = 'tar' | 'tar.gz' | 'zip';

/** More entries than this is not a dump folder. */
const MAX_ENTRIES = 100_000;

const MEMBER = [
  /^toc\.dat$/,
  /^\d+\.dat(\.gz|\.lz4|\.zst)?$/,
  /^blobs(_\d+)?\.toc$/,
  /^blob_\d+\.dat(\.gz|\.lz4|\.zst)?$/,
  /\.bson(\.gz)?$/,
  /\.metadata\.json(\.gz)?$/,
  /^prelude\.json(\.gz)?$/,
];

/** Whether an entry name is one a dump folder's layout has. */
export function isTreeMember(name: string): boolean {
  const base = name.replaceAll('\\', '/').split('/').pop() ?? '';
  return MEMBER.some((re) => re.test(base));
}

function cstring(buf: Buffer, start: number, end: number): string {
  const slice = buf.subarray(start, end);
  const nul = slice.indexOf(0);
  return slice.toString('utf8', 0, nul < 0 ? slice.length : nul);
}

/** The name of the first regular file of a tar, from its first bytes, or undefined when they do not tell. */
export function firstTarFile(head: Buffer): string | undefined {
  let pending: string | undefined;
  for (let at = 0; at + 512 <= head.length; ) {
    const block = head.subarray(at, at + 512);
    if (block.every((b) => b === 0)) return undefined;
    const size = parseInt(cstring(block, 124, 136).trim() || '0', 8);
    const type = String.fromCharCode(block[156] || 0x30);
    const dataEnd = at + 512 + Math.ceil(size / 512) * 512;
    const prefix = block.toString('latin1', 257, 262) === 'ustar' ? cstring(block, 345, 500) : '';
    const name = pending ?? (prefix ? `${prefix}/${cstring(block, 0, 100)}` : cstring(block, 0, 100));
    if (type === 'x' || type === 'L') {
      if (at + 512 + size > head.length) return undefined;
      const data = head.subarray(at + 512, at + 512 + size).toString('utf8');
      pending = type === 'L' ? data.replace(/\0.*$/s, '') : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(data)?.[1] ?? pending);
    } else if (type === 'g') {
      // a global header: nothing about the next name
    } else if (type === '5') {
      pending = undefined;
    } else {
      return type === '0' || type === '7' ? name : undefined;
    }
    at = dataEnd;
  }
  return undefined;
}

/** The name of the first file entry of a zip (directory entries skipped), from its first bytes, or undefined. */
export function firstZipFile(head: Buffer): string | undefined {
  for (let at = 0; at + 30 <= head.length && head.readUInt32LE(at) === 0x04034b50; ) {
    const flags = head.readUInt16LE(at + 6);
    const compressed = head.readUInt32LE(at + 18);
    const nameLength = head.readUInt16LE(at + 26);
    const extraLength = head.readUInt16LE(at + 28);
    if (at + 30 + nameLength > head.length) return undefined;
    const name = head.toString(flags & 0x0800 ? 'utf8' : 'latin1', at + 30, at + 30 + nameLength);
    if (!name.endsWith('/')) return name;
    at += 30 + nameLength + extraLength + compressed;
    // A directory written with a data descriptor: its (empty) data is followed by the descriptor.
    if (flags & 0x08 && at + 4 <= head.length && head.readUInt32LE(at) === 0x08074b50) at += 16;
  }
  return undefined;
}

/** Where an entry lands under dir, after the entry rules; never outside dir. */
function destination(layer: string, dir: string, name: string): string {
  checkEntryPath(layer, name);
  const rel = path.normalize(name.replaceAll('\\', '/')).replace(/^(\.\/)+/, '');
  const to = path.resolve(dir, rel);
  if (to !== dir && !to.startsWith(dir + path.sep)) throw unsupportedArchive(layer, `the entry ${JSON.stringify(name)} would land outside the folder`);
  return to;
}

/**
 * Unpacks every entry of a tar (or tar.gz already gunzipped) or zip stream under dir, which must exist and be
 * empty. Folders are created 0700, files 0600 and never overwritten (an entry twice is refused).
 */
export async function extractTree(input: Readable, kind: TreeKind, dir: string): Promise<void> {
  const root = path.resolve(dir);
  let entries = 0;
  const seen = new Set<string>();
  const writeFile = async (name: string, data: AsyncIterable<Buffer>) => {
    if (++entries > MAX_ENTRIES) throw unsupportedArchive(kind, `it holds more than ${MAX_ENTRIES} entries`);
    const to = destination(kind, root, name);
    if (seen.has(to)) throw unsupportedArchive(kind, `the entry ${JSON.stringify(name)} comes twice`);
    seen.add(to);
    await mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
    await pipeline(data, createWriteStream(to, { flags: 'wx', mode: 0o600 }));
  };
  if (kind === 'zip') {
    await unzipEach(input, async (name, data) => writeFile(name, data));
    return;
  }
  const extract = tarStream().extract();
  const feeding = pipeline(input, extract).catch((err: unknown) => {
    extract.destroy(err as Error);
  });
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      if (type === 'directory') {
        if (++entries > MAX_ENTRIES) throw unsupportedArchive(kind, `it holds more than ${MAX_ENTRIES} entries`);
        await mkdir(destination(kind, root, name), { recursive: true, mode: 0o700 });
        for await (const _ of entry);
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        checkEntryPath(kind, name);
        throw unsupportedArchive(kind, `the entry ${JSON.stringify(name)} is ${typeNames[type as string] ?? `of an unsupported type (${String(type)})`}`);
      }
      await writeFile(name, entry as AsyncIterable<Buffer>);
    }
    await feeding;
  } catch (err) {
    throw layerErrors(kind)(err);
  } finally {
    extract.destroy();
  }
}
