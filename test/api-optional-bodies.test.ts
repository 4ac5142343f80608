// Small edges of the API and CLI: a POST whose body is optional, sent with `Content-Type: application/json`
// and no bytes, means "no options" (a required body is still refused, coded); `tar.gz` names the targz
// codec everywhere a compression is named (plan add/edit, a backup's override, the API, DEFAULT_COMPRESSION);
// and `npx coffre` from the checkout prints no npm EBADENGINE warnings under an older system Node.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { inProcess, waitJob, type InProcess } from './support/api.ts';
import { workspace, expectCode } from './support/cli.ts';
import { loadConfig } from '../src/config.ts';

const TOKEN = 'optional-bodies-token-0123456789';
const repoRoot = path.resolve(import.meta.dirname, '..');
let s: InProcess;

before(async () => {
  s = await inProcess({ API_TOKEN: TOKEN });
  const db = new DatabaseSync(path.join(s.dir, 'lite.db'));
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (1), (2)');
  db.close();
  const ok = (r: { status: number; text: string }) => assert.ok(r.status < 300, r.text);
  ok(await s.call('POST', '/api/sgbd-targets', { token: TOKEN, body: { name: 'lite', url: `sqlite:${path.join(s.dir, 'lite.db')}` } }));
  ok(await s.call('POST', '/api/destinations', { token: TOKEN, body: { name: 'disk', type: 'local', path: path.join(s.dir, 'backups') } }));
});
after(async () => {
  await s?.close();
});

/** A request with `Content-Type: application/json` and an empty body. */
const emptyJson = (url: string) => s.call('POST', url, { token: TOKEN, headers: { 'content-type': 'application/json' }, body: '' });

test('an empty JSON body on a POST whose body is optional means no options; a required body is still asked for', async () => {
  const plan = await s.call('POST', '/api/plans', { token: TOKEN, body: { name: 'nightly', targetId: 'lite', destinationId: 'disk', compression: 'none' } });
  assert.equal(plan.status, 201, plan.text);

  const started = await emptyJson('/api/plans/nightly/execute');
  assert.equal(started.status, 202, started.text);
  const job = await waitJob(s, started.json().jobId, TOKEN);
  assert.equal(job.status, 'success', JSON.stringify(job));
  assert.equal(job.result.compression, 'none');

  const probe = await emptyJson('/api/sgbd-targets/lite/test');
  assert.equal(probe.status, 200, probe.text);
  assert.equal(probe.json().ok, true);

  // A route whose body is required: refused as a missing body, coded, never Fastify's "Body cannot be empty".
  const missing = await emptyJson('/api/plans');
  assert.equal(missing.status, 400, missing.text);
  assert.match(missing.json().error.code, /^COFFRE_E_/);
  assert.doesNotMatch(missing.text, /Body cannot be empty|FST_ERR/);
  // Whitespace counts as empty; broken JSON is still broken.
  const spaces = await s.call('POST', '/api/plans/nightly/execute', { token: TOKEN, headers: { 'content-type': 'application/json' }, body: ' \n' });
  assert.equal(spaces.status, 202, spaces.text);
  await waitJob(s, spaces.json().jobId, TOKEN);
  const broken = await s.call('POST', '/api/plans/nightly/execute', { token: TOKEN, headers: { 'content-type': 'application/json' }, body: '{"options":' });
  assert.equal(broken.status, 400, broken.text);
  const poisoned = await s.call('POST', '/api/plans/nightly/execute', { token: TOKEN, headers: { 'content-type': 'application/json' }, body: '{"__proto__":{"x":1}}' });
  assert.equal(poisoned.status, 400, poisoned.text);
});

test('tar.gz names the targz codec in the API: a plan, a plan edit and a backup override', async () => {
  const plan = await s.call('POST', '/api/plans', { token: TOKEN, body: { name: 'tgz', targetId: 'lite', destinationId: 'disk', compression: 'tar.gz' } });
  assert.equal(plan.status, 201, plan.text);
  assert.equal(plan.json().compression, 'targz');
  const edited = await s.call('PATCH', '/api/plans/tgz', { token: TOKEN, body: { compression: 'tar.gz' } });
  assert.equal(edited.status, 200, edited.text);
  assert.equal(edited.json().compression, 'targz');
  const run = await s.call('POST', '/api/backups', { token: TOKEN, body: { planId: 'nightly', options: { compressionFormat: 'tar.gz' } } });
  assert.equal(run.status, 202, run.text);
  const job = await waitJob(s, run.json().jobId, TOKEN);
  assert.equal(job.status, 'success', JSON.stringify(job));
  assert.equal(job.result.compression, 'targz');
  assert.match(job.result.artifact, /\.tar\.gz$/);
  const bad = await s.call('POST', '/api/plans', { token: TOKEN, body: { name: 'bad', targetId: 'lite', destinationId: 'disk', compression: 'tar.bz2' } });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(loadConfig({ DATA_DIR: s.dir, DEFAULT_COMPRESSION: 'tar.gz' }).defaultCompression, 'targz');
});

test('tar.gz names the targz codec in the CLI: plan add, plan edit and backup --compression', async () => {
  const ws = await workspace();
  try {
    const dbFile = path.join(ws.dir, 'lite.db');
    const db = new DatabaseSync(dbFile);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)');
    db.close();
    expectCode(await ws.run(['target', 'add', 'lite', '--url', `sqlite:${dbFile}`]), 0, 'target add');
    expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'b')]), 0, 'destination add');
    const added = await ws.run(['plan', 'add', 'p', '--target', 'lite', '--destination', 'disk', '--compression', 'tar.gz', '--json']);
    expectCode(added, 0, 'plan add --compression tar.gz');
    assert.equal(added.json().compression, 'targz');
    expectCode(await ws.run(['plan', 'edit', 'p', '--compression', 'tar.gz']), 0, 'plan edit --compression tar.gz');
    const backup = await ws.run(['backup', 'p', '--compression', 'tar.gz', '--json']);
    expectCode(backup, 0, 'backup --compression tar.gz');
    assert.equal(backup.json().compression, 'targz');
    const bad = await ws.run(['backup', 'p', '--compression', 'rar']);
    expectCode(bad, 2, 'backup --compression rar');
    assert.match(bad.stderr, /targz.*tar\.gz/);
  } finally {
    await ws.cleanup();
  }
});

test('npx coffre from the checkout prints no npm EBADENGINE warning, whatever Node runs npm', async () => {
  // The PATH a user's shell has: without the checkout's node_modules/.bin, so npm runs on the system Node
  // (20 on this machine) while coffre itself still runs on the checkout's Node 24.
  const PATH = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !dir.includes(`${path.sep}node_modules${path.sep}`))
    .join(path.delimiter);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH };
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  const out = await new Promise<{ code: number | null; all: string }>((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'coffre', '--version'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let all = '';
    child.stdout.on('data', (c) => (all += c));
    child.stderr.on('data', (c) => (all += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, all }));
  });
  assert.equal(out.code, 0, out.all);
  assert.match(out.all, /^coffre \d+\.\d+\.\d+/m);
  assert.doesNotMatch(out.all, /EBADENGINE|Unsupported engine/);
});
