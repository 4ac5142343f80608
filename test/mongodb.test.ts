// The MongoDB engine against the MongoDB-wire server of the test services (FerretDB v1.24.2): the
// shared engine contract, coded failures, replace semantics, damaged and gzip input, FerretDB's gaps,
// and, where mongo-tools are installed, a cross-check with mongodump/mongorestore both ways.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { BSON } from 'mongodb';
import { engineContract } from './support/engine-contract.ts';
import { collect, streamOf } from './support/streams.ts';
import { mongoFixture, freshDatabases, uniqueDatabase, fingerprint, withMongo, isFerret, mongoBase } from './support/mongodb.ts';
import { mongodb, switchCollections } from '../src/engines/mongodb.ts';
import { encodeArchive, type NamespaceSource } from '../src/formats/mongo-archive.ts';
import { parseConnectionUrl, type Connection } from '../src/core/connection.ts';
import { isCoffreError } from '../src/core/errors.ts';

engineContract(mongoFixture);

const fresh = freshDatabases();

async function dumpOf(conn: Connection): Promise<Buffer> {
  return collect((await mongodb.dump(conn, {})).stream);
}

async function collectionNames(conn: Connection): Promise<string[]> {
  return withMongo(async (c) => (await c.db(conn.database).listCollections({}, { nameOnly: true }).toArray()).map((x) => x.name).sort());
}

function code(expected: string) {
  return (err: unknown) => isCoffreError(err) && err.code === expected;
}

test('probe reports the server and the driver versions', async () => {
  const info = await mongodb.probe(fresh());
  assert.equal(info.tool, 'coffre-mongo');
  assert.match(info.clientVersion, /^\d+\.\d+\.\d+/);
  assert.match(info.serverVersion, /^\d+\.\d+/);
});

test('wrong credentials give COFFRE_E_AUTH_FAILED without the password', async () => {
  const url = new URL(mongoBase);
  const conn = parseConnectionUrl(`mongodb://nobody:s3cret-Pa55word@${url.host}/${uniqueDatabase()}`);
  await assert.rejects(mongodb.probe(conn), (err) => {
    assert.ok(isCoffreError(err));
    assert.equal(err.code, 'COFFRE_E_AUTH_FAILED');
    assert.equal(err.kind, 'failed');
    assert.ok(!err.message.includes('s3cret-Pa55word'), err.message);
    return true;
  });
});

test('an unreachable server gives COFFRE_E_UNREACHABLE naming the host', async () => {
  const conn = parseConnectionUrl('mongodb://127.0.0.1:1/nowhere');
  await assert.rejects(mongodb.dump(conn, {}), (err) => isCoffreError(err) && err.code === 'COFFRE_E_UNREACHABLE' && err.retryable && /127\.0\.0\.1:1/.test(err.message));
});

test('replace leaves exactly the archive: collections the archive lacks are dropped, no temporary left', async () => {
  const source = fresh();
  await withMongo(async (c) => {
    await c
      .db(source.database)
      .collection('keep')
      .insertMany([{ _id: 1 as never, v: 'new' }]);
  });
  const raw = await dumpOf(source);
  const target = fresh();
  await withMongo(async (c) => {
    await c
      .db(target.database)
      .collection('keep')
      .insertMany([
        { _id: 1 as never, v: 'old' },
        { _id: 2 as never, v: 'old' },
      ]);
    await c.db(target.database).collection('extra').insertOne({ x: 1 });
  });
  await assert.rejects(mongodb.restore(target, streamOf(raw), 'mongo-archive', { replace: false }), (err) => {
    assert.ok(isCoffreError(err) && err.code === 'COFFRE_E_TARGET_NOT_EMPTY' && err.kind === 'conflict');
    assert.ok(err.message.includes(target.database) && err.message.includes('--replace'), err.message);
    return true;
  });
  await mongodb.restore(target, streamOf(raw), 'mongo-archive', { replace: true });
  assert.deepEqual(await collectionNames(target), ['keep']);
  assert.equal(await fingerprint(target), await fingerprint(source));
});

