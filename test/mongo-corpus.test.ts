// The real-world MongoDB corpus (../shared/fixtures/real-world/mongo: files the real mongodump wrote, from
// mongo-tools' own test data) restored into FerretDB through coffre's restore pipeline (sniffing, folders,
// archives, lone .bson files), each into a database of its own. A file that can work must come back equal to
// the same data read by the driver's BSON from the dump's own bytes: per collection, the document count and
// a sha256 over the canonical Extended JSON of every document (field order included). A file that cannot work
// (time-series, TTL or legacy indexes on FerretDB, an oplog alone, the deliberately malformed archive, JSON
// that is no dump…) must be refused with the code listed here, and leave its target database empty.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, gunzipSync } from 'node:zlib';
import { BSON } from 'mongodb';
import tarStream from 'tar-stream';
import yazl from 'yazl';
import { mongoConnection, uniqueDatabase, withMongo } from './support/mongodb.ts';
import { mongodb } from '../src/engines/mongodb.ts';
import { readArchive } from '../src/formats/mongo-archive.ts';
import { streamRestore } from '../src/pipeline/restore.ts';
import { isCoffreError } from '../src/core/errors.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const corpus = path.resolve(repoRoot, '../shared/fixtures/real-world/mongo');
const fixture = (rel: string) => path.join(corpus, rel);

type Summary = Record<string, { count: number; sha256: string }>;

function summarise(docs: Map<string, Buffer[]>): Summary {
  const out: Summary = {};
  for (const [name, list] of docs) {
    const lines = list.map((raw) => BSON.EJSON.stringify(BSON.deserialize(raw), { relaxed: false })).sort();
    out[name] = { count: lines.length, sha256: createHash('sha256').update(lines.join('\n')).digest('hex') };
  }
  return out;
}

/** The documents of a .bson (or .bson.gz) file, split by the driver's own length prefixes. */
function bsonFile(rel: string): Buffer[] {
  let bytes = readFileSync(fixture(rel));
  if (rel.endsWith('.gz')) bytes = gunzipSync(bytes);
  const docs: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = bytes.readInt32LE(at);
    docs.push(bytes.subarray(at, at + size));
    BSON.deserialize(docs[docs.length - 1]); // the driver must read it
    at += size;
  }
  return docs;
}

/** Expected contents from files: collection -> its .bson file (relative to the corpus). */
const fromFiles = (files: Record<string, string>) => () => summarise(new Map(Object.entries(files).map(([c, f]) => [c, bsonFile(f)])));

/** Expected contents of an archive: the user collections' documents (the driver parses each). */
const fromArchive = (rel: string, db: string) => async () => {
  const docs = new Map<string, Buffer[]>();
  for await (const item of readArchive(createReadStream(fixture(rel)))) {
    if (item.kind === 'prelude') for (const c of item.collections) if (c.db === db) docs.set(c.collection, []);
    if (item.kind === 'document' && item.db === db) docs.get(item.collection)!.push(item.bson);
  }
  return summarise(docs);
};

interface Case {
  /** Path relative to the corpus, or to the test's temporary folder when `made`. */
  file: string;
  made?: boolean;
  /** Expected contents, or the refusal's code. */
  expect: (() => Summary | Promise<Summary>) | string;
  /** What the journal message's notes must say. */
  notes?: RegExp;
}

