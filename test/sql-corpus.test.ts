// The real-world corpus (../shared/fixtures/real-world/{pg,mysql,sqlite}, files other tools made) restored
// by the real CLI into the real servers, each compared with the same file loaded by the native client
// (psql, mariadb, the sqlite3 CLI, else node:sqlite) into a database this test creates: row counts and a
// content checksum per table, and the fuller fingerprints of test/support. The scripts that create and
// switch to their own database (Chinook, Sakila) are loaded natively with those three lines taken out,
// since loading them as they are would write into a database of their choosing; coffre must restore
// them as they are. A file that cannot work on this server must be refused with a known code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { workspace, expectCode, mainScript, type Workspace } from './support/cli.ts';
import * as pgs from './support/postgres.ts';
import * as mys from './support/mysql.ts';

const run = promisify(execFile);
const corpus = path.resolve(import.meta.dirname, '../../shared/fixtures/real-world');
const pgBin = existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin' : '';
const psql = pgBin ? path.join(pgBin, 'psql') : 'psql';
const hasSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;

let ws: Workspace;
const pgMade: string[] = [];
const myMade: string[] = [];

before(async () => {
  ws = await workspace('coffre-sql-corpus-');
});

after(async () => {
  for (const db of pgMade) await pgs.dropDatabase(pgs.connectionTo(db)).catch(() => {});
  for (const db of myMade) await mys.dropDatabase(db).catch(() => {});
  await ws.cleanup();
});

const file = (p: string) => path.join(corpus, p);

/** The file with the lines that name its own database taken out, for the native load. */
async function without(p: string, lines: string[], qualifier?: string): Promise<string> {
  let text = await readFile(file(p), 'utf8');
  for (const line of lines) {
    assert.ok(text.includes(line), `${p} has "${line}"`);
    text = text.replace(line, '');
  }
  // names qualified with the script's own database (Sakila's views) name the database the native load goes into
  if (qualifier) text = text.replaceAll(`${qualifier}.`, '');
  const out = path.join(ws.dir, `native-${randomBytes(3).toString('hex')}-${path.basename(p)}`);
  await writeFile(out, text);
  return out;
}

async function addTarget(url: string): Promise<string> {
  const name = `t_${randomBytes(3).toString('hex')}`;
  expectCode(await ws.run(['target', 'add', name, '--url', url]), 0, 'target add');
  return name;
}

// --- PostgreSQL

const pgUrl = (db: string) => `${pgs.adminUrl.replace(/\/[^/]*$/, '')}/${db}`;

