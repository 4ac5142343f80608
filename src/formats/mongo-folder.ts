// mongodump's default output, a folder rather than an archive: `<db>/<coll>.bson` (the documents, one BSON
// document after another) and `<coll>.metadata.json` (options, indexes, uuid, the real collection name),
// either possibly gzipped (`--gzip`: `.bson.gz`, `.metadata.json.gz`); at the top, `oplog.bson` (--oplog) and
// `prelude.json`. The folder is read into the same items an archive yields (mongo-archive.ts readArchive), so
// one restore path serves both. Accepted shapes, told from the layout, never from the folder's name:
// a dump root (one sub-folder per database), one database's folder (the `.bson` files directly; the database
// is the folder's name), and either of those wrapped in folders that hold nothing else (an unpacked tar).
// Files that fit no collection (`badfile.txt`, `c1.bin`, a nested folder) are listed as ignored, never read.

import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { failure, usageError } from '../core/errors.ts';
import { ARCHIVE_FORMAT_VERSION, bsonLib, readBsonDocuments, type ArchiveItem, type CollectionEntry } from './mongo-archive.ts';

const BSON_FILE = /\.bson(\.gz)?$/;
const METADATA_FILE = /\.metadata\.json(\.gz)?$/;
/** A metadata file is a few hundred bytes; more than this is not one. */
const MAX_METADATA = 16 * 1024 * 1024;
/** Folders of folders that hold nothing else are looked into this deep at most. */
const MAX_WRAPPING = 4;

export interface FolderCollection {
  db: string;
  collection: string;
  /** The documents file, when there is one (a view has only metadata). */
  bson?: string;
  /** The metadata as canonical Extended JSON text ('' when there is no metadata file). */
  metadata: string;
  type?: string;
}

export interface DumpFolder {
  root: string;
  collections: FolderCollection[];
  /** The top-level oplog.bson (mongodump --oplog), when present. */
  oplog?: string;
  /** Paths (relative to root) that fit no collection and are not read. */
  ignored: string[];
}

const isMember = (name: string) => BSON_FILE.test(name) || METADATA_FILE.test(name);
const isTopLevelFile = (name: string) => name === 'oplog.bson' || /^prelude\.json(\.gz)?$/.test(name);

/** Reads a small file whole, gunzipped when its name says gzip (the bytes then prove it or fail). */
export async function readMetadataFile(file: string): Promise<string> {
  const info = await stat(file);
  if (info.size > MAX_METADATA) throw usageError('MONGO_BAD_METADATA', `${file} is ${info.size} bytes: too large for a mongodump metadata file.`);
  const chunks: Buffer[] = [];
  let size = 0;
  const input = file.endsWith('.gz') ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_METADATA) throw usageError('MONGO_BAD_METADATA', `${file} unpacks to more than ${MAX_METADATA} bytes: not a mongodump metadata file.`);
      chunks.push(chunk);
    }
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('COFFRE_E_')) throw err;
    throw failure('ARCHIVE_CORRUPT', `${file} cannot be read (${(err as Error).message}): the dump folder is damaged.`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function decodeName(stem: string): string {
  try {
    return decodeURIComponent(stem);
  } catch {
    return stem;
  }
}

/** The collections of one database's folder, and what in it fits none. */
async function databaseFolder(dir: string, db: string, rel: string, ignored: string[]): Promise<FolderCollection[]> {
  const byStem = new Map<string, { bson?: string; metadata?: string }>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const where = path.join(rel, e.name);
    if (!e.isFile() || !isMember(e.name)) {
      ignored.push(e.isDirectory() ? `${where}/` : where);
      continue;
    }
    const stem = e.name.replace(METADATA_FILE, '').replace(BSON_FILE, '');
    const slot = byStem.get(stem) ?? {};
    if (METADATA_FILE.test(e.name)) slot.metadata = path.join(dir, e.name);
    else slot.bson = path.join(dir, e.name);
    byStem.set(stem, slot);
  }
  const out: FolderCollection[] = [];
  for (const [stem, files] of [...byStem].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const metadata = files.metadata ? await readMetadataFile(files.metadata) : '';
    let collection = decodeName(stem);
    let type: string | undefined;
    if (metadata) {
      let parsed: Record<string, unknown>;
      try {
        parsed = bsonLib().EJSON.parse(metadata, { relaxed: false }) as Record<string, unknown>;
      } catch {
        throw failure('ARCHIVE_CORRUPT', `${files.metadata} is not valid Extended JSON: the dump folder is damaged.`);
      }
      // Long names are cut in file names (and end in %24 and a hash): the metadata has the real one.
      if (typeof parsed.collectionName === 'string' && parsed.collectionName) collection = parsed.collectionName;
      if (typeof parsed.type === 'string') type = parsed.type;
      else if ((parsed.options as Record<string, unknown> | undefined)?.viewOn) type = 'view';
    }
    out.push({ db, collection, bson: files.bson, metadata, type });
  }
  return out;
}

