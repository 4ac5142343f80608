// Issue 9 finding 2 through the real CLI and the real psql: no client command in a restored file ever
// runs (the marker files a command would make never appear), and COPY ... PROGRAM runs on the server only
// with --allow-program. Each refusal is exit 2 with a coded error, and the target is left as it was.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { adminUrl, connectionTo, databaseExists, dropDatabase, execSql, uniqueName, withClient } from './support/postgres.ts';

let ws: Workspace;
const made: string[] = [];

before(async () => {
  ws = await workspace('coffre-sql-safety-');
});

after(async () => {
  for (const name of made) await dropDatabase(connectionTo(name)).catch(() => {});
  await ws.cleanup();
});

async function pgTarget(): Promise<{ name: string; db: string }> {
  const db = uniqueName('coffre_safety');
  made.push(db);
  const name = `t_${randomBytes(3).toString('hex')}`;
  expectCode(await ws.run(['target', 'add', name, '--url', `${adminUrl.replace(/\/[^/]*$/, '')}/${db}`]), 0, 'target add');
  return { name, db };
}

/** A marker path under /tmp that a command in the file would create. */
function marker(): string {
  return path.join('/tmp', `coffre-marker-${process.pid}-${randomBytes(4).toString('hex')}`);
}

test('restore --file: a psql meta-command in the file never runs; the restore is refused (exit 2) and the target is not created', async () => {
  const cases = (m: string) => [
    `\\! touch ${m}`,
    `\\o |touch ${m}`,
    `\\copy (select 1) to program 'touch ${m}'`,
    `SELECT 1 \\g |touch ${m}`,
    `\\setenv PAGER 'touch ${m}'`,
    `\\i ${m}.sql`,
    `\\ir ${m}.sql`,
    `\\w ${m}`,
  ];
  for (const line of cases('X')) {
    const m = marker();
    const text = line.replace(/X/g, m);
    const file = path.join(ws.dir, `meta-${randomBytes(3).toString('hex')}.sql`);
    // \i would read this file, which creates the marker if it ever runs
    await writeFile(`${m}.sql`, `\\! touch ${m}\n`);
    await writeFile(file, `CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n${text}\nSELECT 2;\n`);
    const { name, db } = await pgTarget();
    const r = await ws.run(['restore', '--file', file, '--to', name, '--json']);
    assert.equal(r.code, 2, `${text}: ${r.all}`);
    assert.match(r.all, /COFFRE_E_SQL_CLIENT_COMMAND/, text);
    assert.equal(existsSync(m), false, `${text} must not have run`);
    assert.equal(await databaseExists(connectionTo(db)), false, `${text}: nothing written`);
    await rm(`${m}.sql`, { force: true });
  }
});

test('restore --file: COPY ... TO PROGRAM runs on the server only with --allow-program', async () => {
  const m = marker();
  const file = path.join(ws.dir, 'program.sql');
  await writeFile(file, `CREATE TABLE t (a int);\nCOPY (SELECT 1) TO PROGRAM 'touch ${m}';\n`);
  const { name, db } = await pgTarget();
  const refused = await ws.run(['restore', '--file', file, '--to', name, '--json']);
  assert.equal(refused.code, 2, refused.all);
  assert.match(refused.all, /COFFRE_E_SQL_COPY_PROGRAM/);
  assert.match(refused.all, /--allow-program/);
  assert.equal(existsSync(m), false);
  assert.equal(await databaseExists(connectionTo(db)), false);
  const allowed = await ws.run(['restore', '--file', file, '--to', name, '--allow-program', '--json']);
  expectCode(allowed, 0, 'restore --allow-program');
  assert.equal(existsSync(m), true, 'with --allow-program the server ran the program');
  await rm(m, { force: true });
});

test('restore --file: COPY FROM or TO a file on the database server is refused (exit 2) unless --allow-program', async () => {
  // The server (here on this host, as its own user) would write the file: evidence if it ran.
  const out = path.join('/tmp', `coffre-copy-out-${process.pid}-${randomBytes(4).toString('hex')}`);
  const file = path.join(ws.dir, 'server-file.sql');
  await writeFile(file, `CREATE TABLE t (a int);\nINSERT INTO t VALUES (42);\nCOPY t TO '${out}';\n`);
  const { name, db } = await pgTarget();
  const refused = await ws.run(['restore', '--file', file, '--to', name, '--json']);
  assert.equal(refused.code, 2, refused.all);
  assert.equal(JSON.parse(refused.stderr).error.code, 'COFFRE_E_SQL_COPY_SERVER_FILE');
  assert.match(refused.all, /--allow-program/);
  assert.equal(existsSync(out), false, 'the server wrote no file');
  assert.equal(await databaseExists(connectionTo(db)), false, 'nothing written to the target');
  const read = path.join(ws.dir, 'server-read.sql');
  await writeFile(read, "CREATE TABLE secrets (line text);\nCOPY secrets FROM '/etc/hostname';\n");
  const reading = await ws.run(['restore', '--file', read, '--to', name, '--json']);
  assert.equal(reading.code, 2, reading.all);
  assert.equal(JSON.parse(reading.stderr).error.code, 'COFFRE_E_SQL_COPY_SERVER_FILE');
  assert.equal(await databaseExists(connectionTo(db)), false);
  const allowed = await ws.run(['restore', '--file', file, '--to', name, '--allow-program', '--json']);
  expectCode(allowed, 0, 'restore --allow-program');
  assert.equal(existsSync(out), true, 'with --allow-program the server wrote the file');
  await rm(out, { force: true });
});