test('the switch to the restored collections is all or nothing: a failure midway renames everything back', async () => {
  const target = fresh();
  const docs = async (name: string) =>
    withMongo(async (c) =>
      (
        await c
          .db(target.database)
          .collection(name)
          .find({}, { projection: { _id: 0 } })
          .toArray()
      ).map((d) => d.v),
    );
  // a and b switched to their temporary copies, with `gone` (not in the archive) among the old collections.
  const switchAB = () =>
    withMongo((c) =>
      switchCollections(
        c,
        target.database,
        't1',
        [
          { name: 'a', temp: 'coffre_tmp_t1_a' },
          { name: 'b', temp: 'coffre_tmp_t1_b' },
        ],
        new Set(['a', 'b', 'gone']),
      ),
    );
  await withMongo(async (c) => {
    const db = c.db(target.database);
    await db.collection('a').insertOne({ v: 'old a' });
    await db.collection('b').insertOne({ v: 'old b' });
    await db.collection('gone').insertOne({ v: 'not in the archive' });
    await db.collection('coffre_tmp_t1_a').insertOne({ v: 'new a' });
    // b's restored copy is missing, so its rename fails after a is already in place.
  });
  await assert.rejects(switchAB());
  assert.deepEqual(await collectionNames(target), ['a', 'b', 'coffre_tmp_t1_a', 'gone']);
  assert.deepEqual([await docs('a'), await docs('b'), await docs('gone'), await docs('coffre_tmp_t1_a')], [['old a'], ['old b'], ['not in the archive'], ['new a']]);
  // And when every rename works, the old collections are gone and the new ones in place.
  await withMongo((c) => c.db(target.database).collection('coffre_tmp_t1_b').insertOne({ v: 'new b' }));
  await switchAB();
  assert.deepEqual(await collectionNames(target), ['a', 'b']);
  assert.deepEqual([await docs('a'), await docs('b')], [['new a'], ['new b']]);
});

test('a damaged archive changes nothing in the target and leaves no temporary collection', async () => {
  const source = fresh();
  await mongoFixture.seed(source);
  const raw = await dumpOf(source);
  const target = fresh();
  await withMongo((c) => c.db(target.database).collection('precious').insertOne({ v: 'keep me' }));
  const before = await fingerprint(target);
  // Cut in the middle of the data: the prelude is read, collections are created and filled, then it ends.
  await assert.rejects(mongodb.restore(target, streamOf(raw.subarray(0, Math.floor(raw.length * 0.6))), 'mongo-archive', { replace: true }), code('COFFRE_E_ARCHIVE_TRUNCATED'));
  assert.equal(await fingerprint(target), before);
  assert.deepEqual(await collectionNames(target), ['precious']);
  // A flipped byte inside a document: the CRC refuses it at the end of that collection.
  const damaged = Buffer.from(raw);
  const at = damaged.indexOf(Buffer.from('ligne 1000'));
  assert.ok(at > 0);
  damaged[at] = 'L'.charCodeAt(0);
  await assert.rejects(mongodb.restore(target, streamOf(damaged), 'mongo-archive', { replace: true }), code('COFFRE_E_ARCHIVE_CORRUPT'));
  assert.equal(await fingerprint(target), before);
});

test('an archive gzipped as a whole (mongodump --gzip --archive) restores', async () => {
  const source = fresh();
  await withMongo((c) =>
    c
      .db(source.database)
      .collection('z')
      .insertMany([
        { _id: 1 as never, t: 'gzip ✓' },
        { _id: 2 as never, t: 'deux' },
      ]),
  );
  const raw = await dumpOf(source);
  const target = fresh();
  const result = await mongodb.restore(target, streamOf(gzipSync(raw)), 'mongo-archive', { replace: false });
  assert.equal(result.database, target.database);
  assert.equal(await fingerprint(target), await fingerprint(source));
});

test('progress is reported in input bytes', async () => {
  const source = fresh();
  await withMongo((c) => c.db(source.database).collection('p').insertOne({ v: 1 }));
  const raw = await dumpOf(source);
  let last = 0;
  await mongodb.restore(fresh(), streamOf(raw), 'mongo-archive', { replace: false, onProgress: (n) => (last = n) });
  assert.equal(last, raw.length);
});