/** Row count and content checksum of every user table. */
async function pgTables(db: string): Promise<Record<string, string>> {
  return pgs.withClient(pgs.connectionTo(db), async (c) => {
    const { rows } = await c.query<{ s: string; t: string }>(
      `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
    );
    const out: Record<string, string> = {};
    for (const { s, t } of rows) {
      const q = `"${s.replace(/"/g, '""')}"."${t.replace(/"/g, '""')}"`;
      const r = await c.query<{ n: string; h: string | null }>(`SELECT count(*) AS n, md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))) AS h FROM ${q} x`);
      out[`${s}.${t}`] = `${r.rows[0].n} ${r.rows[0].h}`;
    }
    return out;
  });
}

async function pgNative(files: string[]): Promise<string> {
  const db = pgs.uniqueName('coffre_native');
  pgMade.push(db);
  await pgs.createDatabase(pgs.connectionTo(db));
  const conn = pgs.connectionTo(db);
  await run(
    psql,
    ['-h', conn.host ?? '127.0.0.1', '-U', conn.user ?? 'root', '-d', db, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', ...files.flatMap((f) => ['-f', f])],
    {
      maxBuffer: 64 << 20,
    },
  );
  return db;
}

async function pgCoffre(files: string[], extra: string[] = []): Promise<{ db: string; message: string }> {
  const db = pgs.uniqueName('coffre_corpus');
  pgMade.push(db);
  const target = await addTarget(pgUrl(db));
  const r = await ws.run(['restore', ...files.flatMap((f) => ['--file', f]), '--to', target, '--json', ...extra]);
  expectCode(r, 0, `restore ${files.join(' ')}`);
  return { db, message: r.json<{ message: string }>().message };
}

/** The objects of the user schemas: relations, columns, routines, types, constraints, indexes. */
async function pgSchema(db: string): Promise<string> {
  return pgs.withClient(pgs.connectionTo(db), async (c) => {
    const user = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'`;
    const parts = [
      `SELECT n.nspname, c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped WHERE ${user} ORDER BY 1, 2, 4`,
      `SELECT n.nspname, p.proname, p.prokind, pg_get_function_identity_arguments(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${user} ORDER BY 1, 2, 4`,
      `SELECT n.nspname, t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE ${user} ORDER BY 1, 2`,
      `SELECT n.nspname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace WHERE ${user} ORDER BY 1, 2, 3`,
      `SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
      `SELECT event_object_table, trigger_name, action_statement FROM information_schema.triggers ORDER BY 1, 2, 3`,
    ];
    const out: string[] = [];
    for (const q of parts) out.push(JSON.stringify((await c.query(q)).rows));
    return out.join('\n');
  });
}

async function assertSamePg(a: string, b: string): Promise<void> {
  const ta = await pgTables(a);
  assert.ok(Object.keys(ta).length > 0, 'tables were restored');
  assert.deepEqual(ta, await pgTables(b));
  assert.equal(await pgSchema(a), await pgSchema(b));
}

test('corpus pg: Pagila schema + data, two --file in one run, equal to psql -f schema -f data', async () => {
  const files = [file('pg/pagila-schema.sql'), file('pg/pagila-data.sql')];
  const mine = await pgCoffre(files);
  await assertSamePg(mine.db, await pgNative(files));
});

test('corpus pg: Chinook (DROP/CREATE DATABASE chinook, \\c chinook) restores into the target, equal to psql without those lines', async () => {
  const mine = await pgCoffre([file('pg/Chinook_PostgreSql.sql')]);
  assert.match(mine.message, /dropped the dump's own database statements naming "chinook" \(DROP DATABASE, CREATE DATABASE, \\c\)/);
  const native = await pgNative([await without('pg/Chinook_PostgreSql.sql', ['DROP DATABASE IF EXISTS chinook;', 'CREATE DATABASE chinook;', '\\c chinook;'])]);
  await assertSamePg(mine.db, native);
  assert.equal(await pgs.databaseExists(pgs.connectionTo('chinook')), false, 'no database "chinook" was made');
});

test('corpus pg: Chinook from standard input (--file -), gzip-compressed, restores the same', async () => {
  const db = pgs.uniqueName('coffre_stdin');
  pgMade.push(db);
  const target = await addTarget(pgUrl(db));
  const child = spawn(process.execPath, [mainScript, 'restore', '--file', '-', '--to', target, '--json'], { cwd: ws.dir, env: ws.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const gzip = spawn('gzip', ['-c', file('pg/Chinook_PostgreSql.sql')], { stdio: ['ignore', 'pipe', 'inherit'] });
  gzip.stdout.pipe(child.stdin);
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, out);
  assert.match(JSON.parse(out).message, /Restored sql \(gzip\)/);
  const native = await pgNative([await without('pg/Chinook_PostgreSql.sql', ['DROP DATABASE IF EXISTS chinook;', 'CREATE DATABASE chinook;', '\\c chinook;'])]);
  assert.deepEqual(await pgTables(db), await pgTables(native));
});

test('corpus pg: the pg_dump 17 schema is refused on PostgreSQL 15 before anything is written (COFFRE_E_PG_DUMP_TOO_NEW)', async () => {
  const db = pgs.uniqueName('coffre_pg17');
  pgMade.push(db);
  const target = await addTarget(pgUrl(db));
  const r = await ws.run(['restore', '--file', file('pg/xzilla-pagila-schema-pg17.sql'), '--to', target, '--json']);
  assert.equal(r.code, 2, r.all);
  assert.match(r.all, /COFFRE_E_PG_DUMP_TOO_NEW/);
  assert.match(r.all, /pg_dump 17/);
  assert.equal(await pgs.databaseExists(pgs.connectionTo(db)), false);
});

// --- MySQL / MariaDB

async function myTables(db: string): Promise<Record<string, string>> {
  const tables = await mys.adminSql(
    `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY BINARY TABLE_NAME;`,
    db,
  );
  const out: Record<string, string> = {};
  for (const [t] of tables) {
    const cols = await mys.adminSql(`SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${t}' ORDER BY ORDINAL_POSITION;`, db);
    const concat = `CONCAT_WS('|', ${cols.map(([c]) => `IFNULL(HEX(${mys.q(c)}), 'N')`).join(', ')})`;
    const [[n, h]] = await mys.adminSql(
      `SET SESSION group_concat_max_len = 1073741824; SELECT COUNT(*), IFNULL(SHA2(GROUP_CONCAT(SHA2(${concat}, 256) ORDER BY SHA2(${concat}, 256) SEPARATOR ''), 256), '-') FROM ${mys.q(t)};`,
      db,
    );
    out[t] = `${n} ${h}`;
  }
  return out;
}

