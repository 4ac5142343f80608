// The MongoDB fixture for the engine contract: unique databases on the MongoDB-wire server the test
// services start (FerretDB v1.24.2, or COFFRE_TEST_MONGO_URL), documents that hurt, and a fingerprint
// that sees BSON types: canonical Extended JSON of every document sorted by _id, options and indexes.

import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { BSON, MongoClient, type Document } from 'mongodb';
import { parseConnectionUrl, type Connection } from '../../src/core/connection.ts';
import { mongodb } from '../../src/engines/mongodb.ts';
import type { EngineFixture } from './engine-contract.ts';

export const mongoBase = (process.env.COFFRE_TEST_MONGO_URL ?? 'mongodb://127.0.0.1:27017').replace(/\/+$/, '');

export function uniqueDatabase(prefix = 'coffre_t'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function mongoConnection(database: string): Connection {
  return parseConnectionUrl(`${mongoBase}/${database}`);
}

/**
 * A maker of connections to new, uniquely named databases on the test server (created by their first write),
 * each dropped once the calling test file's tests are done: call it at the top level of the file.
 */
export function freshDatabases(prefix?: string): () => Connection {
  const made: Connection[] = [];
  after(async () => {
    for (const c of made) await withMongo((cl) => cl.db(c.database).dropDatabase()).catch(() => {});
  });
  return () => {
    const c = mongoConnection(uniqueDatabase(prefix));
    made.push(c);
    return c;
  };
}

/** Runs fn with a driver client on the test server. */
export async function withMongo<T>(fn: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(`${mongoBase}/admin`, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** True when the test server is FerretDB (which lacks some MongoDB features). */
export async function isFerret(): Promise<boolean> {
  return withMongo(async (c) => Boolean((await c.db('admin').command({ buildInfo: 1 })).ferretdbVersion));
}

const { Binary, Decimal128, Double, Int32, Long, ObjectId, BSONRegExp, UUID } = BSON;

/**
 * Documents that hurt: every common BSON type, edge values, unicode and emoji, nesting. FerretDB v1
 * cannot store Decimal128, infinities, NaN or arrays directly inside arrays (it drops the connection or
 * refuses the insert), so on FerretDB those values are left out; a real MongoDB gets them all.
 */
export function hurtingDocuments(ferret: boolean): Document[] {
  const oid = (n: number) => new ObjectId(n.toString(16).padStart(24, '0'));
  const mongoOnly: Document = ferret
    ? {}
    : {
        price: Decimal128.fromString('1234567890.123456789012345678901234'),
        tiny: Decimal128.fromString('-0.000000000000000000000000000000001'),
        inf: new Double(Infinity),
        negInf: new Double(-Infinity),
        nan: new Double(NaN),
        matrix: [
          [1, 2],
          [3, [4]],
        ],
      };
  return [
    {
      ...mongoOnly,
      _id: oid(1),
      email: 'ada@example.org',
      a: new Int32(1),
      b: 'x',
      when: new Date('2024-02-29T23:59:59.999Z'),
      before1970: new Date(-86_400_000 * 365 * 50),
      far: new Date('9999-12-31T23:59:59.999Z'),
      big: Long.fromString('9223372036854775807'),
      small: Long.fromString('-9223372036854775808'),
      one: new Double(1),
      negZero: new Double(-0),
      maxDouble: new Double(Number.MAX_VALUE),
      minDouble: new Double(Number.MIN_VALUE),
      int32: [new Int32(2147483647), new Int32(-2147483648)],
      bin: new Binary(Buffer.from([0, 1, 2, 253, 254, 255]), 0),
      uuid: new UUID('0b9d0f3e-6d77-4f0a-9b71-6c1f1a3e2d4c').toBinary(),
      nested: { level: { deeper: { deepest: [1, { two: [2, { three: [3, { four: 'quatre' }] }] }] } }, empty: {} },
      list: [null, true, false, 'deux', new Double(3.5), { k: 'v', inner: ['a', 'b'] }, {}],
      stamp: new BSON.Timestamp({ t: 1_700_000_000, i: 7 }),
      legacyBinary: new Binary(Buffer.from('legacy'), 128),
      nothing: null,
      pattern: new BSONRegExp('^caf[eé]\\s+\\d+$', 'im'),
    },
    {
      _id: oid(2),
      email: 'bob@example.org',
      a: new Int32(1),
      b: 'y',
      'clé unicode 🔑': 'valeur ✓ 日本語 עברית Ελληνικά 🎉👩‍👩‍👧',
      'with space': 'quote " apostrophe \' backslash \\ nul-less',
      zwj: '👩🏽‍💻',
      control: 'tab\tnewline\ncr\r',
    },
    { _id: oid(3), email: 'chloé@example.org', a: new Int32(2), b: 'x', nothing: null, emptyString: '', emptyArray: [], emptyBinary: new Binary(Buffer.alloc(0), 0) },
  ];
}

async function seed(conn: Connection): Promise<void> {
  const ferret = await isFerret();
  await withMongo(async (client) => {
    const db = client.db(conn.database);
    const kinds = db.collection('kinds');
    await kinds.insertMany(hurtingDocuments(ferret));
    // TTL indexes: FerretDB v1 does not implement expireAfterSeconds.
    if (!ferret) await kinds.createIndex({ when: 1 }, { expireAfterSeconds: 86_400 * 365 * 100, name: 'when_ttl' });
    await kinds.createIndex({ email: 1 }, { unique: true, name: 'email_unique' });
    await kinds.createIndex({ a: 1, b: -1 }, { name: 'a_b_compound' });
    await kinds.createIndex({ nothing: 1 }, { sparse: true, name: 'nothing_sparse' });

    // About 1 MB in one document: a long string and a binary.
    const large = db.collection('large');
    await large.insertOne({ _id: 'big' as never, text: 'é'.repeat(300_000) + '🚀'.repeat(50_000), blob: new Binary(randomBytes(200_000), 0) });

    // Enough small documents to span several insert batches and output chunks.
    const many = db.collection('many docs');
    const docs: Document[] = [];
    for (let i = 0; i < 2500; i++) docs.push({ _id: new Int32(i), n: new Long(i * 7), s: `ligne ${i} ✓`, d: new Double(i / 3) });
    await many.insertMany(docs);

    await db.createCollection('capped 🚀 été', { capped: true, size: 65536, max: 100 });
    await db.collection<{ _id: BSON.Int32; v: string }>('capped 🚀 été').insertMany([
      { _id: new Int32(1), v: 'un' },
      { _id: new Int32(2), v: 'deux' },
    ]);
    await db.createCollection('empty');
  });
}

/** Canonical text of a database: per collection its options, its indexes and its documents by _id. */
export async function fingerprint(conn: Connection): Promise<string> {
  return withMongo(async (client) => {
    const db = client.db(conn.database);
    const colls = ((await db.listCollections({}, { nameOnly: false }).toArray()) as Document[])
      .filter((c) => !String(c.name).startsWith('system.'))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const out: string[] = [];
    for (const c of colls) {
      out.push(`## ${c.name} ${c.type ?? 'collection'} ${BSON.EJSON.stringify(c.options ?? {}, { relaxed: false })}`);
      const indexes = (await db.collection(String(c.name)).listIndexes().toArray()).map(({ v: _v, ns: _ns, ...rest }) => rest).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const ix of indexes) out.push(`index ${BSON.EJSON.stringify(ix, { relaxed: false })}`);
      const docs: string[] = [];
      for await (const raw of db.collection(String(c.name)).find({}, { raw: true }) as unknown as AsyncIterable<Uint8Array>) {
        const doc = BSON.deserialize(raw, { promoteValues: false, bsonRegExp: true });
        docs.push(`${BSON.EJSON.stringify({ id: doc._id }, { relaxed: false })}\t${BSON.EJSON.stringify(doc, { relaxed: false })}`);
      }
      docs.sort();
      out.push(...docs);
    }
    return out.join('\n');
  });
}

async function drop(conn: Connection): Promise<void> {
  await withMongo((client) => client.db(conn.database).dropDatabase()).catch(() => {});
}

export const mongoFixture: EngineFixture = {
  engine: mongodb,
  fresh: async () => mongoConnection(uniqueDatabase()),
  seed,
  fingerprint,
  drop,
  // A database that does not exist cannot be dumped (it is almost always a mistyped name).
  broken: async () => mongoConnection(uniqueDatabase('coffre_missing')),
};
