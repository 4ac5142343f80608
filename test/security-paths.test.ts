// The paths the API can name (issue 9, finding 4), against a real `coffre serve` child and the CLI: SQLite
// targets, local destinations and restore files resolve (symlinks included) under ALLOWED_PATHS or are
// refused with 403 and nothing written; coffre's own DATA_DIR (catalog, key) is never a target, destination
// or restore source, from the API (400) or the CLI (exit 2); the CLI may go outside ALLOWED_PATHS with a
// warning; the API does not restore into a SQLite target the CLI made outside; RESTORE_ALLOWED_PATHS still
// works as a deprecated alias.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { client, serve, type Served } from './support/api.ts';
import { until } from './support/wait.ts';

const TOKEN = 'paths-test-token-0123456789abc';

let ws: Workspace;
let allowed: string;
let outside: string;

function seed(file: string, value: string): void {
  const db = new DatabaseSync(file);
  db.exec(`CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('${value}')`);
  db.close();
}

before(async () => {
  ws = await workspace('coffre-sec-paths-');
  allowed = path.join(ws.dir, 'allowed');
  await mkdir(allowed);
  outside = await mkdtemp(path.join(tmpdir(), 'coffre-sec-outside-'));
  await symlink(outside, path.join(allowed, 'link-out'));
  seed(path.join(allowed, 'src.db'), 'inside');
  seed(path.join(outside, 'victim.db'), 'untouched');
  // The CLI makes the catalog (and the key) first.
  expectCode(await ws.run(['target', 'add', 'src', '--url', `sqlite:${path.join(allowed, 'src.db')}`], { ALLOWED_PATHS: allowed }), 0, 'target add');
});
after(async () => {
  await ws?.cleanup();
  await rm(outside, { recursive: true, force: true });
});

/** Asserts an API refusal: its status and code. */
async function expectRefused(r: { status: number; json(): any; text: string }, status: number, code: string, what: string): Promise<void> {
  assert.equal(r.status, status, `${what}: ${r.text}`);
  assert.equal(r.json().error.code, code, `${what}: ${r.text}`);
}

