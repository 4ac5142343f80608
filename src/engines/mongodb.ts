// MongoDB engine, native: no mongodump on the machines, so the official driver reads and writes the
// mongodump archive format itself (formats/mongo-archive.ts). No child process is involved, so the password
// stays in the URL handed to the driver inside this process and is never in argv or an environment.
//
// Dump: the collection list, options and indexes are read first (they form the archive's prelude), then
// each collection is streamed with a cursor of raw BSON, pulled only as fast as the consumer reads.
// Like mongodump without --oplog, collections are read one after another, not as one snapshot.
//
// Restore: every collection of the archive is first created under a temporary name in the target
// database, filled by ordered batched inserts (the next batch is read only after the previous one is
// acknowledged, so memory stays bounded), indexed, and only when the whole archive has been read and
// every CRC matched are the temporary collections renamed to their real names (replacing the old ones
// with --replace). A damaged or interrupted restore therefore leaves the target as it was and drops its
// temporary collections. Why the same database and not a side database swapped in: renaming across
// databases does not exist on FerretDB (nor on sharded MongoDB), and a rename within a database is cheap
// everywhere. The switch itself (switchCollections) renames the old collections aside, the new ones into
// place, and only then drops the old: an error in the middle renames everything back.
//
// Known limits: a document's fields whose names look like integers ("1", "2") come back first when the
// driver rebuilds documents for insert (a JavaScript object rule). FerretDB v1 rejects validators,
// collations, views, TTL and partial indexes, text/hashed/geo indexes; archives that need them fail with
// COFFRE_E_MONGO_UNSUPPORTED naming the collection, and nothing is changed.