async function archiveWith(namespaces: NamespaceSource[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of encodeArchive({ concurrentCollections: 1, version: '0.1', serverVersion: '7.0.0', toolVersion: 'test' }, namespaces)) parts.push(chunk);
  return Buffer.concat(parts);
}

const ferret = await isFerret().catch(() => false);

test('FerretDB: archives needing what it lacks fail clearly and change nothing', { skip: !ferret && 'the test server is not FerretDB' }, async () => {
  const docs = [BSON.serialize({ _id: 1, when: new Date(0) })];
  const ttl = await archiveWith([
    {
      entry: {
        db: 'src',
        collection: 'sessions',
        metadata: BSON.EJSON.stringify(
          {
            indexes: [
              { v: 2, key: { _id: 1 }, name: '_id_' },
              { v: 2, key: { when: 1 }, name: 'when_ttl', expireAfterSeconds: 60 },
            ],
            collectionName: 'sessions',
            type: 'collection',
          },
          { relaxed: false },
        ),
        size: 0,
        type: 'collection',
      },
      documents: async function* () {
        yield* docs;
      },
    },
  ]);
  const target = fresh();
  await assert.rejects(
    mongodb.restore(target, streamOf(ttl), 'mongo-archive', { replace: false }),
    (err) => isCoffreError(err) && err.code === 'COFFRE_E_MONGO_UNSUPPORTED' && err.message.includes('sessions'),
  );
  assert.deepEqual(await collectionNames(target), []);

  const decimal = await archiveWith([
    {
      entry: { db: 'src', collection: 'money', metadata: '{"indexes":[],"collectionName":"money","type":"collection"}', size: 0, type: 'collection' },
      documents: async function* () {
        yield BSON.serialize({ _id: 1, amount: BSON.Decimal128.fromString('10.50') });
      },
    },
  ]);
  await assert.rejects(
    mongodb.restore(target, streamOf(decimal), 'mongo-archive', { replace: false }),
    (err) => isCoffreError(err) && err.code === 'COFFRE_E_MONGO_UNSUPPORTED' && /Decimal128/.test(err.message) && err.message.includes('money'),
  );
  assert.deepEqual(await collectionNames(target), []);
});

const hasTools = ['mongodump', 'mongorestore'].every((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0);

test('mongo-tools cross-check: our archive through mongorestore, mongodump --archive through our restore', {
  skip: !hasTools && 'mongodump/mongorestore are not installed',
}, async () => {
  const source = fresh();
  await mongoFixture.seed(source);
  const expected = await fingerprint(source);
  const raw = await dumpOf(source);
  const viaTools = fresh();
  const restored = spawnSync('mongorestore', [`--uri=${mongoBase}`, '--archive', `--nsFrom=${source.database}.*`, `--nsTo=${viaTools.database}.*`], {
    input: raw,
    maxBuffer: 64 << 20,
  });
  assert.equal(restored.status, 0, restored.stderr?.toString());
  assert.equal(await fingerprint(viaTools), expected);
  const dumped = spawnSync('mongodump', [`--uri=${mongoBase}`, `--db=${source.database}`, '--archive'], { maxBuffer: 64 << 20 });
  assert.equal(dumped.status, 0, dumped.stderr?.toString());
  const ours = fresh();
  await mongodb.restore(ours, Readable.from([dumped.stdout]), 'mongo-archive', { replace: false });
  assert.equal(await fingerprint(ours), expected);
});

test('an aborted dump errors with COFFRE_E_INTERRUPTED instead of ending', async () => {
  const source = fresh();
  await withMongo((c) =>
    c
      .db(source.database)
      .collection('a')
      .insertMany(Array.from({ length: 50 }, (_, i) => ({ i }))),
  );
  const controller = new AbortController();
  const dump = await mongodb.dump(source, { signal: controller.signal });
  await assert.rejects(
    (async () => {
      for await (const _chunk of dump.stream) controller.abort();
    })(),
    code('COFFRE_E_INTERRUPTED'),
  );
});