test('finding 4: through the API, SQLite targets, local destinations and restore files outside ALLOWED_PATHS or in DATA_DIR are refused, nothing written', async () => {
  const server: Served = await serve(ws, { API_TOKEN: TOKEN, ALLOWED_PATHS: `${allowed},${ws.dataDir}` });
  const api = client(server.url, TOKEN);
  try {
    const victim = path.join(outside, 'victim.db');
    const before = await readFile(victim);
    // SQLite targets.
    for (const p of [path.join(outside, 'new.db'), victim, path.join(allowed, 'link-out', 'new.db'), path.join(allowed, '..', 'up.db'), '/etc/passwd']) {
      await expectRefused(await api('POST', '/api/sgbd-targets', { name: 'x', url: `sqlite:${p}` }), 403, 'COFFRE_E_PATH_FORBIDDEN', `sqlite target ${p}`);
    }
    // DATA_DIR is never one, even listed in ALLOWED_PATHS.
    for (const p of [path.join(ws.dataDir, 'coffre.db'), path.join(ws.dataDir, 'secret.key'), path.join(ws.dataDir, 'backups', 'x.db')]) {
      await expectRefused(await api('POST', '/api/sgbd-targets', { name: 'x', url: `sqlite:${p}` }), 400, 'COFFRE_E_PATH_RESERVED', `sqlite target ${p}`);
    }
    const ok = await api('POST', '/api/sgbd-targets', { name: 'copy', url: `sqlite:${path.join(allowed, 'copy.db')}` });
    assert.equal(ok.status, 201, ok.text);
    await expectRefused(await api('PATCH', '/api/sgbd-targets/copy', { url: `sqlite:${victim}` }), 403, 'COFFRE_E_PATH_FORBIDDEN', 'PATCH to outside');
    // Local destinations.
    for (const p of [outside, path.join(allowed, 'link-out'), path.join(outside, 'sub')]) {
      await expectRefused(await api('POST', '/api/destinations', { name: 'd', type: 'local', path: p }), 403, 'COFFRE_E_PATH_FORBIDDEN', `destination ${p}`);
    }
    for (const p of [ws.dataDir, path.join(ws.dataDir, 'cache'), ws.dir, '/']) {
      const r = await api('POST', '/api/destinations', { name: 'd', type: 'local', path: p });
      assert.ok(r.status === 400 || r.status === 403, `destination ${p}: ${r.text}`);
    }
    await expectRefused(await api('POST', '/api/destinations', { name: 'd', type: 'local', path: ws.dataDir }), 400, 'COFFRE_E_PATH_RESERVED', 'destination DATA_DIR');
    const disk = await api('POST', '/api/destinations', { name: 'disk', type: 'local', path: path.join(allowed, 'backups') });
    assert.equal(disk.status, 201, disk.text);
    assert.equal((await api('POST', '/api/destinations', { name: 'root', type: 'local' })).status, 201, 'BACKUP_ROOT (inside DATA_DIR by default) is allowed');
    await expectRefused(await api('PATCH', '/api/destinations/disk', { path: outside }), 403, 'COFFRE_E_PATH_FORBIDDEN', 'PATCH destination outside');
    // Restore files.
    await expectRefused(await api('POST', '/api/restores', { path: victim, targetId: 'copy' }), 403, 'COFFRE_E_RESTORE_PATH_FORBIDDEN', 'restore from outside');
    await expectRefused(
      await api('POST', '/api/restores', { path: path.join(ws.dataDir, 'coffre.db'), targetId: 'copy' }),
      400,
      'COFFRE_E_PATH_RESERVED',
      'restore from the catalog',
    );
    await expectRefused(await api('POST', '/api/restores', { path: path.join(ws.dataDir, 'secret.key'), targetId: 'copy' }), 400, 'COFFRE_E_PATH_RESERVED', 'restore from the key');
    // A SQLite target the CLI made outside ALLOWED_PATHS: the CLI warns; the API will not restore into it.
    const cli = await ws.run(['target', 'add', 'victim', '--url', `sqlite:${victim}`], { ALLOWED_PATHS: allowed });
    expectCode(cli, 0, 'the CLI may go outside');
    assert.match(cli.stderr, /warning: .*outside ALLOWED_PATHS/);
    await expectRefused(
      await api('POST', '/api/restores', { path: path.join(allowed, 'src.db'), targetId: 'victim', options: { replace: true } }),
      403,
      'COFFRE_E_PATH_FORBIDDEN',
      'restore into a target outside',
    );
    assert.ok(!existsSync(path.join(outside, 'new.db')) && !existsSync(path.join(outside, 'sub')), 'nothing was created outside');
    assert.deepEqual(await readFile(victim), before, 'the file outside is unchanged');
    // Inside, a restore from a file works.
    const r = await api('POST', '/api/restores', { path: path.join(allowed, 'src.db'), targetId: 'copy' });
    assert.equal(r.status, 202, r.text);
    const job = await until(async () => {
      const j = (await api('GET', `/api/jobs/${r.json().jobId}`)).json();
      return j.finishedAt && j;
    }, 'the restore job to finish');
    assert.equal(job.status, 'success', JSON.stringify(job));
  } finally {
    await server.stop();
  }
});

test("finding 4: the CLI refuses coffre's own files (exit 2) and warns outside ALLOWED_PATHS", async () => {
  for (const args of [
    ['target', 'add', 'cat', '--url', `sqlite:${path.join(ws.dataDir, 'coffre.db')}`],
    ['destination', 'add', 'own', '--type', 'local', '--path', ws.dataDir],
    ['destination', 'add', 'above', '--type', 'local', '--path', ws.dir],
    ['restore', '--file', path.join(ws.dataDir, 'coffre.db'), '--to', 'src'],
  ]) {
    const r = await ws.run(args, { ALLOWED_PATHS: allowed });
    expectCode(r, 2, args.join(' '));
    assert.match(r.stderr, /DATA_DIR/);
  }
  const d = await ws.run(['destination', 'add', 'far', '--type', 'local', '--path', path.join(outside, 'bk')], { ALLOWED_PATHS: allowed });
  expectCode(d, 0, 'destination outside from the CLI');
  assert.match(d.stderr, /warning: .*outside ALLOWED_PATHS/);
});

test('finding 4: RESTORE_ALLOWED_PATHS still works, as a deprecated alias of ALLOWED_PATHS', async () => {
  const server = await serve(ws, { API_TOKEN: TOKEN, ALLOWED_PATHS: '', RESTORE_ALLOWED_PATHS: allowed });
  const api = client(server.url, TOKEN);
  try {
    assert.equal((await api('POST', '/api/sgbd-targets', { name: 'alias', url: `sqlite:${path.join(allowed, 'alias.db')}` })).status, 201);
    assert.equal((await api('POST', '/api/sgbd-targets', { name: 'alias2', url: `sqlite:${path.join(outside, 'alias.db')}` })).status, 403);
    assert.match(server.stderr(), /RESTORE_ALLOWED_PATHS is deprecated/);
  } finally {
    await server.stop();
  }
});
