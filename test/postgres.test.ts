// PostgreSQL engine against the real local server: the shared engine contract with a seed that hurts,
// restores of files made by the real pg_dump -Fc/-Ft/-Fd, replace by swap (and a failed replace that
// leaves the target alone), odd database names, and the failures a user meets: refused login,
// unreachable server, missing or too old client, a pg_dump killed mid-stream, a password kept out of argv.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync, chmodSync, existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { parseConnectionUrl, withDatabase, type Connection } from '../src/core/connection.ts';
import { isCoffreError, type CoffreError } from '../src/core/errors.ts';
import { postgres } from '../src/engines/postgres.ts';
import { explainPgText, dbnameConninfo, parseClientVersion } from '../src/engines/postgres-client.ts';
import { spawnSource } from '../src/children/process.ts';
import { engineContract } from './support/engine-contract.ts';
import { collect } from './support/streams.ts';
import { adminUrl, connectionTo, databaseExists, databasesLike, dropDatabase, execSql, fingerprint, seedSql, smallSeedSql, uniqueName, withClient } from './support/postgres.ts';
import { until } from './support/wait.ts';

const run = promisify(execFile);
const pgBin = '/usr/lib/postgresql/15/bin';
const pgDumpPath = existsSync(path.join(pgBin, 'pg_dump')) ? path.join(pgBin, 'pg_dump') : 'pg_dump';