import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
// The driver is loaded on first use: importing it costs ~35 MB and most coffre commands never touch MongoDB.
import type { Db, Document, MongoClient } from 'mongodb';
import type { Connection } from '../core/connection.ts';
import type { AssertionResult, DrillSupport, DumpSource, Engine, RawFormat, RestoreOptions, RestoreResult, TargetState, ToolInfo } from '../core/types.ts';
import { CoffreError, conflict, failure, usageError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { lazy } from '../core/lazy.ts';
import { deserializeInOrder } from './mongo-order.ts';
import {
  ARCHIVE_FORMAT_VERSION,
  bsonLib,
  encodeArchive,
  readArchive,
  readBsonDocuments,
  type ArchiveItem,
  type CollectionEntry,
  type NamespaceSource,
} from '../formats/mongo-archive.ts';
import { countBsonDocuments, folderItems, readMetadataFile, scanDumpFolder } from '../formats/mongo-folder.ts';

const TOOL = 'coffre-mongo';
/** The MongoDB driver's version, read when a run first names it. */
const driverPackage = lazy<{ version: string }>('mongodb/package.json');
const SELECTION_TIMEOUT_MS = 5000;
const BATCH_DOCS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;
/** Databases that belong to the server, never restored into a user's database. */
const SERVER_DATABASES = new Set(['admin', 'config', 'local', '']);
/** Server error codes meaning "this server cannot do that" (NotImplemented, CommandNotSupported, InvalidOptions). */
const UNSUPPORTED_CODES = new Set([238, 115, 72]);

interface MongoLikeError {
  name?: string;
  message?: string;
  code?: number | string;
  codeName?: string;
}

/** Maps whatever the driver threw to a coded, redacted error a user can act on. */
function mongoError(err: unknown, conn: Connection, signal?: AbortSignal): CoffreError {
  if (err instanceof CoffreError) return err;
  if (signal?.aborted) return failure('INTERRUPTED', 'The MongoDB operation was interrupted.', { cause: err });
  const e = (err ?? {}) as MongoLikeError;
  const said = redact(String(e.message ?? err)).slice(0, 1000);
  const where = `${conn.host ?? '?'}${conn.port ? `:${conn.port}` : ''}`;
  if (e.name === 'MongoParseError' || e.name === 'MongoInvalidArgumentError' || e.name === 'MongoAPIError') {
    return usageError('BAD_URL', `The MongoDB target URL or a name in it is not valid: ${said}. Fix the URL (mongodb://user:pass@host:27017/db).`);
  }
  if (e.code === 18 || e.codeName === 'AuthenticationFailed' || /authentication failed/i.test(said)) {
    return failure('AUTH_FAILED', `MongoDB at ${where} refused the credentials (${said}). Check the user, password and authSource in the target URL.`, { cause: err });
  }
  if (e.code === 13 || e.codeName === 'Unauthorized') {
    return failure('NOT_AUTHORIZED', `The MongoDB user may not do this on "${conn.database}" (${said}). Grant it the backup/restore roles, or use another user.`, { cause: err });
  }
  if (e.name === 'MongoServerSelectionError' || e.name === 'MongoTopologyClosedError') {
    return failure('UNREACHABLE', `Cannot reach MongoDB at ${where} within ${SELECTION_TIMEOUT_MS / 1000} s (${said}). Check the host, the port and that the server is running.`, {
      cause: err,
      retryable: true,
    });
  }
  if (e.name === 'MongoNetworkError' || e.name === 'MongoNetworkTimeoutError') {
    return failure('CONNECTION_LOST', `The connection to MongoDB at ${where} was lost (${said}). Try again.`, { cause: err, retryable: true });
  }
  if (typeof e.code === 'number' && UNSUPPORTED_CODES.has(e.code)) {
    return failure('MONGO_UNSUPPORTED', `The MongoDB server does not support what was asked (${said}).`, { cause: err });
  }
  return failure('MONGO_FAILED', `MongoDB failed: ${said}`, { cause: err });
}

async function openClient(conn: Connection): Promise<MongoClient> {
  const { MongoClient } = await import('mongodb');
  try {
    return new MongoClient(conn.url, { serverSelectionTimeoutMS: SELECTION_TIMEOUT_MS, connectTimeoutMS: SELECTION_TIMEOUT_MS, appName: 'coffre' });
  } catch (err) {
    throw mongoError(err, conn);
  }
}

/** Runs fn with a connected client, closes it whatever happens, and maps errors. */
async function withClient<T>(conn: Connection, signal: AbortSignal | undefined, fn: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = await openClient(conn);
  const onAbort = () => void client.close(true).catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw failure('INTERRUPTED', 'The MongoDB operation was interrupted.');
    await client.connect();
    return await fn(client);
  } catch (err) {
    throw mongoError(err, conn, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await client.close().catch(() => {});
  }
}

interface ServerVersions {
  /** The MongoDB version the server reports (what the archive header needs: a plain x.y.z). */
  version: string;
  /** The same for people: FerretDB says so. */
  display: string;
  ferret: boolean;
}

async function serverVersions(client: MongoClient): Promise<ServerVersions> {
  const info = await client.db('admin').command({ buildInfo: 1 });
  const version = String(info.version ?? 'unknown');
  const ferret = Boolean(info.ferretdbVersion);
  return { version, display: ferret ? `${version} (FerretDB ${info.ferretdbVersion})` : version, ferret };
}

/**
 * What in these documents FerretDB v1 cannot store, if anything. It drops the connection on some of
 * them (Decimal128, MinKey...), so its error says nothing useful; this says what to look for.
 */
function ferretCannotStore(docs: Document[]): string | undefined {
  const found = new Set<string>();
  const visit = (value: unknown, inArray: boolean): void => {
    if (value instanceof bsonLib().Decimal128) found.add('Decimal128 values');
    else if (value instanceof bsonLib().Double) {
      if (!Number.isFinite(value.value)) found.add('NaN or infinite doubles');
    } else if (value instanceof bsonLib().MinKey || value instanceof bsonLib().MaxKey) found.add('MinKey/MaxKey values');
    else if (value instanceof bsonLib().Code) found.add('JavaScript code values');
    else if (value instanceof bsonLib().BSONSymbol) found.add('symbol values');
    else if (Array.isArray(value)) {
      if (inArray) found.add('arrays directly inside arrays');
      for (const v of value) visit(v, true);
    } else if (value && typeof value === 'object' && !(value instanceof Date) && (value as { _bsontype?: string })._bsontype === undefined) {
      for (const [k, v] of Object.entries(value)) {
        if (k.startsWith('$') || k.includes('.')) found.add('field names starting with "$" or holding "."');
        visit(v, false);
      }
    }
  };
  for (const d of docs) visit(d, false);
  return found.size > 0 ? [...found].join(', ') : undefined;
}

async function databaseExists(client: MongoClient, name: string): Promise<boolean> {
  const res = await client.db('admin').command({ listDatabases: 1, nameOnly: true, authorizedDatabases: true });
  return (res.databases as Array<{ name: string }>).some((d) => d.name === name);
}

const isUserCollection = (name: string) => !name.startsWith('system.');

async function userCollections(db: Db): Promise<Document[]> {
  const all = await db.listCollections({}, { nameOnly: false }).toArray();
  return all.filter((c) => isUserCollection(String(c.name))).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The collection's UUID as mongodump writes it (32 hex digits). Checked by shape, not `instanceof`: the
 * driver's Binary objects and those of the bson coffre loads need not be of one copy of the package.
 */
export function uuidHex(info: unknown): string | undefined {
  const u = (info as { uuid?: unknown } | undefined)?.uuid as { _bsontype?: unknown; sub_type?: unknown; buffer?: unknown } | string | undefined;
  if (u && typeof u === 'object' && u._bsontype === 'Binary' && u.sub_type === 4 && u.buffer instanceof Uint8Array && u.buffer.length === 16) {
    return Buffer.from(u.buffer).toString('hex');
  }
  if (typeof u === 'string' && /^[0-9a-f-]{32,36}$/i.test(u)) return u.replace(/-/g, '').toLowerCase();
  return undefined;
}

/** The metadata JSON mongodump writes for a collection: options, indexes, uuid, name, type. */
async function collectionMetadata(db: Db, c: Document): Promise<string> {
  const type = String(c.type ?? 'collection');
  const meta: Document = {};
  if (c.options && Object.keys(c.options).length > 0) meta.options = c.options;
  meta.indexes = type === 'collection' ? await db.collection(String(c.name)).listIndexes().toArray() : [];
  const uuid = uuidHex(c.info);
  if (uuid) meta.uuid = uuid;
  meta.collectionName = c.name;
  meta.type = type;
  return bsonLib().EJSON.stringify(meta, { relaxed: false });
}

async function probe(conn: Connection, signal?: AbortSignal): Promise<ToolInfo> {
  return withClient(conn, signal, async (client) => {
    const v = await serverVersions(client);
    await client.db(conn.database).command({ ping: 1 });
    return { tool: TOOL, clientVersion: driverPackage().version, serverVersion: v.display };
  });
}

async function inspect(conn: Connection, signal?: AbortSignal): Promise<TargetState> {
  return withClient(conn, signal, async (client) => {
    if (!(await databaseExists(client, conn.database))) return { exists: false, empty: true };
    const colls = await userCollections(client.db(conn.database));
    return { exists: true, empty: colls.length === 0 };
  });
}

async function dump(conn: Connection, options: { signal?: AbortSignal }): Promise<DumpSource> {
  const { signal } = options;
  // Documents written per collection: the row counts restore drills check (counted as they are archived).
  const counts: Record<string, number> = {};
  async function* counted(name: string, docs: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const d of docs) {
      counts[name]++;
      yield d;
    }
  }
  const client = await openClient(conn);
  let versions: ServerVersions;
  let namespaces: NamespaceSource[];
  try {
    if (signal?.aborted) throw failure('INTERRUPTED', 'The MongoDB dump was interrupted.');
    await client.connect();
    versions = await serverVersions(client);
    if (!(await databaseExists(client, conn.database))) {
      throw failure('DATABASE_NOT_FOUND', `The MongoDB database "${conn.database}" does not exist on ${conn.host ?? 'the server'}: check the database name in the target URL.`);
    }
    const db = client.db(conn.database);
    namespaces = [];
    for (const c of await userCollections(db)) {
      const name = String(c.name);
      const type = String(c.type ?? 'collection');
      const entry: CollectionEntry = { db: conn.database, collection: name, metadata: await collectionMetadata(db, c), size: 0, type };
      if (type === 'collection') counts[name] = 0;
      namespaces.push({
        entry,
        documents: () =>
          type === 'collection' ? counted(name, db.collection(name).find({}, { raw: true, batchSize: 1000 }) as unknown as AsyncIterable<Uint8Array>) : emptyDocs(),
      });
    }
  } catch (err) {
    await client.close(true).catch(() => {});
    throw mongoError(err, conn, signal);
  }
  const header = { concurrentCollections: 1, version: ARCHIVE_FORMAT_VERSION, serverVersion: versions.version, toolVersion: `${TOOL} ${driverPackage().version}` };
  async function* guarded(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of encodeArchive(header, namespaces)) {
        if (signal?.aborted) throw failure('INTERRUPTED', 'The MongoDB dump was interrupted.');
        yield chunk;
      }
    } catch (err) {
      throw mongoError(err, conn, signal);
    } finally {
      await client.close().catch(() => {});
    }
  }
  const stream = Readable.from(guarded(), { objectMode: false, highWaterMark: 1024 * 1024 });
  // A stream destroyed before its first read never enters the generator, so its finally never runs.
  stream.once('close', () => void client.close().catch(() => {}));
  if (signal) {
    const onAbort = () => {
      stream.destroy(failure('INTERRUPTED', 'The MongoDB dump was interrupted.'));
      void client.close(true).catch(() => {});
    };
    signal.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return {
    stream,
    format: 'mongo-archive',
    tool: TOOL,
    clientVersion: driverPackage().version,
    serverVersion: versions.display,
    rowCounts: () => ({ method: 'bson-documents', tables: { ...counts } }),
  };
}

