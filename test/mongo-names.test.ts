// MongoDB names and metadata coffre once got wrong: a collection whose name holds a dot (`a.b`, legal in
// MongoDB) restores, with its indexes, into an empty target and with --replace over an existing `a.b`
// (FerretDB refuses to rename a dotted name, so such a collection moves by copy); and the collection UUID is
// written to the archive's metadata, as mongodump writes it (the driver's Binary is a CommonJS object).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collect, streamOf } from './support/streams.ts';
import { freshDatabases, withMongo } from './support/mongodb.ts';
import { mongodb } from '../src/engines/mongodb.ts';
import { readArchive } from '../src/formats/mongo-archive.ts';
import type { Connection } from '../src/core/connection.ts';

const fresh = freshDatabases('coffre_names');

/** Collection name -> its documents (as EJSON, sorted by _id) and its index names. */
async function contents(conn: Connection): Promise<Record<string, { docs: string[]; indexes: string[] }>> {
  return withMongo(async (c) => {
    const db = c.db(conn.database);
    const out: Record<string, { docs: string[]; indexes: string[] }> = {};
    for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
      const docs = (await db.collection(name).find({}).sort({ _id: 1 }).toArray()).map((d) => JSON.stringify(d));
      const indexes = (await db.collection(name).listIndexes().toArray()).map((i) => String(i.name)).sort();
      out[name] = { docs, indexes };
    }
    return out;
  });
}

test('a collection named a.b round-trips: into an empty database and with --replace over an older a.b', async () => {
  const source = fresh();
  await withMongo(async (c) => {
    const db = c.db(source.database);
    await db.collection('a.b').insertMany([
      { _id: 1, v: 'one' },
      { _id: 2, v: 'two', nested: { x: [1, 2] } },
    ] as never[]);
    await db.collection('a.b').createIndex({ v: 1 }, { name: 'by_v' });
    await db.collection('a.b.c').insertOne({ _id: 'deep' } as never);
    await db.collection('plain').insertOne({ _id: 'p' } as never);
  });
  const expected = await contents(source);
  assert.deepEqual(Object.keys(expected).sort(), ['a.b', 'a.b.c', 'plain']);
  const archive = await collect((await mongodb.dump(source, {})).stream);

  const copy = fresh();
  await mongodb.restore(copy, streamOf(archive), 'mongo-archive', { replace: false });
  assert.deepEqual(await contents(copy), expected);

  // --replace over a database that already holds an a.b with other data, and a collection the archive lacks.
  await withMongo(async (c) => {
    const db = c.db(copy.database);
    await db.collection('a.b').deleteMany({});
    await db.collection('a.b').insertOne({ _id: 99, v: 'stale' } as never);
    await db.collection('other').insertOne({ _id: 'gone' } as never);
  });
  await mongodb.restore(copy, streamOf(archive), 'mongo-archive', { replace: true });
  assert.deepEqual(await contents(copy), expected);

  // A damaged archive changes nothing, dotted names included: the last byte of the CRC'd data flipped.
  const before = await contents(copy);
  const broken = Buffer.from(archive);
  const at = broken.indexOf(Buffer.from('two'));
  broken[at] ^= 0x01;
  await assert.rejects(mongodb.restore(copy, streamOf(broken), 'mongo-archive', { replace: true }), /COFFRE_E_ARCHIVE_CORRUPT|checksum/);
  assert.deepEqual(await contents(copy), before);
});

test('the archive metadata carries each collection uuid, as mongodump writes it', async () => {
  const source = fresh();
  const uuid = await withMongo(async (c) => {
    const db = c.db(source.database);
    await db.collection('things').insertOne({ _id: 1 } as never);
    const [info] = await db.listCollections({ name: 'things' }, { nameOnly: false }).toArray();
    const u = (info as { info?: { uuid?: { buffer: Uint8Array } } }).info?.uuid;
    return u ? Buffer.from(u.buffer).toString('hex') : undefined;
  });
  assert.match(String(uuid), /^[0-9a-f]{32}$/, 'the server reports a collection UUID');
  const archive = await collect((await mongodb.dump(source, {})).stream);
  let metadata: Record<string, unknown> | undefined;
  for await (const item of readArchive(streamOf(archive))) {
    if (item.kind === 'prelude') metadata = JSON.parse(item.collections.find((c) => c.collection === 'things')!.metadata);
  }
  assert.equal(metadata?.uuid, uuid);
  assert.equal(metadata?.collectionName, 'things');
});