async function myNative(files: string[]): Promise<string> {
  const db = `coffre_native_${process.pid}_${randomBytes(3).toString('hex')}`;
  myMade.push(db);
  await mys.adminSql(`CREATE DATABASE ${mys.q(db)} CHARACTER SET utf8mb4;`);
  for (const f of files) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('mariadb', ['-h', mys.HOST, '-P', String(mys.PORT), '-u', 'root', '--default-character-set=utf8mb4', db], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      createReadStream(f).pipe(child.stdin);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mariadb < ${f}: ${err}`))));
    });
  }
  return db;
}

async function myCoffre(files: string[]): Promise<{ db: string; message: string }> {
  const db = `coffre_corpus_${process.pid}_${randomBytes(3).toString('hex')}`;
  myMade.push(db);
  const target = await addTarget(`mysql://root@${mys.HOST}:${mys.PORT}/${db}`);
  const r = await ws.run(['restore', ...files.flatMap((f) => ['--file', f]), '--to', target, '--json']);
  expectCode(r, 0, `restore ${files.join(' ')}`);
  return { db, message: r.json<{ message: string }>().message };
}

/** Columns, views, routines, triggers and indexes (what the restore must bring besides rows). */
async function mySchema(db: string): Promise<string> {
  const rows = await mys.adminSql(
    `SELECT 'col', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, 'N') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY BINARY TABLE_NAME, ORDINAL_POSITION;
     SELECT 'obj', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY BINARY TABLE_NAME;
     SELECT 'routine', ROUTINE_NAME, ROUTINE_TYPE, SHA2(ROUTINE_DEFINITION, 256) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY BINARY ROUTINE_NAME;
     SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE, SHA2(ACTION_STATEMENT, 256) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY BINARY TRIGGER_NAME;
     SELECT 'index', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY BINARY TABLE_NAME, BINARY INDEX_NAME, SEQ_IN_INDEX;`,
    db,
  );
  return rows.map((r) => r.join('\t')).join('\n');
}

async function assertSameMy(a: string, b: string): Promise<void> {
  const ta = await myTables(a);
  assert.ok(Object.keys(ta).length > 0, 'tables were restored');
  assert.deepEqual(ta, await myTables(b));
  assert.equal(await mySchema(a), await mySchema(b));
}

test('corpus mysql: Sakila schema + data (DROP/CREATE SCHEMA sakila, USE sakila, DELIMITER, triggers, routines) into the target, equal to mariadb', async () => {
  const mine = await myCoffre([file('mysql/sakila-mv-schema.sql'), file('mysql/sakila-mv-data.sql')]);
  assert.match(mine.message, /naming `sakila`/);
  assert.match(mine.message, /qualified names/);
  const native = await myNative([
    await without('mysql/sakila-mv-schema.sql', ['DROP SCHEMA IF EXISTS sakila;', 'CREATE SCHEMA sakila;', 'USE sakila;'], 'sakila'),
    await without('mysql/sakila-mv-data.sql', ['USE sakila;']),
  ]);
  await assertSameMy(mine.db, native);
});

test('corpus mysql: Chinook (DROP/CREATE DATABASE `Chinook`, USE `Chinook`) into the target, equal to mariadb without those lines', async () => {
  const mine = await myCoffre([file('mysql/Chinook_MySql.sql')]);
  assert.match(mine.message, /naming `Chinook`/);
  const native = await myNative([await without('mysql/Chinook_MySql.sql', ['DROP DATABASE IF EXISTS `Chinook`;', 'CREATE DATABASE `Chinook`;', 'USE `Chinook`;'])]);
  await assertSameMy(mine.db, native);
  const left = await mys.adminSql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('Chinook', 'sakila');`);
  assert.deepEqual(left, [], 'no database of the dumps own names was made');
});

// --- SQLite

function sqliteTables(file: string): Record<string, string> {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const out: Record<string, string> = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
    for (const { name } of tables) {
      const rows = db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}" ORDER BY rowid`).all();
      const hash = createHash('sha256');
      for (const r of rows)
        hash.update(JSON.stringify(Object.values(r), (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));
      out[name] = `${rows.length} ${hash.digest('hex')}`;
    }
    const schema = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all();
    out['(schema)'] = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
    return out;
  } finally {
    db.close();
  }
}