async function* emptyDocs(): AsyncGenerator<Uint8Array> {}

/** The input as chunks, gunzipped first when it is a whole-file gzip (mongodump --gzip --archive). */
async function* plainArchiveBytes(input: Readable, onProgress?: (bytes: number) => void): AsyncGenerator<Buffer> {
  let seen = 0;
  const counted = async function* () {
    for await (const chunk of input) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
      seen += b.length;
      onProgress?.(seen);
      yield b;
    }
  };
  const it = counted();
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  const rest = async function* () {
    yield head;
    yield* it;
  };
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    yield* Readable.from(rest()).pipe(createGunzip()) as AsyncIterable<Buffer>;
  } else {
    yield* rest();
  }
}

interface Planned {
  entry: CollectionEntry;
  name: string;
  temp: string;
  type: string;
  options: Document;
  indexes: Document[];
}

function parseMetadata(entry: CollectionEntry): { options: Document; indexes: Document[]; type?: string } {
  if (!entry.metadata) return { options: {}, indexes: [] };
  try {
    const m = bsonLib().EJSON.parse(entry.metadata, { relaxed: false }) as Document;
    return { options: (m.options as Document) ?? {}, indexes: Array.isArray(m.indexes) ? (m.indexes as Document[]) : [], type: typeof m.type === 'string' ? m.type : undefined };
  } catch {
    throw failure('ARCHIVE_CORRUPT', `The MongoDB archive's metadata for ${entry.db}.${entry.collection} is not valid Extended JSON: use another backup.`);
  }
}