test('restore --file: statements on the server itself (roles, ALTER SYSTEM) are refused (exit 2); no role is made and the target is not created', async () => {
  const role = `coffre_evil_${randomBytes(4).toString('hex')}`;
  const admin = connectionTo('postgres');
  const roleExists = () => withClient(admin, async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rows.length === 1);
  try {
    for (const text of [
      `CREATE TABLE t (a int);\nCREATE ROLE ${role} LOGIN SUPERUSER;\n`,
      `CREATE TABLE t (a int);\nGRANT pg_read_server_files TO ${role};\n`,
      `CREATE TABLE t (a int);\nALTER SYSTEM SET log_statement = 'none';\n`,
    ]) {
      const file = path.join(ws.dir, `server-${randomBytes(3).toString('hex')}.sql`);
      await writeFile(file, text);
      const { name, db } = await pgTarget();
      const refused = await ws.run(['restore', '--file', file, '--to', name, '--allow-program', '--json']);
      assert.equal(refused.code, 2, refused.all);
      assert.equal(JSON.parse(refused.stderr).error.code, 'COFFRE_E_SQL_SERVER_STATEMENT', text);
      assert.match(refused.all, /changes the PostgreSQL server itself/);
      assert.equal(await roleExists(), false, 'no role made');
      assert.equal(await databaseExists(connectionTo(db)), false, 'nothing written to the target');
    }
  } finally {
    await execSql(admin, `DROP ROLE IF EXISTS ${role}`).catch(() => {});
  }
});

test('restore of a pg_dump 15.14+ file: its own \\restrict lines are dropped and coffre puts its own first', async () => {
  const file = path.join(ws.dir, 'restrict.sql');
  await writeFile(file, '\\restrict aBcD\nCREATE TABLE t (a int);\nINSERT INTO t VALUES (7);\n\\unrestrict aBcD\n');
  const { name, db } = await pgTarget();
  expectCode(await ws.run(['restore', '--file', file, '--to', name]), 0, 'restore');
  assert.equal(await withClient(connectionTo(db), async (c) => (await c.query('SELECT a FROM t')).rows[0].a), 7);
});

test('restore --file into MariaDB: client commands and LOCAL INFILE never reach this host', async () => {
  const db = `coffre_safety_my_${process.pid}_${randomBytes(3).toString('hex')}`;
  const name = `m_${randomBytes(3).toString('hex')}`;
  expectCode(await ws.run(['target', 'add', name, '--url', `mysql://root@127.0.0.1:3306/${db}`]), 0, 'target add');
  try {
    const m = marker();
    const cases: Array<[string, RegExp]> = [
      [`CREATE TABLE t (a TEXT);\n\\! touch ${m}\n`, /COFFRE_E_SQL_CLIENT_COMMAND/],
      // without --binary-mode the client would run these; with it they reach the server as SQL and fail
      [`CREATE TABLE t (a TEXT);\nsystem touch ${m}\n`, /MYSQL_RESTORE_FAILED|syntax/],
      [`CREATE TABLE t (a TEXT);\nsource ${m}.sql\n`, /MYSQL_RESTORE_FAILED|syntax/],
      [`CREATE TABLE t (a TEXT);\nLOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t;\n`, /MYSQL_RESTORE_FAILED|LOAD DATA LOCAL|not allowed|disabled/i],
    ];
    await writeFile(`${m}.sql`, `CREATE TABLE leaked (a int);\n`);
    for (const [text, expected] of cases) {
      const file = path.join(ws.dir, `my-${randomBytes(3).toString('hex')}.sql`);
      await writeFile(file, text);
      const r = await ws.run(['restore', '--file', file, '--to', name, '--json']);
      assert.notEqual(r.code, 0, `${text}: ${r.all}`);
      assert.match(r.all, expected, text);
      assert.equal(existsSync(m), false, `${text} ran nothing here`);
      const left = await import('./support/mysql.ts').then((s) => s.adminSql(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${db}';`));
      assert.equal(left[0][0], '0', `${text}: the target is not left behind`);
    }
    await rm(`${m}.sql`, { force: true });
  } finally {
    await import('./support/mysql.ts').then((s) => s.dropDatabase(db)).catch(() => {});
  }
});