const work = mkdtempSync(path.join(tmpdir(), 'coffre-pg-test-'));
const made: Connection[] = [];
function fresh(prefix?: string): Connection {
  const c = connectionTo(uniqueName(prefix));
  made.push(c);
  return c;
}
after(async () => {
  for (const c of made) await dropDatabase(c).catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

const hasCode = (code: string) => (err: unknown) => {
  assert.ok(isCoffreError(err), `expected a CoffreError, got ${String(err)}`);
  assert.equal((err as CoffreError).code, code, (err as Error).message);
  return true;
};

engineContract({
  engine: postgres,
  fresh: async () => connectionTo(uniqueName()),
  seed: (conn) => execSql(conn, seedSql),
  fingerprint,
  drop: dropDatabase,
  broken: async () => connectionTo(uniqueName('coffre_pg_missing')),
});

test('postgres: probe reports server and client versions', async () => {
  const info = await postgres.probe(parseConnectionUrl(adminUrl));
  assert.equal(info.tool, 'pg_dump');
  assert.match(info.serverVersion, /^\d+\.\d+/);
  assert.match(info.clientVersion, /^\d+\.\d+/);
  assert.ok(Number(info.clientVersion.split('.')[0]) >= Number(info.serverVersion.split('.')[0]));
});

test('postgres: inspect sees an enum alone, or an empty schema, as content', async () => {
  const a = fresh();
  await execSql(a, 'SELECT 1');
  assert.deepEqual(await postgres.inspect(a), { exists: true, empty: true });
  await execSql(a, `CREATE TYPE t AS ENUM ('x')`);
  assert.deepEqual(await postgres.inspect(a), { exists: true, empty: false });
  const b = fresh();
  await execSql(b, 'CREATE SCHEMA nothing_inside');
  assert.deepEqual(await postgres.inspect(b), { exists: true, empty: false });
});

// One seeded source for the pg_dump format tests.
let source: Connection | undefined;
let expected = '';
async function seededSource(): Promise<Connection> {
  if (!source) {
    source = fresh();
    await execSql(source, seedSql);
    expected = await fingerprint(source);
  }
  return source;
}

async function realPgDump(conn: Connection, format: 'c' | 't' | 'd', file: string): Promise<void> {
  await run(pgDumpPath, [`-F${format}`, `--file=${file}`, '--host=127.0.0.1', `--port=${conn.port}`, `--username=${conn.user}`, `--dbname=${dbnameConninfo(conn.database)}`]);
}

for (const [flag, format] of [
  ['c', 'pg-custom'],
  ['t', 'pg-tar'],
] as const) {
  test(`postgres: restores a real pg_dump -F${flag} file from a stream`, async () => {
    const src = await seededSource();
    const file = path.join(work, `dump-${flag}.bin`);
    await realPgDump(src, flag, file);
    const target = fresh();
    let progress = 0;
    const result = await postgres.restore(target, createReadStream(file), format, { replace: false, onProgress: (n) => (progress = n) });
    assert.equal(result.tool, 'pg_restore');
    assert.equal(result.database, target.database);
    assert.equal(progress, statSync(file).size, 'progress counts every input byte');
    assert.equal(await fingerprint(target), expected);
  });
}

test('postgres: restores a real pg_dump -Fd folder, and replaces a non-empty target with it', async () => {
  const src = await seededSource();
  const dir = path.join(work, 'dump-d');
  await realPgDump(src, 'd', dir);
  const target = fresh();
  await postgres.restore(target, dir, 'pg-directory', { replace: false });
  assert.equal(await fingerprint(target), expected);

  const busy = fresh();
  await execSql(busy, smallSeedSql);
  await assert.rejects(postgres.restore(busy, dir, 'pg-directory', { replace: false }), hasCode('COFFRE_E_TARGET_NOT_EMPTY'));
  await postgres.restore(busy, dir, 'pg-directory', { replace: true });
  assert.equal(await fingerprint(busy), expected);
  assert.deepEqual(await databasesLike(busy, `${busy.database}_coffre_`), [], 'no side or old copy left behind');
  await assert.rejects(postgres.restore(target, Readable.from([]), 'pg-directory', { replace: true }), hasCode('COFFRE_E_PG_FORMAT'));
});

test('postgres: replace swaps even while another session holds the target', async () => {
  const src = await seededSource();
  const dump = await postgres.dump(src, {});
  const raw = await collect(dump.stream);
  const target = fresh();
  await execSql(target, smallSeedSql);
  const pg = (await import('pg')).default;
  const holder = new pg.Client({ host: target.host, port: target.port, user: target.user, database: target.database });
  holder.on('error', () => {});
  await holder.connect();
  try {
    await postgres.restore(target, Readable.from([raw]), 'sql', { replace: true });
  } finally {
    await holder.end().catch(() => {});
  }
  assert.equal(await fingerprint(target), expected);
  assert.deepEqual(await databasesLike(target, `${target.database}_coffre_`), []);
});

test('postgres: a failed replace leaves the target untouched and no side copy', async () => {
  const target = fresh();
  await execSql(target, smallSeedSql);
  const before = await fingerprint(target);
  const bad = Readable.from([Buffer.from('CREATE TABLE fine (a int);\nINSERT INTO fine VALUES (1);\nSELECT 1/0;\n')]);
  await assert.rejects(postgres.restore(target, bad, 'sql', { replace: true }), (err) => {
    hasCode('COFFRE_E_PSQL_FAILED')(err);
    assert.match((err as Error).message, /division by zero/);
    return true;
  });
  assert.equal(await fingerprint(target), before);
  assert.deepEqual(await databasesLike(target, `${target.database}_coffre_`), []);
});

test('postgres: a failed restore into a missing database does not leave it behind', async () => {
  const target = fresh();
  const bad = Readable.from([Buffer.from('CREATE TABLE t (a int);\nSELECT no_such_function();\n')]);
  await assert.rejects(postgres.restore(target, bad, 'sql', { replace: false }), hasCode('COFFRE_E_PSQL_FAILED'));
  assert.equal(await databaseExists(target), false);
});

test('postgres: an input cut mid-way commits nothing, even though psql would commit at end of file', async () => {
  const target = fresh();
  await execSql(target, 'SELECT 1'); // exists, empty
  const cut = new Readable({ read() {} });
  // Once the first statements reached psql, the input fails.
  const onProgress = () => setImmediate(() => cut.destroy(new Error('storage connection lost')));
  const done = postgres.restore(target, cut, 'sql', { replace: false, onProgress });
  cut.push('CREATE TABLE half (a int);\nINSERT INTO half VALUES (1);\n');
  await assert.rejects(done, (err) => {
    hasCode('COFFRE_E_RESTORE_INPUT_FAILED')(err);
    assert.match((err as Error).message, /storage connection lost/);
    return true;
  });
  assert.deepEqual(await postgres.inspect(target), { exists: true, empty: true });
});

test('postgres: a script that would quit psql before its end (\\q) is refused, not taken as a complete restore', async () => {
  const target = fresh();
  const filler = Buffer.alloc(64 * 1024, '-');
  const chunks = [Buffer.from('CREATE TABLE t (a int);\n\\q\n'), ...Array.from({ length: 48 }, () => filler)];
  await assert.rejects(postgres.restore(target, Readable.from(chunks), 'sql', { replace: false }), hasCode('COFFRE_E_SQL_CLIENT_COMMAND'));
  assert.equal(await databaseExists(target), false, 'the database made for it is dropped again');
});

test('postgres: database names with "-", "=", spaces, quotes and backslashes stay names', async () => {
  for (const name of ['-x', 'a=b', 'with space "quote"', "it's \\ dbname=postgres"]) {
    const src = fresh(name);
    await execSql(src, smallSeedSql);
    const want = await fingerprint(src);
    const dump = await postgres.dump(src, {});
    const raw = await collect(dump.stream);
    assert.match(raw.toString('utf8'), /CREATE TABLE "public"\."notes"/, `dump of ${name} holds its table`);
    const target = fresh(name);
    await postgres.restore(target, Readable.from([raw]), 'sql', { replace: false });
    assert.equal(await fingerprint(target), want, `round trip into ${JSON.stringify(target.database)}`);
    assert.deepEqual(await postgres.inspect(target), { exists: true, empty: false });
  }
});

test('postgres: a role that may not log in is a clear authentication failure (driver and tool)', async () => {
  const role = uniqueName('coffre_nologin');
  const admin = parseConnectionUrl(adminUrl);
  await withClient(admin, (c) => c.query(`CREATE ROLE "${role}" NOLOGIN`));
  try {
    const conn = parseConnectionUrl(`postgres://${role}:wrong-password@127.0.0.1:${admin.port}/postgres`);
    await assert.rejects(postgres.dump(conn, {}), (err) => {
      hasCode('COFFRE_E_AUTH_FAILED')(err);
      assert.match((err as Error).message, new RegExp(role));
      assert.doesNotMatch((err as Error).message, /wrong-password/);
      return true;
    });
    await assert.rejects(postgres.restore(withDatabase(conn, uniqueName()), Readable.from([]), 'sql', { replace: false }), hasCode('COFFRE_E_AUTH_FAILED'));
    // The same refusal as pg_dump itself prints it goes through the engine's explanation.
    const { explainFor } = await import('../src/engines/postgres-client.ts');
    const stream = spawnSource({
      command: pgDumpPath,
      args: ['--no-password', '--host=127.0.0.1', `--port=${admin.port}`, `--username=${role}`, '--dbname=postgres'],
      label: 'PG_DUMP',
      explain: explainFor(conn),
    });
    await assert.rejects(collect(stream), hasCode('COFFRE_E_AUTH_FAILED'));
  } finally {
    await withClient(admin, (c) => c.query(`DROP ROLE IF EXISTS "${role}"`));
  }
});

test('postgres: libpq failure texts are explained (wrong password cannot be provoked under trust auth)', () => {
  const conn = parseConnectionUrl('postgres://app:s3cret@db.example:6543/shop');
  const cases: Array<[string, string]> = [
    ['pg_dump: error: connection to server at "db.example" (10.0.0.5), port 6543 failed: FATAL:  password authentication failed for user "app"', 'COFFRE_E_AUTH_FAILED'],
    ['psql: error: connection to server at "db.example", port 6543 failed: fe_sendauth: no password supplied', 'COFFRE_E_AUTH_FAILED'],
    ['pg_dump: error: could not translate host name "db.example" to address: Name or service not known', 'COFFRE_E_UNREACHABLE'],
    [
      'pg_dump: error: connection to server at "db.example", port 6543 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?',
      'COFFRE_E_UNREACHABLE',
    ],
    ['pg_dump: error: connection to server at "db.example", port 6543 failed: FATAL:  database "shop" does not exist', 'COFFRE_E_DATABASE_NOT_FOUND'],
  ];
  for (const [text, code] of cases) {
    const err = explainPgText(conn, text);
    assert.equal(err?.code, code, text);
    assert.match(err!.message, /db\.example:6543/);
    assert.doesNotMatch(err!.message, /s3cret/);
  }
  assert.match(explainPgText(conn, cases[0][0])!.message, /user "app".*check the password/);
  assert.equal(explainPgText(conn, 'ERROR:  syntax error at or near "x"'), undefined);
  assert.deepEqual(parseClientVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)'), { version: '15.20', num: 150020 });
  assert.deepEqual(parseClientVersion('pg_dump (PostgreSQL) 9.6.24'), { version: '9.6.24', num: 90624 });
});

test('postgres: an unreachable server is COFFRE_E_UNREACHABLE for every operation', async () => {
  const conn = parseConnectionUrl('postgres://root:pw@127.0.0.1:1/whatever');
  await assert.rejects(postgres.dump(conn, {}), hasCode('COFFRE_E_UNREACHABLE'));
  await assert.rejects(postgres.inspect(conn), hasCode('COFFRE_E_UNREACHABLE'));
  await assert.rejects(postgres.restore(conn, Readable.from([]), 'sql', { replace: false }), hasCode('COFFRE_E_UNREACHABLE'));
});

async function withBinDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.COFFRE_PG_BIN_DIR;
  process.env.COFFRE_PG_BIN_DIR = dir;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.COFFRE_PG_BIN_DIR;
    else process.env.COFFRE_PG_BIN_DIR = saved;
  }
}