async function sqliteNative(sqlFile: string): Promise<string> {
  const out = path.join(ws.dir, `native-${randomBytes(3).toString('hex')}.db`);
  if (hasSqlite3) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('sqlite3', ['-bail', out], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c) => (err += c));
      createReadStream(sqlFile).pipe(child.stdin);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sqlite3 < ${sqlFile}: ${err}`))));
    });
  } else {
    const db = new DatabaseSync(out);
    db.exec(await readFile(sqlFile, 'utf8'));
    db.close();
  }
  return out;
}

async function sqliteCoffre(input: string): Promise<{ file: string; message: string }> {
  const out = path.join(ws.dir, `coffre-${randomBytes(3).toString('hex')}.db`);
  const target = await addTarget(`sqlite:${out}`);
  const r = await ws.run(['restore', '--file', input, '--to', target, '--json']);
  expectCode(r, 0, `restore ${input}`);
  return { file: out, message: r.json<{ message: string }>().message };
}

test('corpus sqlite: the Chinook database file restores as it is', async () => {
  const mine = await sqliteCoffre(file('sqlite/Chinook_Sqlite.sqlite'));
  assert.deepEqual(sqliteTables(mine.file), sqliteTables(file('sqlite/Chinook_Sqlite.sqlite')));
});

test('corpus sqlite: the Chinook SQL script restores into a SQLite target, equal to the native load', async () => {
  const mine = await sqliteCoffre(file('sqlite/Chinook_Sqlite.sql'));
  const native = await sqliteNative(file('sqlite/Chinook_Sqlite.sql'));
  const t = sqliteTables(mine.file);
  assert.ok(Number(t.Track.split(' ')[0]) > 3000, 'the tracks are there');
  assert.deepEqual(t, sqliteTables(native));
});

test('corpus sqlite: real sqlite3 .dump output (BEGIN TRANSACTION ... COMMIT) restores, equal to the database it came from', async () => {
  assert.ok(hasSqlite3, 'the sqlite3 CLI is installed (scripts/test-services.sh installs it)');
  const { stdout } = await run('sqlite3', [file('sqlite/Chinook_Sqlite.sqlite'), '.dump'], { maxBuffer: 64 << 20 });
  assert.match(stdout, /^PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;/);
  const dump = path.join(ws.dir, 'chinook.dump.sql');
  await writeFile(dump, stdout);
  const mine = await sqliteCoffre(dump);
  assert.match(mine.message, /BEGIN\/COMMIT/);
  const t = sqliteTables(mine.file);
  const orig = sqliteTables(file('sqlite/Chinook_Sqlite.sqlite'));
  delete t['(schema)'];
  delete orig['(schema)'];
  assert.deepEqual(t, orig);
});