/** Index specs as createIndexes accepts them: no _id index, no server-assigned fields. */
function indexSpecs(indexes: Document[]): Document[] {
  return indexes
    .filter((ix) => ix.name !== '_id_')
    .map((ix) => {
      const { v: _v, ns: _ns, background: _bg, ...rest } = ix;
      return rest;
    });
}

/** Whether an index key pattern has only values today's servers take: non-zero numbers or an index type name. */
function validIndexKey(key: unknown): boolean {
  if (!key || typeof key !== 'object') return false;
  return Object.values(key as Record<string, unknown>).every((v) => {
    const t = (v as { _bsontype?: string } | null)?._bsontype;
    const n = typeof v === 'number' ? v : t === 'Int32' || t === 'Double' ? Number((v as { value: number }).value) : t === 'Long' ? Number(v as never) : undefined;
    if (n !== undefined) return Number.isFinite(n) && n !== 0;
    return typeof v === 'string' && v.length > 0;
  });
}

function unsupported(err: unknown, what: string, conn: Connection): CoffreError {
  const e = err as MongoLikeError;
  if (e?.code === 11000 || /UNIQUE constraint failed|E11000|duplicate key/i.test(String(e?.message))) {
    return failure(
      'MONGO_DUPLICATE_KEY',
      `The documents of ${what.replace(/^the indexes of /, '')} break one of its unique indexes (two documents share a key), so the index cannot be built. Nothing was changed: the dump is inconsistent (a dump taken with --oplog needs its oplog replayed, which coffre does not do).`,
      { cause: err },
    );
  }
  if (typeof e?.code === 'number' && (UNSUPPORTED_CODES.has(e.code) || e.code === 27 || e.code === 2 || e.code === 67)) {
    return failure(
      'MONGO_UNSUPPORTED',
      `The MongoDB server cannot create ${what} as the archive describes it (${redact(String(e.message)).slice(0, 500)}). Nothing was changed: restore into a server that supports it.`,
      { cause: err },
    );
  }
  return mongoError(err, conn);
}

async function rename(client: MongoClient, dbName: string, from: string, to: string): Promise<void> {
  try {
    await client.db('admin').command({ renameCollection: `${dbName}.${from}`, to: `${dbName}.${to}` });
  } catch (err) {
    if (!/Invalid (collection name|target namespace|namespace)/i.test(String((err as MongoLikeError)?.message))) throw err;
    const name = from.startsWith('coffre_') ? to : from;
    throw failure(
      'MONGO_UNSUPPORTED',
      `The MongoDB server refuses the collection name "${name.length > 80 ? `${name.slice(0, 80)}…` : name}" (${Buffer.byteLength(name)} bytes) in database "${dbName}". Nothing was changed: restore into a server that accepts it.`,
      { cause: err },
    );
  }
}

/**
 * FerretDB refuses any rename whose source or target name holds a dot ("Invalid namespace"), though the
 * name itself is legal and the collection can be created: a collection such as `a.b` is therefore moved by
 * a copy (options, documents in bounded batches, indexes) instead of a rename, on every server alike.
 */
const movedByCopy = (name: string) => name.includes('.');