/**
 * Looks at a folder's layout and returns the mongodump dump it holds, or undefined when it holds none
 * (no `.bson` or `.metadata.json` file where mongodump puts them, and no top-level oplog.bson).
 */
export async function scanDumpFolder(dir: string, depth = 0): Promise<DumpFolder | undefined> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile());
  const dirs = entries.filter((e) => e.isDirectory());
  const direct = files.filter((e) => isMember(e.name) && !isTopLevelFile(e.name));
  const dbDirs: string[] = [];
  for (const d of dirs) {
    const inside = await readdir(path.join(dir, d.name), { withFileTypes: true });
    if (inside.some((e) => e.isFile() && isMember(e.name) && !isTopLevelFile(e.name))) dbDirs.push(d.name);
  }
  const hasOplog = files.some((e) => e.name === 'oplog.bson');
  if (direct.length > 0 && dbDirs.length === 0) {
    const ignored: string[] = [];
    const collections = await databaseFolder(dir, path.basename(path.resolve(dir)), '', ignored);
    return { root: dir, collections, oplog: hasOplog ? path.join(dir, 'oplog.bson') : undefined, ignored };
  }
  if (dbDirs.length > 0 || hasOplog) {
    const ignored: string[] = [];
    for (const e of entries) {
      if (e.isFile() && !isTopLevelFile(e.name)) ignored.push(e.name);
      else if (e.isDirectory() && !dbDirs.includes(e.name)) ignored.push(`${e.name}/`);
    }
    const collections: FolderCollection[] = [];
    for (const db of dbDirs.sort()) collections.push(...(await databaseFolder(path.join(dir, db), db, db, ignored)));
    return { root: dir, collections, oplog: hasOplog ? path.join(dir, 'oplog.bson') : undefined, ignored };
  }
  if (dirs.length === 1 && files.length === 0 && depth < MAX_WRAPPING) return scanDumpFolder(path.join(dir, dirs[0].name), depth + 1);
  return undefined;
}

/** A file's documents as raw BSON, gunzipped when its name says gzip. */
export function bsonFileDocuments(file: string): AsyncGenerator<Buffer> {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  if (!file.endsWith('.gz')) return readBsonDocuments(raw, file);
  const gunzip = createGunzip();
  raw.on('error', (err) => gunzip.destroy(err));
  gunzip.on('error', () => {}); // surfaces through the iteration below
  return (async function* () {
    try {
      yield* readBsonDocuments(raw.pipe(gunzip), file);
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('COFFRE_E_')) throw err;
      throw failure('ARCHIVE_CORRUPT', `${file} cannot be read (${(err as Error).message}): the dump folder is damaged.`);
    } finally {
      raw.destroy();
      gunzip.destroy();
    }
  })();
}

/** Counts the documents of a BSON file (for the oplog entries coffre reports and does not replay). */
export async function countBsonDocuments(file: string): Promise<number> {
  let n = 0;
  for await (const _ of bsonFileDocuments(file)) n++;
  return n;
}

/** The folder's collections as archive items: a prelude, then each collection's documents and its end. */
export async function* folderItems(folder: DumpFolder): AsyncGenerator<ArchiveItem> {
  const collections: CollectionEntry[] = folder.collections.map((c) => ({
    db: c.db,
    collection: c.collection,
    metadata: c.metadata,
    size: 0,
    ...(c.type ? { type: c.type } : {}),
  }));
  yield { kind: 'prelude', header: { concurrentCollections: 1, version: ARCHIVE_FORMAT_VERSION, serverVersion: '', toolVersion: 'mongodump folder' }, collections };
  for (const c of folder.collections) {
    if (c.bson) for await (const bson of bsonFileDocuments(c.bson)) yield { kind: 'document', db: c.db, collection: c.collection, bson };
    yield { kind: 'end', db: c.db, collection: c.collection };
  }
}