const cases: Case[] = [
  // mongodump folders: a dump root, one database's folder, --gzip, prelude.json, odd names, stray files.
  { file: 'aws_test_db', expect: fromFiles({ c1: 'aws_test_db/c1.bson' }) },
  { file: 'coll_with_index', expect: fromFiles({ foo: 'coll_with_index/test/foo.bson' }) },
  { file: 'coll_without_index', expect: fromFiles({ foo: 'coll_without_index/test/foo.bson' }) },
  { file: 'foodump', expect: fromFiles({ foo: 'foodump/test/foo.bson' }) },
  { file: 'longindextestdump', expect: fromFiles({ test_collection: 'longindextestdump/longindextest/test_collection.bson' }) },
  { file: 'oplogdump', expect: fromFiles({ c1: 'oplogdump/db1/c1.bson' }), notes: /3 oplog entries were not replayed.*skipped server collections admin\.system\.version/ },
  { file: 'oplogdumpmaxsize', expect: fromFiles({ c1: 'oplogdumpmaxsize/db1/c1.bson' }), notes: /skipped server collections admin\.system\.version/ },
  { file: 'specialcharacter', expect: fromFiles({ cafés: 'specialcharacter/db1/caf%C3%A9s.bson' }) },
  {
    file: 'testdirs',
    expect: fromFiles({ c1: 'testdirs/db1/c1.bson', c2: 'testdirs/db1/c2.bson', c3: 'testdirs/db1/c3.bson', c4: 'testdirs/db1/c4.bson' }),
    notes: /ignored 3 file\(s\).*badfile\.txt/,
  },
  { file: 'prelude_test/prelude_db_target', expect: fromFiles({ foo: 'prelude_test/prelude_db_target/test/foo.bson' }) },
  { file: 'prelude_test/prelude_gzip', expect: fromFiles({ foo: 'prelude_test/prelude_gzip/test/foo.bson.gz' }) },
  { file: 'prelude_test/prelude_top_level', expect: fromFiles({ foo: 'prelude_test/prelude_top_level/test/foo.bson' }) },
  { file: 'prelude_test/server_version_unknown', expect: fromFiles({ foo: 'prelude_test/server_version_unknown/test/foo.bson' }) },
  // The same folders inside archives (made by the test from the corpus files).
  { file: 'oplogdump.tar.gz', made: true, expect: fromFiles({ c1: 'oplogdump/db1/c1.bson' }), notes: /3 oplog entries/ },
  { file: 'prelude_gzip.zip', made: true, expect: fromFiles({ foo: 'prelude_test/prelude_gzip/test/foo.bson.gz' }) },
  // A tar whose first file is no dump member (testdirs/badfile.txt) keeps the one-file rules: refused.
  { file: 'testdirs.tar', made: true, expect: 'COFFRE_E_UNSUPPORTED_ARCHIVE' },
  // Archives.
  {
    file: 'dump-w-oplog.archive',
    expect: fromArchive('dump-w-oplog.archive', 'test'),
    notes: /skipped server collections admin\.system\.version.*18 oplog entries were not replayed/,
  },
  { file: 'test.bar.archive', expect: fromArchive('test.bar.archive', 'test'), notes: /skipped server collections admin\.system\.version/ },
  // Lone .bson files: the collection is named by the file; a sibling .metadata.json is read.
  { file: 'auth_version_3.bson', expect: fromFiles({ auth_version_3: 'auth_version_3.bson' }) },
  { file: 'auth_version_5.bson', expect: fromFiles({ auth_version_5: 'auth_version_5.bson' }) },
  { file: 'test_auto_idx.bson', expect: fromFiles({ test_auto_idx: 'test_auto_idx.bson' }) },

  // Refused, each with its code.
  { file: 'bad-format.archive', expect: 'COFFRE_E_ARCHIVE_CORRUPT' },
  { file: 'timeseries_tests/dump.archive', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'timeseries_tests/ts_dump', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'timeseries_tests/ts_dump_invalid_buckets', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'timeseries_tests/ts_dump_with_oplog', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'timeseries_tests/ts_single_buckets_file', expect: 'COFFRE_E_MONGO_NOTHING_TO_RESTORE' },
  { file: 'collMod_ttl_index', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'coll_with_ttl_index', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'coll_with_geohaystack_index', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'hashedIndexes.bson', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'duplicate_index_key', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'indexmetadata', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'indextestdump', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'longcollectionname', expect: 'COFFRE_E_MONGO_UNSUPPORTED' },
  { file: 'duplicate_index_key_with_oplog', expect: 'COFFRE_E_MONGO_DUPLICATE_KEY' },
  ...['commit_indexes_build', 'create_indexes', 'dump_oplog_conflict', 'dump_with_noop_in_oplog', 'oplog_ignore_index', 'oplog_partial_skips', 'tools-2002'].map((file) => ({
    file,
    expect: 'COFFRE_E_MONGO_NOTHING_TO_RESTORE',
  })),
  ...['dump_local_oplog', 'local', 'usersdump', 'system.version.no_auth_schema.bson'].map((file) => ({ file, expect: 'COFFRE_E_MONGO_NOTHING_TO_RESTORE' })),
  { file: 'extra_oplog.bson', expect: 'COFFRE_E_MONGO_OPLOG_FILE' },
  ...['hashedIndexes.metadata.json', 'test_auto_idx.metadata.json', 'index_collation.json'].map((file) => ({ file, expect: 'COFFRE_E_MONGO_METADATA_ONLY' })),
  ...['transactions.json', 'transactions-6.1.json', 'oplogs/oplog.json'].map((file) => ({ file, expect: 'COFFRE_E_UNKNOWN_FORMAT' })),
];

let made: string;
const databases: string[] = [];