/** Copies a collection under a new name: its options, its documents (batch by batch) and its indexes. */
async function cloneCollection(client: MongoClient, dbName: string, from: string, to: string): Promise<void> {
  const db = client.db(dbName);
  const [info] = await db.listCollections({ name: from }, { nameOnly: false }).toArray();
  const { autoIndexId: _a, idIndex: _i, ...options } = (info?.options as Document | undefined) ?? {};
  await db.command({ create: to, ...options });
  const target = db.collection(to);
  let batch: Document[] = [];
  let bytes = 0;
  for await (const raw of db.collection(from).find({}, { raw: true, batchSize: BATCH_DOCS }) as unknown as AsyncIterable<Uint8Array>) {
    batch.push(deserializeInOrder(Buffer.from(raw)));
    bytes += raw.length;
    if (batch.length >= BATCH_DOCS || bytes >= BATCH_BYTES) {
      await target.insertMany(batch, { ordered: true, bypassDocumentValidation: true });
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) await target.insertMany(batch, { ordered: true, bypassDocumentValidation: true });
  const specs = indexSpecs(await db.collection(from).listIndexes().toArray());
  if (specs.length > 0) await db.command({ createIndexes: to, indexes: specs });
}

/** Moves a collection to a new name: a rename, or a copy and a drop for a dotted name (movedByCopy). */
async function move(client: MongoClient, dbName: string, from: string, to: string): Promise<void> {
  if (!movedByCopy(from) && !movedByCopy(to)) return rename(client, dbName, from, to);
  await cloneCollection(client, dbName, from, to);
  await client.db(dbName).collection(from).drop();
}

/**
 * Puts the restored collections in place of the old ones, all or nothing when an error strikes: the old
 * collections that will be replaced are first moved aside, then the temporary ones take the real names,
 * and only then are the set-aside and the other old collections dropped. A failure before the drops moves
 * everything back, so the target is as it was. (Renames, or copies for dotted names: FerretDB has no
 * dropTarget, no rename across databases and no rename of a dotted name.) A crash in the middle leaves
 * every collection under its own name or an aside name (`coffre_old_<tag>_<name>`, `coffre_old_<tag>_<n>`
 * for a dotted name), never lost.
 */
export async function switchCollections(
  client: MongoClient,
  dbName: string,
  tag: string,
  collections: Array<Pick<Planned, 'name' | 'temp'>>,
  existing: Set<string>,
): Promise<void> {
  const aside: Array<[name: string, asideName: string]> = [];
  const placed: Array<Pick<Planned, 'name' | 'temp'>> = [];
  try {
    for (const [i, p] of collections.entries()) {
      if (!existing.has(p.name)) continue;
      const asideName = movedByCopy(p.name) || p.name.length > 64 ? `coffre_old_${tag}_${i}` : `coffre_old_${tag}_${p.name}`;
      await move(client, dbName, p.name, asideName);
      aside.push([p.name, asideName]);
    }
    for (const p of collections) {
      await move(client, dbName, p.temp, p.name);
      placed.push(p);
    }
  } catch (err) {
    for (const p of placed.reverse()) await move(client, dbName, p.name, p.temp).catch(() => {});
    for (const [name, asideName] of aside.reverse()) {
      // A half-made copy under the real name goes first, or the way back would collide with it.
      if (movedByCopy(name))
        await client
          .db(dbName)
          .collection(name)
          .drop()
          .catch(() => {});
      await move(client, dbName, asideName, name).catch(() => {});
    }
    throw err;
  }
  const db = client.db(dbName);
  for (const [, asideName] of aside) await db.collection(asideName).drop();
  const replaced = new Set(collections.map((p) => p.name));
  for (const name of existing) if (!replaced.has(name)) await db.collection(name).drop();
}

/** The collection a lone `.bson` file restores into: its file name without `.bson` (and `.gz`), percent-decoded. */
export function collectionFromFileName(sourceName: string | undefined): string | undefined {
  const base = sourceName ? path.basename(sourceName) : '';
  const m = /^(.+?)\.bson(\.gz|\.zst)?$/i.exec(base);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

async function restore(conn: Connection, input: Readable | string, format: RawFormat, options: RestoreOptions): Promise<RestoreResult> {
  const notes: string[] = [];
  let items: () => AsyncIterable<ArchiveItem>;
  if (format === 'mongo-archive' && typeof input !== 'string') {
    items = () => readArchive(plainArchiveBytes(input, options.onProgress));
  } else if (format === 'mongo-directory' && typeof input === 'string') {
    const folder = await scanDumpFolder(input);
    if (!folder) throw usageError('UNKNOWN_FORMAT', `The folder ${input} holds no mongodump output (no <db>/<collection>.bson or .metadata.json files).`);
    if (folder.ignored.length > 0)
      notes.push(`ignored ${folder.ignored.length} file(s) that belong to no collection: ${folder.ignored.slice(0, 10).join(', ')}${folder.ignored.length > 10 ? ', …' : ''}`);
    if (folder.oplog) {
      const n = await countBsonDocuments(folder.oplog);
      if (n > 0) notes.push(oplogNote(n));
    }
    if (folder.collections.length === 0) {
      throw usageError('MONGO_NOTHING_TO_RESTORE', `The mongodump folder ${input} holds no collection${notes.length ? ` (${notes.join('; ')})` : ''}: nothing to restore.`);
    }
    items = () => folderItems(folder);
  } else if (format === 'mongo-bson' && typeof input !== 'string') {
    const collection = collectionFromFileName(options.sourceName);
    if (!collection) {
      input.destroy();
      throw usageError(
        'MONGO_COLLECTION_NAME',
        "The input is a lone BSON file (mongodump's <collection>.bson): its bytes do not name the collection, which coffre takes from the file name. Give it as a file named <collection>.bson (not on standard input).",
      );
    }
    const metadata = options.sourceName ? await siblingMetadata(options.sourceName) : '';
    items = () => singleCollectionItems(conn.database, collection, metadata, input, options.sourceName ?? 'the input');
  } else {
    throw usageError('WRONG_FORMAT', `The MongoDB engine restores mongodump output (an archive, a dump folder or a .bson file), not "${format}" input.`);
  }
  return restoreItems(conn, items, options, notes);
}

function oplogNote(entries: number): string {
  return `${entries} oplog entr${entries === 1 ? 'y was' : 'ies were'} not replayed (coffre restores the collections as dumped; mongorestore --oplogReplay replays them)`;
}

/** The `<stem>.metadata.json(.gz)` beside a lone `<stem>.bson(.gz)`, as mongorestore reads it, or ''. */
async function siblingMetadata(file: string): Promise<string> {
  const stem = file.replace(/\.bson(\.gz|\.zst)?$/i, '');
  for (const candidate of [`${stem}.metadata.json`, `${stem}.metadata.json.gz`]) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isFile()) {
      const text = await readMetadataFile(candidate);
      try {
        bsonLib().EJSON.parse(text, { relaxed: false });
      } catch {
        throw failure('ARCHIVE_CORRUPT', `${candidate} is not valid Extended JSON: fix or remove it.`);
      }
      return text;
    }
  }
  return '';
}

