// The mongodump archive format (mongo-tools common/archive/spec.md), written and read natively so that
// coffre needs no mongodump: `mongorestore --archive` reads what we write, and we read what mongodump
// writes. Layout: magic 0x8199e26d (little-endian), a header document, one metadata document per
// collection, a terminator (0xffffffff); then blocks, each a namespace header document, its documents
// and a terminator; every namespace ends with an EOF header carrying the CRC-64 (Go's crc64.ECMA table,
// i.e. CRC-64/XZ) of all its document bytes. Documents stay raw BSON from end to end: the writer
// copies the driver's buffers, the reader hands out slices, and neither ever holds a whole collection.

import { lazy } from '../core/lazy.ts';
import { failure, type CoffreError } from '../core/errors.ts';

const bsonPackage = lazy<typeof import('bson')>('bson');

/** bson's BSON, loaded on first use (core/lazy.ts): the MongoDB engine's files share this one. */
export const bsonLib = (): typeof import('bson').BSON => bsonPackage().BSON;

export const ARCHIVE_MAGIC = 0x8199e26d;
export const ARCHIVE_FORMAT_VERSION = '0.1';
const TERMINATOR = 0xffffffff;
const MIN_BSON = 5;
/** Largest document a server accepts (16 MiB) plus the slack mongo-tools allows for internal documents. */
const MAX_BSON = 16 * 1024 * 1024 + 16 * 1024;
/** Output is gathered into chunks of about this size before it is handed to the stream. */
const CHUNK = 256 * 1024;

export interface ArchiveHeader {
  concurrentCollections: number;
  /** Archive format version; "0.1" is the only one. */
  version: string;
  serverVersion: string;
  toolVersion: string;
}

/** One collection (or view) as listed in the prelude. */
export interface CollectionEntry {
  db: string;
  collection: string;
  /** Options and indexes as canonical Extended JSON, exactly what mongodump puts in metadata.json. */
  metadata: string;
  /** Uncompressed size of the data in bytes (informative; 0 when unknown). */
  size: number;
  /** "collection", "view" or "timeseries"; absent in archives from old tools. */
  type?: string;
}

export type ArchiveItem =
  | { kind: 'prelude'; header: ArchiveHeader; collections: CollectionEntry[] }
  | { kind: 'document'; db: string; collection: string; bson: Buffer }
  | { kind: 'end'; db: string; collection: string };

function corrupt(message: string): CoffreError {
  return failure('ARCHIVE_CORRUPT', `The MongoDB archive is damaged: ${message}. Use another backup, or check the file was copied whole.`);
}

function truncated(where: string): CoffreError {
  return failure('ARCHIVE_TRUNCATED', `The MongoDB archive ends too early (${where}): the file is incomplete. Use another backup, or check the file was copied whole.`);
}

// ---- CRC-64 (polynomial 0xC96C5795D7870F42 reflected, init and xorout ~0), kept as two 32-bit halves.

const crcLo = new Uint32Array(256);
const crcHi = new Uint32Array(256);
{
  const polyLo = 0xd7870f42;
  const polyHi = 0xc96c5795;
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    crcLo[i] = lo;
    crcHi[i] = hi;
  }
}

