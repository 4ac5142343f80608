// Backups that cannot finish: a destination on a full disk, and a `coffre backup` killed with SIGKILL in
// the middle. Both must end with a truthful journal row and no artifact (or partial file) left behind.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { inProcess } from './support/api.ts';
import { filesUnder } from './support/files.ts';
import { until } from './support/wait.ts';

let ws: Workspace;
let backups: string;

/** A SQLite database of `mib` MiB of incompressible blobs. */
function bigDatabase(file: string, mib: number): void {
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
  const insert = db.prepare('INSERT INTO blobs (data) VALUES (?)');
  for (let i = 0; i < mib * 4; i++) insert.run(randomBytes(256 * 1024));
  db.close();
}

/** The first `.partial` file to appear under dir (a backup started writing); fails after 15 s without one. */
async function firstPartial(dir: string): Promise<string> {
  return until(async () => (await filesUnder(dir)).find((f) => f.endsWith('.partial')), `a .partial file under ${dir}`, { limitMs: 15_000, everyMs: 5 });
}

before(async () => {
  ws = await workspace('coffre-failures-');
  backups = path.join(ws.dir, 'backups');
});
after(async () => {
  await ws?.cleanup();
});

test('a full disk: failed, a "no space" message, exit 1, nothing left', async (t) => {
  const small = path.join(ws.dir, 'small');
  await mkdir(small);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', small], { stdio: 'pipe' });
  } catch (err) {
    t.skip(`cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`);
    return;
  }
  t.after(() => execFileSync('umount', [small]));
  const db = path.join(ws.dir, 'two-mib.db');
  bigDatabase(db, 2);
  expectCode(await ws.run(['target', 'add', 'big', '--url', `sqlite:${db}`]), 0, 'target add');
  expectCode(await ws.run(['destination', 'add', 'tiny', '--type', 'local', '--path', small]), 0, 'destination add');
  expectCode(await ws.run(['plan', 'add', 'full-disk', '--target', 'big', '--destination', 'tiny', '--compression', 'none']), 0, 'plan add');
  const r = await ws.run(['backup', 'full-disk', '--json']);
  expectCode(r, 1, 'backup onto a full disk');
  const b = r.json<{ status: string; message: string }>();
  assert.equal(b.status, 'failed');
  assert.match(b.message, /no space/i);
  assert.match(r.stderr, /"code":"COFFRE_E_DISK_FULL"/);
  assert.deepEqual(await filesUnder(small), [], 'no artifact, manifest or partial file left');
});

test('kill -9 of a running backup: the next command marks it interrupted and removes its partial files, cache copy and temporary folders', async () => {
  const db = path.join(ws.dir, 'big.db');
  bigDatabase(db, 32);
  expectCode(await ws.run(['target', 'add', 'slow', '--url', `sqlite:${db}`]), 0, 'target add');
  expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', backups]), 0, 'destination add');
  // An incremental plan: its first (full) backup also copies the raw dump into the delta-parent cache.
  expectCode(await ws.run(['plan', 'add', 'killed', '--target', 'slow', '--destination', 'disk', '--compression', 'gzip', '--kind', 'incremental']), 0, 'plan add');

  const child = ws.start(['backup', 'killed']);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const planDir = path.join(backups, 'killed');
  const partial = await firstPartial(planDir);
  assert.ok(partial, 'the backup started writing its artifact');
  child.kill('SIGKILL');
  await exited;
  assert.ok(existsSync(partial), 'the killed process left its partial file');
  const cacheDir = path.join(ws.dataDir, 'cache', 'raw');
  assert.ok(
    (await filesUnder(cacheDir)).some((f) => f.endsWith('.raw.partial')),
    'the killed process left its partial cache copy',
  );
  // A temporary folder of the dead process (a parent being rebuilt), and one of a live process (this one).
  const tmp = path.join(ws.dataDir, 'tmp');
  await mkdir(path.join(tmp, `parent-p${child.pid}-abc`, 'inner'), { recursive: true });
  await mkdir(path.join(tmp, `restore-p${process.pid}-def`), { recursive: true });

  const journal = await ws.run(['journal', '--plan', 'killed', '--json']);
  expectCode(journal, 0, 'journal');
  const rows = journal.json<Array<{ status: string; message: string; artifact: string }>>();
  assert.equal(rows.length, 1);
  assert.equal(rows[0].status, 'interrupted');
  assert.match(rows[0].message, /stopped before it finished/);
  assert.deepEqual(await filesUnder(planDir), [], 'partial files removed');
  assert.deepEqual(await filesUnder(cacheDir), [], 'partial cache copy removed');
  assert.deepEqual(await readdir(tmp), [`restore-p${process.pid}-def`], "only the live process's temporary folder is left");
});

test('a plan already backing up in another process: a second `coffre backup` is refused naming the running one, which still succeeds', async () => {
  const db = path.join(ws.dir, 'busy.db');
  bigDatabase(db, 8);
  expectCode(await ws.run(['target', 'add', 'busy', '--url', `sqlite:${db}`]), 0, 'target add');
  expectCode(await ws.run(['plan', 'add', 'busy', '--target', 'busy', '--destination', 'disk', '--compression', 'gzip']), 0, 'plan add');
  const child = ws.start(['backup', 'busy', '--json']);
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const exited = new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? -1)));
  const planDir = path.join(backups, 'busy');
  assert.ok(await firstPartial(planDir), 'the first backup started writing');
  child.kill('SIGSTOP'); // holds the first run mid-way, whatever the machine's speed
  try {
    const second = await ws.run(['backup', 'busy', '--json']);
    expectCode(second, 2, 'second backup of a busy plan');
    assert.match(second.stderr, /COFFRE_E_PLAN_RUNNING/);
    assert.match(second.stderr, new RegExp(`already has a backup running: journal [0-9a-f-]{36} \\(pid ${child.pid} on `));
    // A server on the same catalog answers 409 at once, not a job that fails later.
    const api = await inProcess({ DATA_DIR: ws.dataDir, API_TOKEN: 'busy-token-0123456789abcdef' });
    try {
      const r = await api.call('POST', '/api/backups', { body: { planId: 'busy' }, token: 'busy-token-0123456789abcdef' });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json().error.code, 'COFFRE_E_PLAN_RUNNING');
    } finally {
      await api.close();
    }
  } finally {
    child.kill('SIGCONT');
  }
  assert.equal(await exited, 0, stdout);
  const rows = (await ws.run(['journal', '--plan', 'busy', '--json'])).json<Array<{ status: string }>>();
  assert.deepEqual(
    rows.map((r) => r.status),
    ['success'],
    'the refused run left no row',
  );
});