/** Whether a document is an oplog entry (ts, op and ns fields), as in mongodump's oplog.bson. */
function isOplogEntry(raw: Buffer): boolean {
  const d = bsonLib().deserialize(raw) as Document;
  return (d.ts as { _bsontype?: string } | undefined)?._bsontype === 'Timestamp' && typeof d.op === 'string' && typeof d.ns === 'string';
}

async function* singleCollectionItems(db: string, collection: string, metadata: string, input: Readable, where: string): AsyncGenerator<ArchiveItem> {
  yield {
    kind: 'prelude',
    header: { concurrentCollections: 1, version: ARCHIVE_FORMAT_VERSION, serverVersion: '', toolVersion: 'bson file' },
    collections: [{ db, collection, metadata, size: 0 }],
  };
  let first = true;
  for await (const bson of readBsonDocuments(input, where)) {
    if (first && isOplogEntry(bson)) {
      throw usageError(
        'MONGO_OPLOG_FILE',
        `${where} holds oplog entries (mongodump --oplog's oplog.bson), not a collection's documents: coffre does not replay oplogs (mongorestore --oplogReplay does). Restore the dump folder it came with instead.`,
      );
    }
    first = false;
    yield { kind: 'document', db, collection, bson };
  }
  yield { kind: 'end', db, collection };
}