/** Running CRC-64 as mongo-tools computes it over a namespace's documents. */
export class Crc64 {
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  /** Adds bytes to the checksum. */
  update(bytes: Uint8Array): this {
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < bytes.length; i++) {
      const idx = (lo ^ bytes[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ crcLo[idx];
      hi = (hi >>> 8) ^ crcHi[idx];
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this;
  }

  /** The checksum as the signed 64-bit integer stored in EOF headers. */
  get signed(): bigint {
    const unsigned = (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
    return BigInt.asIntN(64, unsigned);
  }
}

// ---- writing

function int32LE(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  return b;
}

/** Magic number, header, one metadata document per collection, terminator. */
export function encodePrelude(header: ArchiveHeader, collections: readonly CollectionEntry[]): Buffer {
  const parts = [
    int32LE(ARCHIVE_MAGIC),
    bsonLib().serialize({
      concurrent_collections: new (bsonLib().Int32)(header.concurrentCollections),
      version: header.version,
      server_version: header.serverVersion,
      tool_version: header.toolVersion,
    }),
  ];
  for (const c of collections) {
    const size = Number.isSafeInteger(c.size) && c.size < 2 ** 31 ? new (bsonLib().Int32)(c.size) : bsonLib().Long.fromNumber(c.size);
    parts.push(bsonLib().serialize({ db: c.db, collection: c.collection, metadata: c.metadata, size, type: c.type ?? 'collection' }));
  }
  parts.push(int32LE(TERMINATOR));
  return Buffer.concat(parts);
}

/** The header that opens a block of a namespace's documents. */
export function encodeNamespaceHeader(db: string, collection: string, eof = false, crc = 0n): Buffer {
  return Buffer.from(bsonLib().serialize({ db, collection, EOF: eof, CRC: bsonLib().Long.fromBigInt(crc) }));
}

/** Checks that bytes are one whole BSON document (length prefix and trailing zero). */
function checkDocument(doc: Uint8Array, db: string, collection: string): void {
  const size = doc.length >= 4 ? doc[0] | (doc[1] << 8) | (doc[2] << 16) | (doc[3] << 24) : -1;
  if (size !== doc.length || size < MIN_BSON || doc[size - 1] !== 0) {
    throw failure('MONGO_BAD_DOCUMENT', `The server returned a malformed document in ${db}.${collection}; the dump was stopped.`);
  }
}

export interface NamespaceSource {
  entry: CollectionEntry;
  /** Raw BSON documents of the namespace, read only when its turn comes (views and empty ones yield none). */
  documents(): AsyncIterable<Uint8Array>;
}

/**
 * The whole archive as a sequence of chunks: prelude, then each namespace's documents in one block
 * followed by its EOF block with the CRC. Namespaces are written one after another (no interleaving),
 * which the format allows and mongorestore reads.
 */
export async function* encodeArchive(header: ArchiveHeader, namespaces: readonly NamespaceSource[]): AsyncGenerator<Buffer> {
  yield encodePrelude(
    header,
    namespaces.map((n) => n.entry),
  );
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const push = (b: Buffer) => {
    pending.push(b);
    pendingBytes += b.length;
  };
  const flush = () => {
    const out = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for (const ns of namespaces) {
    const { db, collection } = ns.entry;
    const crc = new Crc64();
    let opened = false;
    for await (const doc of ns.documents()) {
      checkDocument(doc, db, collection);
      if (!opened) {
        push(encodeNamespaceHeader(db, collection));
        opened = true;
      }
      crc.update(doc);
      // Copy: the driver may reuse or pin larger buffers behind a raw document.
      push(Buffer.from(doc));
      if (pendingBytes >= CHUNK) yield flush();
    }
    if (opened) push(int32LE(TERMINATOR));
    push(encodeNamespaceHeader(db, collection, true, crc.signed));
    push(int32LE(TERMINATOR));
    yield flush();
  }
}

// ---- reading

/** Pulls exact byte counts out of a chunked stream without joining more than one document's worth. */
class ByteSource {
  private readonly it: AsyncIterator<unknown>;
  /** Unread chunks are chunks[head..]; the consumed ones before head are dropped now and then. */
  private chunks: Buffer[] = [];
  private head = 0;
  private length = 0;
  private done = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(input: AsyncIterable<unknown>) {
    this.it = input[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.length < n) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return this.length >= n;
      }
      const v = r.value;
      const b = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v as Uint8Array);
      if (b.length === 0) continue;
      this.chunks.push(b);
      this.length += b.length;
    }
    return true;
  }

  /** Exactly n bytes, or null when the stream ended before any of them; throws on a partial read. */
  async read(n: number, where: string): Promise<Buffer | null> {
    if (!(await this.fill(n))) {
      if (this.length === 0) return null;
      throw truncated(where);
    }
    let out: Buffer;
    const first = this.chunks[this.head];
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.head++;
      else this.chunks[this.head] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const c = this.chunks[this.head];
        if (c.length <= need) {
          parts.push(c);
          this.head++;
          need -= c.length;
        } else {
          parts.push(c.subarray(0, need));
          this.chunks[this.head] = c.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    this.length -= n;
    this.position += n;
    return out;
  }

  /** Stops reading the underlying stream (on an early exit). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

type Block = { terminator: true } | { terminator: false; doc: Buffer } | null;

async function readBsonOrTerminator(src: ByteSource, where: string): Promise<Block> {
  const lenBytes = await src.read(4, where);
  if (!lenBytes) return null;
  const size = lenBytes.readUInt32LE(0);
  if (size === TERMINATOR) return { terminator: true };
  if (size < MIN_BSON || size > MAX_BSON) throw corrupt(`at byte ${src.position - 4}, ${size} is neither a document length nor a terminator`);
  const rest = await src.read(size - 4, where);
  if (!rest) throw truncated(where);
  if (rest[rest.length - 1] !== 0) throw corrupt(`the document at byte ${src.position - size} does not end with a zero byte`);
  return { terminator: false, doc: Buffer.concat([lenBytes, rest], size) };
}

function parseDoc(doc: Buffer, what: string): Record<string, unknown> {
  try {
    return bsonLib().deserialize(doc, { useBigInt64: true }) as Record<string, unknown>;
  } catch (err) {
    throw corrupt(`${what} is not valid BSON (${(err as Error).message})`);
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0);

/**
 * Reads an archive: first a 'prelude' item, then 'document' items (raw BSON slices) and an 'end' item
 * per namespace once its CRC matched. Fails with COFFRE_E_ARCHIVE_TRUNCATED or COFFRE_E_ARCHIVE_CORRUPT
 * (magic, lengths, CRC, namespaces never finished). A namespace's documents are only known good at its
 * 'end' item, and the archive only once the generator finishes: consumers keep what they wrote provisional.
 */
export async function* readArchive(input: AsyncIterable<unknown>): AsyncGenerator<ArchiveItem> {
  const src = new ByteSource(input);
  try {
    const magic = await src.read(4, 'in the magic number');
    if (!magic) throw truncated('the input is empty');
    if (magic.readUInt32LE(0) !== ARCHIVE_MAGIC) {
      throw failure(
        'ARCHIVE_NOT_MONGO',
        'The input is not a mongodump archive (no magic number 0x8199e26d at its start): restore it with the engine it was made by, or pass the file mongodump --archive wrote.',
      );
    }
    const first = await readBsonOrTerminator(src, 'in the archive header');
    if (!first) throw truncated('in the archive header');
    if (first.terminator) throw corrupt('the archive header is missing');
    const h = parseDoc(first.doc, 'the archive header');
    const header: ArchiveHeader = {
      concurrentCollections: num(h.concurrent_collections),
      version: str(h.version),
      serverVersion: str(h.server_version),
      toolVersion: str(h.tool_version),
    };
    const collections: CollectionEntry[] = [];
    for (;;) {
      const b = await readBsonOrTerminator(src, 'in the collection list');
      if (!b) throw truncated('in the collection list');
      if (b.terminator) break;
      const m = parseDoc(b.doc, 'a collection entry');
      const entry: CollectionEntry = { db: str(m.db), collection: str(m.collection), metadata: str(m.metadata), size: num(m.size) };
      if (typeof m.type === 'string' && m.type) entry.type = m.type;
      collections.push(entry);
    }
    yield { kind: 'prelude', header, collections };

    // Namespaces still expected; timeseries entries carry their data under system.buckets.* instead.
    const open = new Map<string, Crc64>();
    const closed = new Set<string>();
    const expected = new Set(collections.filter((c) => c.type !== 'timeseries').map((c) => `${c.db}.${c.collection}`));
    for (;;) {
      const hb = await readBsonOrTerminator(src, 'at a block header');
      if (!hb) break; // a clean end: only between blocks
      if (hb.terminator) throw corrupt(`two terminators in a row at byte ${src.position - 4}`);
      const nh = parseDoc(hb.doc, 'a block header');
      const db = str(nh.db);
      const collection = str(nh.collection);
      if (!collection) throw corrupt('a block header names no collection');
      const ns = `${db}.${collection}`;
      if (closed.has(ns)) throw corrupt(`data for ${ns} after its end`);
      let crc = open.get(ns);
      if (!crc) open.set(ns, (crc = new Crc64()));
      if (nh.EOF === true) {
        const stored = nh.CRC;
        if (typeof stored === 'bigint' || typeof stored === 'number') {
          const want = BigInt.asIntN(64, BigInt(stored));
          if (want !== crc.signed) throw corrupt(`the checksum of ${ns} does not match its documents`);
        }
        open.delete(ns);
        closed.add(ns);
        expected.delete(ns);
        const end = await readBsonOrTerminator(src, `after the end of ${ns}`);
        if (!end) throw truncated(`after the end of ${ns}`);
        if (!end.terminator) throw corrupt(`the end of ${ns} is followed by data`);
        yield { kind: 'end', db, collection };
        continue;
      }
      for (;;) {
        const b = await readBsonOrTerminator(src, `in the documents of ${ns}`);
        if (!b) throw truncated(`in the documents of ${ns}`);
        if (b.terminator) break;
        crc.update(b.doc);
        yield { kind: 'document', db, collection, bson: b.doc };
      }
    }
    if (open.size > 0) throw truncated(`${[...open.keys()].join(', ')} never finished`);
    if (expected.size > 0) throw truncated(`no data or end for ${[...expected].join(', ')}`);
  } finally {
    await src.close();
  }
}

/**
 * Reads a plain file of consecutive BSON documents (mongodump's `<coll>.bson`, `oplog.bson`), yielding each
 * as raw bytes. `where` names the file in errors. Empty input yields nothing; a cut or malformed document
 * fails with COFFRE_E_ARCHIVE_TRUNCATED or COFFRE_E_ARCHIVE_CORRUPT.
 */
export async function* readBsonDocuments(input: AsyncIterable<unknown>, where: string): AsyncGenerator<Buffer> {
  const src = new ByteSource(input);
  try {
    for (;;) {
      const b = await readBsonOrTerminator(src, `in ${where}`);
      if (!b) return;
      if (b.terminator) throw corrupt(`${where} holds 0xffffffff where a document should start (byte ${src.position - 4})`);
      yield b.doc;
    }
  } finally {
    await src.close();
  }
}

/**
 * Whether bytes start like a BSON document (a plausible length, a known element type, a NUL-terminated
 * name, and the document's last byte zero when it lies within `head`): how a lone `.bson` file is told from text.
 */
export function looksLikeBson(head: Buffer): boolean {
  if (head.length < MIN_BSON) return false;
  const size = head.readUInt32LE(0);
  if (size < MIN_BSON || size > MAX_BSON) return false;
  if (size <= head.length && head[size - 1] !== 0) return false;
  if (size === MIN_BSON) return head[4] === 0;
  const type = head[4];
  if (!((type >= 0x01 && type <= 0x13) || type === 0x7f || type === 0xff)) return false;
  const nameEnd = head.indexOf(0, 5);
  return nameEnd > 5 && nameEnd < Math.min(size, head.length) && !head.subarray(5, nameEnd).includes(0x0a);
}
