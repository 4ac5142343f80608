// SQLite engine: the shared engine contract, plus a dump taken while another process keeps writing.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PassThrough } from 'node:stream';
import { parseConnectionUrl, type Connection } from '../src/core/connection.ts';
import { sqlite } from '../src/engines/sqlite.ts';
import { engineContract } from './support/engine-contract.ts';
import { collect } from './support/streams.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { sqliteFingerprint } from './support/sqlite.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'coffre-sqlite-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function connFor(file: string): Connection {
  return parseConnectionUrl(`sqlite:${file}`);
}

function seed(conn: Connection): void {
  const db = new DatabaseSync(conn.path!);
  db.exec(`
    PRAGMA journal_mode = WAL;
    CREATE TABLE "odd ""name"" table" (id INTEGER PRIMARY KEY, "text col" TEXT, blob BLOB, real REAL, big INTEGER, "nothing" TEXT);
    CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
    CREATE INDEX idx_text ON "odd ""name"" table" ("text col");
    CREATE VIEW v_kv AS SELECT k, length(v) AS len FROM kv;
    CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
    CREATE TRIGGER trg AFTER INSERT ON kv BEGIN INSERT INTO audit (what) VALUES ('kv:' || NEW.k); END;
  `);
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const ins = db.prepare(`INSERT INTO "odd ""name"" table" ("text col", blob, real, big, "nothing") VALUES (?, ?, ?, ?, ?)`);
  ins.run('héllo wörld ✓ 😀 𝄞', all, 1.7976931348623157e308, 9223372036854775807n, null);
  ins.run('', Buffer.alloc(0), -0.0, -9223372036854775808n, null);
  ins.run('x'.repeat(1 << 20), null, 5e-324, 0, 'not null');
  ins.run('quote \' and " and \\ and \n newline', Buffer.from([0]), Number.MIN_VALUE, 42, '');
  const kv = db.prepare('INSERT INTO kv (k, v) VALUES (?, ?)');
  for (let i = 0; i < 500; i++) kv.run(`key-${i}`, `value ${i} ${'é'.repeat(i % 17)}`);
  db.exec("DELETE FROM kv WHERE k = 'key-7'");
  db.close();
}

engineContract({
  engine: sqlite,
  fresh: async () => connFor(path.join(dir, `db-${process.pid}-${++n}.sqlite`)),
  seed: async (conn) => seed(conn),
  fingerprint: async (conn) => sqliteFingerprint(conn.path!),
  drop: async (conn) => {
    for (const suffix of ['', '-wal', '-shm']) rmSync(conn.path! + suffix, { force: true });
  },
  broken: async () => connFor(path.join(dir, 'does-not-exist.sqlite')),
});

test('sqlite: a dump taken while another process writes is a consistent snapshot', async () => {
  const file = path.join(dir, 'live.sqlite');
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; CREATE TABLE a (id INTEGER PRIMARY KEY, pad TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, pad TEXT);');
  db.close();
  // The writer inserts one row into each table per transaction: any consistent snapshot has equal counts.
  const writerScript = path.join(dir, 'writer.mjs');
  writeFileSync(
    writerScript,
    `import { DatabaseSync } from 'node:sqlite';
     const db = new DatabaseSync(${JSON.stringify(file)});
     db.exec('PRAGMA busy_timeout = 5000');
     const a = db.prepare('INSERT INTO a (pad) VALUES (?)'), b = db.prepare('INSERT INTO b (pad) VALUES (?)');
     const pad = 'p'.repeat(2000);
     for (let i = 0; ; i++) { db.exec('BEGIN'); a.run(pad); b.run(pad); db.exec('COMMIT'); if (i === 100) process.stdout.write('ready\\n'); }`,
  );
  const writer = spawn(process.execPath, [writerScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => writer.stdout.once('data', () => resolve())); // 100 commits done, and it goes on writing
    const dump = await sqlite.dump(connFor(file), {});
    const bytes = await collect(dump.stream);
    const copyFile = path.join(dir, 'live-copy.sqlite');
    writeFileSync(copyFile, bytes);
    const copy = new DatabaseSync(copyFile, { readOnly: true });
    try {
      assert.equal((copy.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
      const a = (copy.prepare('SELECT count(*) AS n FROM a').get() as { n: number }).n;
      const b = (copy.prepare('SELECT count(*) AS n FROM b').get() as { n: number }).n;
      assert.ok(a > 0, 'the writer had committed rows before the dump');
      assert.equal(a, b, 'both tables come from the same snapshot');
    } finally {
      copy.close();
    }
  } finally {
    writer.kill('SIGKILL');
  }
});

test('sqlite: a file that is not a database is refused on restore and the target is untouched', async () => {
  const target = connFor(path.join(dir, 'garbage-target.sqlite'));
  const input = new PassThrough();
  input.end(Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(4096, 0x41)]));
  await assert.rejects(sqlite.restore(target, input, 'sqlite', { replace: false }), (err) => isCoffreError(err) && err.kind === 'failed');
  assert.deepEqual(await sqlite.inspect(target), { exists: false, empty: true });
});
