// Differential and incremental backups of SQLite (the shared chain scenario), and through the real CLI:
// `--kind incremental` with no parent yet makes a full and says why; `restore --file` of a bare delta is
// refused with a message saying it needs its chain.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseConnectionUrl, type Connection } from '../src/core/connection.ts';
import { sqlite } from '../src/engines/sqlite.ts';
import { incrementalScenario } from './support/incremental.ts';
import { workspace, expectCode } from './support/cli.ts';
import { sqliteFingerprint } from './support/sqlite.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'coffre-inc-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function seed(file: string): void {
  const db = new DatabaseSync(file);
  db.exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT, data BLOB);
           CREATE INDEX customers_name ON customers (name);
           CREATE VIEW named AS SELECT id, name FROM customers WHERE name LIKE 'c%';`);
  const insert = db.prepare('INSERT INTO customers (name, note, data) VALUES (?, ?, ?)');
  db.exec('BEGIN');
  for (let i = 0; i < 3000; i++) insert.run(`customer ${i} é😀`, `note ${i} `.repeat(i % 20), Buffer.from([i % 256, 0, 255]));
  db.exec('COMMIT');
  db.close();
}

function change(file: string, step: number): void {
  const db = new DatabaseSync(file);
  db.exec(`INSERT INTO customers (name, note) VALUES ('new ${step}', 'inserted at step ${step}');
           UPDATE customers SET note = 'updated at step ${step}' WHERE id % 97 = ${step};
           DELETE FROM customers WHERE id % 101 = ${step};
           ALTER TABLE customers ADD COLUMN extra_${step} TEXT DEFAULT 'x${step}';`);
  db.close();
}

const fileOf = (conn: Connection): string => conn.path!;

incrementalScenario({
  engine: sqlite,
  fresh: async () => parseConnectionUrl(`sqlite:${path.join(dir, `db-${++n}.sqlite`)}`),
  url: (conn) => `sqlite:${fileOf(conn)}`,
  seed: async (conn) => seed(fileOf(conn)),
  change: async (conn, step) => change(fileOf(conn), step),
  fingerprint: async (conn) => sqliteFingerprint(fileOf(conn)),
  drop: async (conn) => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(fileOf(conn) + suffix, { force: true });
  },
});

test('sqlite CLI: --kind incremental without a parent makes a full and says why; a bare delta file is refused', async () => {
  const ws = await workspace('coffre-inc-cli-');
  try {
    const src = path.join(ws.dir, 'app.db');
    seed(src);
    expectCode(await ws.run(['target', 'add', 'app', '--url', `sqlite:${src}`]), 0, 'target add');
    expectCode(await ws.run(['target', 'add', 'copy', '--url', `sqlite:${path.join(ws.dir, 'copy.db')}`]), 0, 'target add copy');
    expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]), 0, 'destination add');
    expectCode(await ws.run(['plan', 'add', 'p', '--target', 'app', '--destination', 'disk']), 0, 'plan add');
    const first = await ws.run(['backup', 'p', '--kind', 'incremental', '--json']);
    expectCode(first, 0, 'first backup');
    const f = first.json<Record<string, unknown>>();
    assert.equal(f.kind, 'full');
    assert.equal(f.requestedKind, 'incremental');
    assert.match(String(f.message), /incremental backup was requested; a full backup was made because plan "p" has no successful backup yet/);
    change(src, 1);
    const second = await ws.run(['backup', 'p', '--kind', 'incremental', '--json']);
    expectCode(second, 0, 'second backup');
    const s = second.json<Record<string, unknown>>();
    assert.equal(s.kind, 'incremental');
    assert.equal(s.parentId, f.id);
    const bare = await ws.run(['restore', '--file', path.join(ws.dir, 'backups', String(s.artifact)), '--to', 'copy', '--json']);
    expectCode(bare, 2, 'restore --file of a delta');
    assert.match(bare.all, /coffre delta.*cannot be restored alone/);
    const byId = await ws.run(['restore', String(s.id), '--to', 'copy', '--json']);
    expectCode(byId, 0, 'restore by id');
    assert.equal(sqliteFingerprint(path.join(ws.dir, 'copy.db')), sqliteFingerprint(src));
  } finally {
    await ws.cleanup();
  }
});
