// The CLI against a real PostgreSQL: backup, verify, restore into a new database (created by the restore),
// and a target on a closed port that fails cleanly with no artifact left.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { workspace, expectCode, type Workspace } from './support/cli.ts';

const suffix = randomBytes(4).toString('hex');
const source = `coffre_cli_src_${suffix}`;
const restored = `coffre_cli_dst_${suffix}`;
let ws: Workspace;
let admin: pg.Client;

async function query<T extends pg.QueryResultRow>(database: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

before(async () => {
  ws = await workspace('coffre-pg-cli-');
  admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${source}`);
  await query(
    source,
    `CREATE TABLE "odd ""name""" (id serial PRIMARY KEY, label text, doc jsonb, raw bytea);
    INSERT INTO "odd ""name""" (label, doc, raw) VALUES ('héllo 😀', '{"a": [1, null]}', '\\x00ff'), (NULL, NULL, NULL);`,
  );
});
after(async () => {
  for (const db of [source, restored]) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.end();
  await ws?.cleanup();
});

test('postgres: backup, verify, restore into a new database', async () => {
  expectCode(await ws.run(['target', 'add', 'pg-src', '--url', `postgres://postgres@127.0.0.1:5432/${source}`]), 0, 'target add');
  expectCode(await ws.run(['target', 'add', 'pg-dst', '--url', `postgres://postgres@127.0.0.1:5432/${restored}`]), 0, 'target add');
  expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]), 0, 'destination add');
  expectCode(await ws.run(['plan', 'add', 'pg', '--target', 'pg-src', '--destination', 'disk', '--compression', 'zstd', '--kind', 'incremental']), 0, 'plan add');
  const r = await ws.run(['backup', 'pg', '--json']);
  expectCode(r, 0, 'backup');
  const b = r.json<{ id: string; status: string; kind: string; message: string; artifact: string }>();
  assert.equal(b.kind, 'full');
  assert.match(b.message, /incremental backup was requested; a full backup was made/);
  assert.match(b.artifact, /\.sql\.zst$/);
  expectCode(await ws.run(['verify', b.id]), 0, 'verify');
  expectCode(await ws.run(['restore', b.id, '--to', 'pg-dst']), 0, 'restore');
  const sql = `SELECT label, doc::text, encode(raw, 'hex') AS raw FROM "odd ""name""" ORDER BY id`;
  assert.deepEqual(await query(restored, sql), await query(source, sql));
});

test('postgres: a closed port fails with exit 1, a failed row and no artifact', async () => {
  expectCode(await ws.run(['target', 'add', 'pg-closed', '--url', 'postgres://postgres@127.0.0.1:1/nothing']), 0, 'target add');
  expectCode(await ws.run(['plan', 'add', 'closed', '--target', 'pg-closed', '--destination', 'disk']), 0, 'plan add');
  const r = await ws.run(['backup', 'closed', '--json']);
  expectCode(r, 1, 'backup');
  const b = r.json<{ status: string; message: string }>();
  assert.equal(b.status, 'failed');
  assert.ok(b.message.length > 10, 'the failure says why');
  const dir = path.join(ws.dir, 'backups', 'closed');
  assert.deepEqual(existsSync(dir) ? await readdir(dir, { recursive: true }) : [], []);
});