async function restoreItems(conn: Connection, items: () => AsyncIterable<ArchiveItem>, options: RestoreOptions, notes: string[]): Promise<RestoreResult> {
  const { signal } = options;
  return withClient(conn, signal, async (client) => {
    const versions = await serverVersions(client);
    const db = client.db(conn.database);
    const before = await userCollections(db);
    if (before.length > 0 && !options.replace) {
      throw conflict(
        'TARGET_NOT_EMPTY',
        `The MongoDB database "${conn.database}" already holds ${before.length} collection(s): pass {hint} to overwrite it, or restore into an empty database.`,
        { database: conn.database },
        { flag: 'replace' },
      );
    }
    const tag = randomBytes(4).toString('hex');
    const planned = new Map<string, Planned>();
    let oplogEntries = 0;
    const created: string[] = [];
    try {
      let batch: Document[] = [];
      let batchBytes = 0;
      let batchFor: Planned | undefined;
      const flush = async () => {
        if (batchFor && batch.length > 0) {
          try {
            await db.collection(batchFor.temp).insertMany(batch, { ordered: true, bypassDocumentValidation: true });
          } catch (err) {
            const missing = versions.ferret ? ferretCannotStore(batch) : undefined;
            if (!missing) throw err;
            throw failure(
              'MONGO_UNSUPPORTED',
              `FerretDB cannot store the documents of collection "${batchFor.name}": they hold ${missing}. Nothing was changed: restore into a MongoDB server.`,
              { cause: err },
            );
          }
        }
        batch = [];
        batchBytes = 0;
      };
      for await (const item of items()) {
        if (signal?.aborted) throw failure('INTERRUPTED', 'The MongoDB restore was interrupted.');
        if (item.kind === 'prelude') {
          const skipped = item.collections.filter((c) => SERVER_DATABASES.has(c.db) || !isUserCollection(c.collection));
          const shown = skipped.filter((c) => !isOplog(c)).map((c) => `${c.db}.${c.collection}`);
          if (shown.length > 0) notes.push(`skipped server collections ${shown.join(', ')}`);
          let wanted = item.collections.filter((c) => !skipped.includes(c));
          const dbs = [...new Set(wanted.map((c) => c.db))].sort();
          if (options.database !== undefined) {
            if (!dbs.includes(options.database)) {
              throw usageError(
                'DATABASE_NOT_IN_DUMP',
                `The dump holds no database "${options.database}": it holds ${dbs.length ? dbs.join(', ') : 'no user database'}. Pick one of them ({hint}).`,
                { databases: dbs },
                { database: 'NAME' },
              );
            }
            wanted = wanted.filter((c) => c.db === options.database);
            if (dbs.length > 1) notes.push(`restored database ${options.database} of ${dbs.join(', ')}`);
          } else if (dbs.length > 1) {
            throw usageError(
              'MONGO_MANY_DATABASES',
              `The dump holds ${dbs.length} databases (${dbs.join(', ')}) and a target is one database: pick one with {hint} (once per database).`,
              { databases: dbs },
              { database: 'NAME' },
            );
          }
          if (wanted.length === 0 && item.collections.length > 0 && skipped.length === item.collections.length) {
            throw usageError(
              'MONGO_NOTHING_TO_RESTORE',
              `The dump holds only server collections (${shown.join(', ') || 'an oplog'}), which coffre never restores into a user database: nothing to restore.`,
            );
          }
          for (const entry of wanted) {
            const meta = parseMetadata(entry);
            const type = entry.type ?? meta.type ?? 'collection';
            if (type === 'timeseries') {
              throw failure('MONGO_UNSUPPORTED', `The archive holds the time-series collection "${entry.collection}", which coffre cannot restore: use mongorestore for it.`);
            }
            const temp = movedByCopy(entry.collection) || entry.collection.length > 64 ? `coffre_tmp_${tag}_${planned.size}` : `coffre_tmp_${tag}_${entry.collection}`;
            const p: Planned = { entry, name: entry.collection, temp, type, options: meta.options, indexes: meta.indexes };
            planned.set(`${entry.db}.${entry.collection}`, p);
            if (type !== 'collection') continue;
            const { autoIndexId: _a, idIndex: _i, ...createOptions } = p.options;
            try {
              await db.command({ create: p.temp, ...createOptions });
            } catch (err) {
              throw unsupported(err, `collection "${p.name}" with options ${bsonLib().EJSON.stringify(createOptions)}`, conn);
            }
            created.push(p.temp);
          }
          continue;
        }
        if (isOplog(item)) {
          if (item.kind === 'document') oplogEntries++;
          continue;
        }
        const p = planned.get(`${item.db}.${item.collection}`);
        if (p?.type !== 'collection') continue; // server collections, other databases, views' (empty) namespaces
        if (item.kind === 'document') {
          if (batchFor !== p) {
            await flush();
            batchFor = p;
          }
          batch.push(deserializeInOrder(item.bson));
          batchBytes += item.bson.length;
          if (batch.length >= BATCH_DOCS || batchBytes >= BATCH_BYTES) await flush();
        } else {
          if (batchFor === p) await flush();
          const specs = indexSpecs(p.indexes);
          const legacy = specs.find((spec) => !validIndexKey(spec.key));
          if (legacy) {
            throw failure(
              'MONGO_UNSUPPORTED',
              `The index "${String(legacy.name)}" of "${p.name}" has a key pattern only MongoDB before 3.4 accepted (${bsonLib().EJSON.stringify(legacy.key)}): a value that is not 1, -1 or an index type. Nothing was changed: fix the metadata (mongorestore --convertLegacyIndexes does) or restore into a server that takes it.`,
            );
          }
          if (specs.length > 0) {
            try {
              await db.command({ createIndexes: p.temp, indexes: specs });
            } catch (err) {
              throw unsupported(err, `the indexes of "${p.name}" (${specs.map((s) => s.name).join(', ')})`, conn);
            }
          }
        }
      }
      if (oplogEntries > 0) notes.push(oplogNote(oplogEntries));
      // The whole archive was read and checked: put the new collections in place.
      const collections = [...planned.values()].filter((p) => p.type === 'collection');
      const incoming = new Set(collections.map((p) => p.name));
      // A view cannot be renamed aside; one in the way of a restored collection goes first (views are recreated below).
      for (const c of before) if (c.type === 'view' && incoming.has(String(c.name))) await db.collection(String(c.name)).drop();
      const existing = new Set(before.filter((c) => !(c.type === 'view' && incoming.has(String(c.name)))).map((c) => String(c.name)));
      await switchCollections(client, conn.database, tag, collections, existing);
      created.length = 0;
      for (const p of planned.values()) {
        if (p.type !== 'view') continue;
        try {
          await db.command({ create: p.name, ...p.options });
        } catch (err) {
          throw unsupported(err, `the view "${p.name}"`, conn);
        }
      }
    } catch (err) {
      for (const temp of created)
        await db
          .collection(temp)
          .drop()
          .catch(() => {});
      throw err;
    }
    return { tool: TOOL, clientVersion: driverPackage().version, serverVersion: versions.display, database: conn.database, notes };
  });
}

/** The oplog of a `mongodump --oplog --archive` (namespace ".oplog"): counted and reported, not replayed. */
const isOplog = (c: { db: string; collection: string }) => c.db === '' && c.collection === 'oplog';

/** Operators refused in a drill assertion's filter: they run server-side JavaScript. */
const CODE_OPERATORS = new Set(['$where', '$function', '$accumulator']);

function refuseCode(value: unknown): void {
  if (Array.isArray(value)) value.forEach(refuseCode);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (CODE_OPERATORS.has(k)) throw usageError('BAD_DRILL_ASSERTION', `A MongoDB drill assertion's filter may not use ${k} (server-side JavaScript).`, { field: 'drillAssert' });
      refuseCode(v);
    }
  }
}