test('postgres: a missing client is COFFRE_E_PG_CLIENT_NOT_FOUND naming where it looked and what to install', async () => {
  const empty = mkdtempSync(path.join(work, 'empty-bin-'));
  const conn = parseConnectionUrl(adminUrl);
  await withBinDir(empty, async () => {
    await assert.rejects(postgres.dump(conn, {}), (err) => {
      hasCode('COFFRE_E_PG_CLIENT_NOT_FOUND')(err);
      assert.match((err as Error).message, /COFFRE_PG_BIN_DIR/);
      assert.match((err as Error).message, /postgresql-client-\d+/);
      return true;
    });
    await assert.rejects(postgres.restore(fresh(), Readable.from([]), 'sql', { replace: false }), hasCode('COFFRE_E_PG_CLIENT_NOT_FOUND'));
  });
});

test('postgres: a client older than the server is refused, naming both versions', async () => {
  // No older PostgreSQL client is installed here, so a stand-in reports an old version (it never dumps).
  const old = mkdtempSync(path.join(work, 'old-bin-'));
  writeFileSync(path.join(old, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n');
  chmodSync(path.join(old, 'pg_dump'), 0o755);
  const conn = parseConnectionUrl(adminUrl);
  const { serverVersion } = await postgres.probe(conn);
  await withBinDir(old, async () => {
    await assert.rejects(postgres.probe(conn), (err) => {
      hasCode('COFFRE_E_PG_CLIENT_TOO_OLD')(err);
      assert.ok((err as Error).message.includes(serverVersion), (err as Error).message);
      assert.match((err as Error).message, /9\.6\.24/);
      return true;
    });
  });
});

/** pg_dump children of this test process: pid, argv and environment. */
async function pgDumpChildren(): Promise<Array<{ pid: number; argv: string[]; env: string[] }>> {
  const out = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const [comm, rest] = [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), stat.slice(stat.lastIndexOf(')') + 2).split(' ')];
      if (comm !== 'pg_dump' || Number(rest[1]) !== process.pid) continue;
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      const env = (await readFile(`/proc/${entry}/environ`, 'utf8')).split('\0').filter(Boolean);
      out.push({ pid: Number(entry), argv, env });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

async function bigSource(): Promise<Connection> {
  const conn = fresh();
  await execSql(conn, `CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 8) AS payload FROM generate_series(1, 30000) g`);
  return conn;
}

test('postgres: the password never reaches argv; it sits in a 0600 PGPASSFILE removed after the dump', async () => {
  const src = await bigSource();
  const password = 'Sup3r-s3cret:with\\odd';
  const conn = connectionTo(src.database, `postgres://root:${encodeURIComponent(password)}@127.0.0.1:${src.port}/postgres`);
  const dump = await postgres.dump(conn, {});
  const it = dump.stream[Symbol.asyncIterator]();
  assert.equal((await it.next()).done, false);
  // pg_dump is now blocked writing into the paused stream: look at it.
  const children = await pgDumpChildren();
  assert.equal(children.length, 1, 'one pg_dump running');
  const [child] = children;
  assert.ok(!child.argv.join(' ').includes(password) && !child.argv.join(' ').includes('s3cret'), `argv: ${child.argv.join(' ')}`);
  assert.ok(!child.env.some((e) => e.startsWith('PGPASSWORD=')), 'no PGPASSWORD in its environment');
  const passfile = child.env.find((e) => e.startsWith('PGPASSFILE='))!.slice('PGPASSFILE='.length);
  assert.equal(statSync(passfile).mode & 0o777, 0o600);
  assert.equal((await readFile(passfile, 'utf8')).trim(), '*:*:*:*:Sup3r-s3cret\\:with\\\\odd');
  let bytes = 0;
  for (let r = await it.next(); !r.done; r = await it.next()) bytes += (r.value as Buffer).length;
  assert.ok(bytes > 5_000_000, 'the whole table came through');
  await until(() => !existsSync(passfile), 'the password file to be removed once the dump closed', { limitMs: 2_000 }); // removal is asynchronous
});

test('postgres: a pg_dump killed mid-stream makes the stream error, never end', async () => {
  const src = await bigSource();
  const dump = await postgres.dump(src, {});
  const it = dump.stream[Symbol.asyncIterator]();
  assert.equal((await it.next()).done, false);
  const [child] = await pgDumpChildren();
  assert.ok(child, 'pg_dump is running');
  process.kill(child.pid, 'SIGKILL');
  await assert.rejects(
    (async () => {
      for (let r = await it.next(); !r.done; r = await it.next());
    })(),
    (err) => {
      hasCode('COFFRE_E_PG_DUMP_FAILED')(err);
      assert.match((err as Error).message, /SIGKILL/);
      return true;
    },
  );
});