async function tarOf(dir: string, out: string, gzip: boolean): Promise<void> {
  const pack = tarStream.pack();
  const done = gzip ? pipeline(pack, createGzip(), createWriteStream(out)) : pipeline(pack, createWriteStream(out));
  const walk = async (at: string, rel: string) => {
    for (const e of await readdir(at, { withFileTypes: true })) {
      const name = `${rel}${e.name}`;
      if (e.isDirectory()) {
        pack.entry({ name: `${name}/`, type: 'directory' });
        await walk(path.join(at, e.name), `${name}/`);
      } else {
        await new Promise<void>((resolve, reject) => pack.entry({ name }, readFileSync(path.join(at, e.name)), (err) => (err ? reject(err) : resolve())));
      }
    }
  };
  await walk(dir, `${path.basename(dir)}/`);
  pack.finalize();
  await done;
}

async function zipOf(dir: string, out: string): Promise<void> {
  const zip = new yazl.ZipFile();
  const walk = async (at: string, rel: string) => {
    for (const e of await readdir(at, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(at, e.name), `${rel}${e.name}/`);
      else zip.addFile(path.join(at, e.name), `${rel}${e.name}`);
    }
  };
  await walk(dir, '');
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(out));
}

before(async () => {
  made = await mkdtemp(path.join(tmpdir(), 'coffre-mongo-corpus-'));
  await tarOf(fixture('oplogdump'), path.join(made, 'oplogdump.tar.gz'), true);
  await zipOf(fixture('prelude_test/prelude_gzip'), path.join(made, 'prelude_gzip.zip'));
  await tarOf(fixture('testdirs'), path.join(made, 'testdirs.tar'), false);
  for (const f of await readdir(fixture('oplogs/bson'))) cases.push({ file: `oplogs/bson/${f}`, expect: 'COFFRE_E_MONGO_OPLOG_FILE' });
  for (const f of await readdir(fixture('oplogs/json'))) cases.push({ file: `oplogs/json/${f}`, expect: 'COFFRE_E_UNKNOWN_FORMAT' });
});
after(async () => {
  for (const name of databases) await withMongo((c) => c.db(name).dropDatabase()).catch(() => {});
  if (made) await rm(made, { recursive: true, force: true });
});

async function restored(database: string): Promise<Summary> {
  return withMongo(async (c) => {
    const db = c.db(database);
    const docs = new Map<string, Buffer[]>();
    for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
      docs.set(name, (await db.collection(name).find({}, { raw: true }).toArray()) as unknown as Buffer[]);
    }
    return summarise(docs);
  });
}

async function restoreCase(file: string, database: string, options: { database?: string } = {}) {
  return streamRestore({
    engine: mongodb,
    conn: mongoConnection(database),
    inputs: [{ path: file }],
    replace: false,
    sql: options.database ? { database: options.database } : undefined,
  });
}

test('every applicable file of the MongoDB corpus restores equal to its BSON, and every other one is refused with its code', async (t) => {
  const table: string[] = [];
  for (const c of cases) {
    await t.test(c.file, async () => {
      const database = uniqueDatabase('coffre_corpus');
      databases.push(database);
      const file = c.made ? path.join(made, c.file) : fixture(c.file);
      if (typeof c.expect === 'string') {
        await assert.rejects(restoreCase(file, database), (err) => {
          assert.ok(isCoffreError(err), `not a coded error: ${String(err)}`);
          assert.equal(err.code, c.expect, err.message);
          table.push(`${c.file} -> refused ${err.code}`);
          return true;
        });
        assert.deepEqual(await restored(database), {}, 'a refused restore left collections behind');
      } else {
        const result = await restoreCase(file, database);
        assert.deepEqual(await restored(database), await c.expect());
        if (c.notes) assert.match((result.notes ?? []).join('; '), c.notes);
        table.push(`${c.file} -> restored and equal (${result.rawFormat}${result.layers.length ? `, ${result.layers.join('+')}` : ''})`);
      }
    });
  }
  console.log(table.join('\n'));
});

test('a dump folder holding several databases is refused naming them, and --database picks one', async () => {
  const root = path.join(made, 'two-dbs');
  await cp(fixture('coll_with_index/test'), path.join(root, 'test'), { recursive: true });
  await cp(fixture('oplogdump/db1'), path.join(root, 'db1'), { recursive: true });
  const database = uniqueDatabase('coffre_corpus');
  databases.push(database);
  await assert.rejects(
    restoreCase(root, database),
    (err) => isCoffreError(err) && err.code === 'COFFRE_E_MONGO_MANY_DATABASES' && /db1, test/.test(err.message) && /--database/.test(err.message),
  );
  assert.deepEqual(await restored(database), {});
  await assert.rejects(restoreCase(root, database, { database: 'nope' }), (err) => isCoffreError(err) && err.code === 'COFFRE_E_DATABASE_NOT_IN_DUMP');
  const result = await restoreCase(root, database, { database: 'db1' });
  assert.deepEqual(await restored(database), fromFiles({ c1: 'oplogdump/db1/c1.bson' })());
  assert.match((result.notes ?? []).join('; '), /restored database db1 of db1, test/);
});