/** A MongoDB drill assertion: {"collection": "orders", "filter": {...}, "min": 1000, "max": N}, checked. */
export function parseMongoAssertion(text: string): { collection: string; filter: Document; min: number; max?: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw usageError('BAD_DRILL_ASSERTION', 'A MongoDB drill assertion is JSON: {"collection": "orders", "filter": {...}, "min": 1000}.', { field: 'drillAssert' });
  }
  const a = parsed as { collection?: unknown; filter?: unknown; min?: unknown; max?: unknown };
  if (!a || typeof a !== 'object' || Array.isArray(a) || typeof a.collection !== 'string' || !a.collection) {
    throw usageError('BAD_DRILL_ASSERTION', 'A MongoDB drill assertion names its "collection": {"collection": "orders", "filter": {...}, "min": 1000}.', { field: 'drillAssert' });
  }
  const extra = Object.keys(a).filter((k) => !['collection', 'filter', 'min', 'max'].includes(k));
  if (extra.length)
    throw usageError('BAD_DRILL_ASSERTION', `A MongoDB drill assertion has only collection, filter, min and max (not ${extra.join(', ')}).`, { field: 'drillAssert' });
  if (a.filter !== undefined && (typeof a.filter !== 'object' || a.filter === null || Array.isArray(a.filter)))
    throw usageError('BAD_DRILL_ASSERTION', 'A MongoDB drill assertion\'s "filter" is an object.', { field: 'drillAssert' });
  for (const k of ['min', 'max'] as const) {
    if (a[k] !== undefined && (typeof a[k] !== 'number' || !Number.isInteger(a[k]) || (a[k] as number) < 0))
      throw usageError('BAD_DRILL_ASSERTION', `A MongoDB drill assertion's "${k}" is a whole number of documents.`, { field: 'drillAssert' });
  }
  refuseCode(a.filter);
  const filter = bsonLib().EJSON.deserialize((a.filter ?? {}) as Document, { relaxed: true }) as Document;
  return { collection: a.collection, filter, min: (a.min as number | undefined) ?? 1, max: a.max as number | undefined };
}

/** Restore drills on a scratch database: countDocuments per collection, assertions as counted filters with maxTimeMS. */
const drill: DrillSupport = {
  async checkAssertion(assertion) {
    parseMongoAssertion(assertion);
  },

  async drop(conn, signal) {
    await withClient(conn, signal, async (client) => {
      if (await databaseExists(client, conn.database)) await client.db(conn.database).dropDatabase();
    });
  },

  async countRows(conn, tables, signal) {
    return withClient(conn, signal, async (client) => {
      const db = client.db(conn.database);
      const present = new Set((await userCollections(db)).filter((c) => String(c.type ?? 'collection') === 'collection').map((c) => String(c.name)));
      const out: Record<string, number | null> = {};
      for (const t of tables) out[t] = present.has(t) ? await db.collection(t).countDocuments({}) : null;
      return out;
    });
  },

  async assert(conn, assertion, timeoutMs, signal): Promise<AssertionResult> {
    const a = parseMongoAssertion(assertion);
    const timer = AbortSignal.timeout(timeoutMs + 5000);
    try {
      return await withClient(conn, signal ? AbortSignal.any([signal, timer]) : timer, async (client) => {
        const n = await client
          .db(conn.database)
          .collection(a.collection)
          .countDocuments(a.filter, { maxTimeMS: Math.max(1, Math.floor(timeoutMs)) });
        return { ok: n >= a.min && (a.max === undefined || n <= a.max), value: `${n} document(s) (want ${a.max === undefined ? `at least ${a.min}` : `${a.min} to ${a.max}`})` };
      });
    } catch (err) {
      if (timer.aborted || /MaxTimeMSExpired|time limit/i.test(String((err as Error).message)))
        throw failure('DRILL_ASSERTION_TIMEOUT', `The assertion ran longer than its ${timeoutMs / 1000} s timeout and was cancelled.`);
      if (signal?.aborted) throw err;
      throw failure('DRILL_ASSERTION_ERROR', `The MongoDB server refused the assertion: ${redact((err as Error).message)}`);
    }
  },
};

export const mongodb = {
  name: 'mongodb',
  restores: ['mongo-archive', 'mongo-directory', 'mongo-bson'],
  extension: 'archive',
  probe,
  dump,
  inspect,
  restore,
  drill,
  systemDatabases: ['admin', 'local', 'config'],
  async listDatabases(conn: Connection, signal?: AbortSignal): Promise<string[]> {
    return withClient(conn, signal, async (client) => {
      const res = await client.db('admin').command({ listDatabases: 1, nameOnly: true, authorizedDatabases: true });
      return ((res.databases ?? []) as Array<{ name: string }>).map((d) => d.name).sort();
    });
  },
} satisfies Engine;
