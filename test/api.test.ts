// The REST API in process (Fastify inject): validation with field-level messages, Bearer auth (API_TOKEN,
// catalog tokens, revoked tokens, the open loopback mode), error mapping (400/401/403/404/409/413/415),
// CORS, the OpenAPI document, secrets never in answers, the restore path rule (symlinks included), and the
// job runner: 202 with job and journal ids, one run per plan (409 naming the job), bounded concurrency and
// shutdown marking the rest interrupted. Journal rows are compared with `coffre journal --json`.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { inProcess, silentServer, type InProcess, waitJob as waitJobOf } from './support/api.ts';
import { workspace, expectCode, backupRowFields } from './support/cli.ts';
import { createToken, revokeToken } from '../src/services/tokens.ts';
import { checkBindAddress } from '../src/api/server.ts';

const PASSWORD = 'pa55-W0rd-never-shown';
const TOKEN = 'static-token-0123456789abcdef';

let s: InProcess;
let silent: Awaited<ReturnType<typeof silentServer>>;
const seen: string[] = [];

async function call(method: string, url: string, body?: unknown, token: string | undefined = TOKEN) {
  const r = await s.call(method, url, { body, token });
  seen.push(r.text);
  return r;
}

function seedSqlite(file: string): void {
  const db = new DatabaseSync(file);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('ünï😀');");
  db.close();
}

/** The job once finished. */
const waitJob = (id: string): Promise<any> => waitJobOf(s, id, TOKEN);

before(async () => {
  silent = await silentServer();
  s = await inProcess({ API_TOKEN: TOKEN, CORS_ORIGINS: 'http://front.example', MAX_CONCURRENT_JOBS: '2' });
});
after(async () => {
  await s?.close();
  await silent?.close();
  // No answer ever carried the password of a target.
  for (const text of seen) assert.ok(!text.includes(PASSWORD), `a response leaked the password: ${text.slice(0, 300)}`);
});

test('health, readiness and documentation need no token; the OpenAPI document lists every route', async () => {
  assert.deepEqual((await call('GET', '/healthz', undefined, undefined)).json(), { status: 'ok' });
  assert.deepEqual((await call('GET', '/readyz', undefined, undefined)).json(), { status: 'ready' });
  const doc = (await call('GET', '/api/openapi.json', undefined, undefined)).json();
  assert.match(doc.openapi, /^3\./);
  const expected = {
    '/api/plans': ['get', 'post'],
    '/api/plans/{id}': ['get', 'patch', 'delete'],
    '/api/plans/{id}/execute': ['post'],
    '/api/journals': ['get'],
    '/api/journals/{id}': ['get'],
    '/api/backups': ['post'],
    '/api/restores': ['post'],
    '/api/restore/{id}': ['post'],
    '/api/sgbd-targets': ['get', 'post'],
    '/api/sgbd-targets/{id}': ['get', 'patch', 'delete'],
    '/api/sgbd-targets/{id}/test': ['post'],
    '/api/destinations': ['get', 'post'],
    '/api/destinations/{id}': ['get', 'patch', 'delete'],
    '/api/destinations/{id}/test': ['post'],
    '/api/jobs/{id}': ['get'],
    '/api/events': ['get'],
    '/healthz': ['get'],
    '/readyz': ['get'],
  };
  for (const [p, methods] of Object.entries(expected)) for (const m of methods) assert.ok(doc.paths[p]?.[m], `${m.toUpperCase()} ${p} is documented`);
  const planFields = Object.keys(doc.paths['/api/plans'].post.requestBody.content['application/json'].schema.properties);
  for (const field of ['name', 'targetId', 'destinationId', 'kind', 'compression', 'cron']) assert.ok(planFields.includes(field), `a plan body takes ${field}`);
  const docs = await call('GET', '/api/docs', undefined, undefined);
  assert.equal(docs.status, 200);
  assert.match(String(docs.headers['content-type']), /text\/html/);
  assert.doesNotMatch(docs.text, /https?:\/\/(?!front)/, 'the docs page loads nothing from another site');
});

test('auth: 401 without or with a wrong token, 403 for a revoked one, catalog tokens accepted', async () => {
  for (const headers of [{}, { authorization: 'Bearer nope-nope-nope' }, { authorization: 'Basic abc' }, { authorization: 'Bearer' }] as Array<Record<string, string>>) {
    const r = await s.call('GET', '/api/plans', { headers });
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.match(r.json().error.code, /^COFFRE_E_/);
  }
  assert.equal((await call('GET', '/api/plans')).status, 200);
  const made = await createToken(s.ctx, 'ui');
  assert.equal((await call('GET', '/api/plans', undefined, made.token)).status, 200);
  await revokeToken(s.ctx, 'ui');
  const revoked = await call('GET', '/api/plans', undefined, made.token);
  assert.equal(revoked.status, 403);
  assert.equal(revoked.json().error.code, 'COFFRE_E_TOKEN_REVOKED');
  assert.ok(!revoked.text.includes(made.token));
});

test('open mode: without any token the API answers on loopback, refuses other addresses, and requires one when told', async () => {
  const open = await inProcess();
  try {
    assert.equal((await open.call('GET', '/api/plans')).status, 200);
    await assert.rejects(checkBindAddress(open.ctx, '0.0.0.0'), (e: any) => e.code === 'COFFRE_E_NO_TOKEN_FOR_PUBLIC_BIND');
    await checkBindAddress(open.ctx, '127.0.0.1');
    await checkBindAddress(open.ctx, '::1');
    await createToken(open.ctx, 'first');
    assert.equal((await open.call('GET', '/api/plans')).status, 401, 'once a token exists, it is required');
    await checkBindAddress(open.ctx, '0.0.0.0');
  } finally {
    await open.close();
  }
  const strict = await inProcess({}, { requireToken: true });
  try {
    assert.equal((await strict.call('GET', '/api/plans')).status, 401, 'a public bind requires a token even when none exists');
  } finally {
    await strict.close();
  }
});

test('validation: 400 with field-level messages, bad JSON, wrong content type, oversized body', async () => {
  const missing = await call('POST', '/api/sgbd-targets', { name: 'x' });
  assert.equal(missing.status, 400);
  assert.equal(missing.json().error.code, 'COFFRE_E_VALIDATION');
  assert.deepEqual(
    missing.json().error.details.fields.map((f: any) => f.field),
    ['url'],
  );
  const typed = await call('POST', '/api/plans', { name: 5, targetId: [], destinationId: 'd', kind: 'weekly' });
  assert.equal(typed.status, 400);
  assert.deepEqual([...new Set(typed.json().error.details.fields.map((f: any) => f.field))].sort(), ['kind', 'name', 'targetId']);
  const badName = await call('POST', '/api/sgbd-targets', { name: '../x', url: 'sqlite:/tmp/x.db' });
  assert.equal(badName.status, 400);
  assert.equal(badName.json().error.details.field, 'name');
  const badUrl = await call('POST', '/api/sgbd-targets', { name: 'x', url: 'ftp://nope' });
  assert.equal(badUrl.status, 400);
  assert.equal((await s.call('POST', '/api/sgbd-targets', { body: '{"name":', token: TOKEN })).json().error.code, 'COFFRE_E_BAD_JSON');
  const text = await s.call('POST', '/api/sgbd-targets', { body: 'name=x', token: TOKEN, headers: { 'content-type': 'text/plain' } });
  assert.equal(text.status, 400, 'a text body is not an object');
  const xml = await s.call('POST', '/api/sgbd-targets', { body: '<x/>', token: TOKEN, headers: { 'content-type': 'application/xml' } });
  assert.equal(xml.status, 415);
  assert.equal(xml.json().error.code, 'COFFRE_E_UNSUPPORTED_MEDIA_TYPE');
  const big = await s.call('POST', '/api/sgbd-targets', { body: { name: 'x', url: 'x'.repeat(2 << 20) }, token: TOKEN });
  assert.equal(big.status, 413);
  assert.equal(big.json().error.code, 'COFFRE_E_BODY_TOO_LARGE');
  const query = await call('GET', '/api/journals?limit=0&status=done&from=yesterday');
  assert.equal(query.status, 400);
  assert.deepEqual(
    query
      .json()
      .error.details.fields.map((f: any) => f.field)
      .sort(),
    ['from', 'limit', 'status'],
  );
  const route = await call('GET', '/api/nothing-here');
  assert.equal(route.status, 404);
  assert.equal(route.json().error.code, 'COFFRE_E_ROUTE_NOT_FOUND');
});

test('targets, destinations and plans: create, read, patch, delete, 404 and 409, passwords never returned', async () => {
  const srcFile = path.join(s.dir, 'src.db');
  seedSqlite(srcFile);
  const pg = await call('POST', '/api/sgbd-targets', { name: 'pg', url: `postgres://app:${PASSWORD}@127.0.0.1:${silent.port}/app` });
  assert.equal(pg.status, 201, pg.text);
  assert.equal(pg.json().url, `postgres://app:***@127.0.0.1:${silent.port}/app`);
  assert.equal((await call('POST', '/api/sgbd-targets', { name: 'pg', url: 'sqlite:/tmp/other.db' })).status, 409);
  const t = (await call('POST', '/api/sgbd-targets', { name: 'lite', url: `sqlite:${srcFile}` })).json();
  assert.equal((await call('GET', `/api/sgbd-targets/${t.id}`)).json().name, 'lite');
  assert.equal((await call('GET', '/api/sgbd-targets/lite')).json().id, t.id);
  for (const id of ['00000000-0000-7000-8000-000000000000', 'nope', '%E2%9C%93', 'x'.repeat(300)]) {
    const r = await call('GET', `/api/sgbd-targets/${id}`);
    assert.ok(r.status === 404 || r.status === 400, `${id}: ${r.status}`);
  }
  const renamed = await call('PATCH', `/api/sgbd-targets/${pg.json().id}`, { name: 'pg2' });
  assert.equal(renamed.json().name, 'pg2');
  assert.equal((await call('PATCH', `/api/sgbd-targets/${pg.json().id}`, {})).status, 400);
  assert.equal((await call('PATCH', `/api/sgbd-targets/${pg.json().id}`, { name: 'lite' })).status, 409);

  const d = await call('POST', '/api/destinations', { name: 'disk', type: 'local', path: path.join(s.dir, 'backups') });
  assert.equal(d.status, 201, d.text);
  assert.equal((await call('POST', '/api/destinations', { name: 'bad', type: 'floppy' })).status, 400);
  assert.equal((await call('PATCH', `/api/destinations/disk`, { type: 's3' })).status, 400);
  assert.equal((await call('PATCH', `/api/destinations/disk`, { path: path.join(s.dir, 'backups2') })).json().config.path, path.join(s.dir, 'backups2'));
  const test1 = await call('POST', `/api/destinations/disk/test`);
  assert.equal(test1.json().ok, true);

  const plan = await call('POST', '/api/plans', { name: 'nightly', targetId: t.id, destinationId: d.json().id, kind: 'full', compression: 'zstd', cron: '0 3 * * *' });
  assert.equal(plan.status, 201, plan.text);
  assert.equal(plan.json().target, 'lite');
  assert.equal((await call('POST', '/api/plans', { name: 'p2', targetId: 'missing', destinationId: d.json().id })).status, 404);
  assert.equal((await call('POST', '/api/plans', { name: 'p3', targetId: t.id, destinationId: 'disk', cron: 'every day' })).status, 400);
  const patched = await call('PATCH', `/api/plans/${plan.json().id}`, { compression: 'gzip', enabled: false });
  assert.equal(patched.json().compression, 'gzip');
  assert.equal(patched.json().enabled, false);
  assert.equal((await call('PATCH', `/api/plans/nightly`, { enabled: true })).json().enabled, true);
  assert.equal((await call('DELETE', `/api/sgbd-targets/${t.id}`)).status, 409, 'a target a plan uses stays');
  assert.equal((await call('DELETE', '/api/destinations/disk')).status, 409);
  const gone = await call('POST', '/api/sgbd-targets', { name: 'tmp', url: `sqlite:${path.join(s.dir, 'nothing.db')}` });
  assert.equal((await call('DELETE', `/api/sgbd-targets/${gone.json().id}`)).status, 200);
  assert.equal((await call('GET', `/api/sgbd-targets/${gone.json().id}`)).status, 404);
  const probe = await call('POST', `/api/sgbd-targets/lite/test`);
  assert.equal(probe.json().ok, true, probe.text);
  assert.equal(probe.json().tool, 'node:sqlite');
  const listed = await call('GET', '/api/sgbd-targets');
  assert.ok(listed.json().every((x: any) => !('urlEnc' in x) && !String(x.url).includes(PASSWORD)));
});

test('a backup answers 202 with job and journal ids; journal rows match `coffre journal --json`', async () => {
  const r = await call('POST', '/api/backups', { planId: 'nightly', options: { variant: 'full', compressionFormat: 'none' } });
  assert.equal(r.status, 202, r.text);
  const { jobId, journalId } = r.json();
  assert.ok(jobId && journalId);
  assert.equal(r.headers.location, `/api/jobs/${jobId}`);
  const job = await waitJob(jobId);
  assert.equal(job.status, 'success', JSON.stringify(job));
  assert.equal(job.result.id, journalId);
  assert.equal(job.result.compression, 'none');
  assert.ok(job.bytes > 0);

  const second = await call('POST', '/api/plans/nightly/execute', {});
  assert.equal(second.status, 202);
  await waitJob(second.json().jobId);

  const page = await call('GET', '/api/journals?planId=nightly&limit=1');
  assert.equal(page.status, 200);
  assert.equal(page.json().items.length, 1);
  assert.equal(page.json().nextOffset, 1);
  const rest = (await call('GET', '/api/journals?planId=nightly&limit=1&offset=1')).json();
  assert.equal(rest.items[0].id, journalId);
  assert.equal(rest.nextOffset, null);
  assert.equal((await call('GET', `/api/journals?status=failed`)).json().items.length, 0);
  assert.equal((await call('GET', `/api/journals?from=2999-01-01`)).json().items.length, 0);
  assert.equal((await call('GET', `/api/journals?to=2000-01-01T00:00:00Z`)).json().items.length, 0);
  assert.equal((await call('GET', `/api/journals?planId=no-such-plan`)).status, 404);
  const one = await call('GET', `/api/journals/${journalId}`);
  assert.equal(one.json().sha256, job.result.sha256);

  // Same DATA_DIR, read through the CLI: the rows are identical, field for field.
  const ws = await workspace();
  try {
    const cli = await ws.run(['journal', '--plan', 'nightly', '--json'], { DATA_DIR: path.join(s.dir, 'data') });
    expectCode(cli, 0, 'coffre journal');
    const api: Array<Record<string, unknown>> = (await call('GET', '/api/journals?planId=nightly')).json().items;
    assert.deepEqual(api, cli.json());
    for (const field of backupRowFields) {
      assert.ok(field in api[0], `journal rows carry ${field}`);
    }
  } finally {
    await ws.cleanup();
  }
});

test('restores: journal id, the alias route, and a custom path only under ALLOWED_PATHS (symlinks resolved)', async () => {
  const journalId = (await call('GET', '/api/journals?planId=nightly&limit=1')).json().items[0].id;
  const copy = (await call('POST', '/api/sgbd-targets', { name: 'copy', url: `sqlite:${path.join(s.dir, 'copy.db')}` })).json();
  const r = await call('POST', '/api/restores', { journalId, targetId: copy.id, options: { compressionFormat: 'none' } });
  assert.equal(r.status, 202, r.text);
  const job = await waitJob(r.json().jobId);
  assert.equal(job.status, 'success', JSON.stringify(job));
  const db = new DatabaseSync(path.join(s.dir, 'copy.db'), { readOnly: true });
  assert.deepEqual(
    db
      .prepare('SELECT v FROM t ORDER BY id')
      .all()
      .map((x: any) => x.v),
    ['a', 'b', 'ünï😀'],
  );
  db.close();
  assert.equal((await call('GET', `/api/journals/${r.json().journalId}`)).json().backupId, journalId, 'restore rows are found by their id');
  // Into a non-empty target without replace: accepted, then the job fails with the engine's refusal.
  const again = await call('POST', `/api/restore/${journalId}`, { targetId: 'copy' });
  assert.equal(again.status, 202);
  const refused = await waitJob(again.json().jobId);
  assert.equal(refused.status, 'failed');
  assert.equal(refused.error.code, 'COFFRE_E_TARGET_NOT_EMPTY');
  const replaced = await call('POST', `/api/restore/${journalId}`, { targetId: 'copy', options: { replace: true } });
  assert.equal((await waitJob(replaced.json().jobId)).status, 'success');

  assert.equal((await call('POST', '/api/restores', { journalId, path: '/tmp/x' })).status, 400);
  assert.equal((await call('POST', '/api/restores', {})).status, 400);
  assert.equal((await call('POST', '/api/restores', { journalId: 'ffffffffff' })).status, 404);
  assert.equal((await call('POST', '/api/restores', { path: 'relative/file.sql', targetId: 'copy' })).status, 400);
  assert.equal((await call('POST', '/api/restores', { path: '/etc/passwd', targetId: 'copy' })).status, 403);
  assert.equal((await call('POST', '/api/restores', { path: '/etc/nothing-here', targetId: 'copy' })).status, 403, 'no existence oracle outside');
  const root = s.ctx.config.backupRoot;
  await mkdir(root, { recursive: true });
  await symlink('/etc/passwd', path.join(root, 'escape.sql'));
  await symlink('/etc', path.join(root, 'etc-link'));
  assert.equal((await call('POST', '/api/restores', { path: path.join(root, 'escape.sql'), targetId: 'copy' })).status, 403);
  assert.equal((await call('POST', '/api/restores', { path: path.join(root, 'etc-link', 'passwd'), targetId: 'copy' })).status, 403);
  assert.equal((await call('POST', '/api/restores', { path: path.join(s.dir, '..', 'src.db'), targetId: 'copy' })).status, 403);
  assert.equal((await call('POST', '/api/restores', { path: path.join(root, 'missing.sql'), targetId: 'copy' })).status, 404);
  await writeFile(path.join(root, 'inside.sql'), 'not a dump');
  const inside = await call('POST', '/api/restores', { path: path.join(root, 'inside.sql'), targetId: 'copy', options: { replace: true } });
  assert.equal(inside.status, 202, 'a file under the allowed root is accepted');
  assert.equal((await waitJob(inside.json().jobId)).status, 'failed');
});

test('one run per plan: a second trigger gets 409 naming the running job; shutdown marks it interrupted', async () => {
  const hang = await call('POST', '/api/plans', { name: 'hang', targetId: 'pg2', destinationId: 'disk' });
  assert.equal(hang.status, 201, hang.text);
  const first = await call('POST', '/api/backups', { planId: hang.json().id });
  assert.equal(first.status, 202, first.text);
  assert.equal(first.json().status, 'running');
  for (const [url, body] of [
    ['/api/backups', { planId: 'hang' }],
    ['/api/plans/hang/execute', undefined],
  ] as const) {
    const busy = await call('POST', url, body);
    assert.equal(busy.status, 409, busy.text);
    assert.equal(busy.json().error.details.jobId, first.json().jobId);
    assert.match(busy.json().error.message, new RegExp(first.json().jobId));
  }
  const summary = await s.runner.shutdown(50);
  assert.deepEqual(summary, { finished: 0, interrupted: 1, dropped: 0 });
  const job = (await call('GET', `/api/jobs/${first.json().jobId}`)).json();
  assert.equal(job.status, 'interrupted');
  const row = (await call('GET', `/api/journals/${first.json().journalId}`)).json();
  assert.equal(row.status, 'interrupted');
  const late = await call('POST', '/api/backups', { planId: 'nightly' });
  assert.equal(late.status, 503);
  assert.equal(late.json().error.code, 'COFFRE_E_SHUTTING_DOWN');
  assert.equal((await call('GET', '/readyz', undefined, undefined)).status, 503);
});

test('bounded concurrency: with MAX_CONCURRENT_JOBS=1 the second job waits queued, and is dropped at shutdown', async () => {
  const q = await inProcess({ MAX_CONCURRENT_JOBS: '1' });
  try {
    const c = (m: string, u: string, body?: unknown) => q.call(m, u, { body });
    for (const n of ['a', 'b']) assert.equal((await c('POST', '/api/sgbd-targets', { name: n, url: `postgres://x@127.0.0.1:${silent.port}/${n}` })).status, 201);
    assert.equal((await c('POST', '/api/destinations', { name: 'd', type: 'local', path: path.join(q.dir, 'b') })).status, 201);
    for (const n of ['a', 'b']) assert.equal((await c('POST', '/api/plans', { name: n, targetId: n, destinationId: 'd' })).status, 201);
    const events: string[] = [];
    q.runner.subscribe((e) => events.push(`${e.type}:${e.job.plan}`));
    const a = (await c('POST', '/api/backups', { planId: 'a' })).json();
    const b = (await c('POST', '/api/backups', { planId: 'b' })).json();
    assert.equal(a.status, 'running');
    assert.equal(b.status, 'queued');
    assert.equal(b.journalId, null);
    assert.equal((await c('POST', '/api/backups', { planId: 'b' })).status, 409, 'a queued run holds its plan too');
    const summary = await q.runner.shutdown(0);
    assert.deepEqual(summary, { finished: 0, interrupted: 2, dropped: 1 });
    assert.equal((await c('GET', `/api/jobs/${b.jobId}`)).json().status, 'interrupted');
    assert.deepEqual(events, ['job.queued:a', 'job.started:a', 'job.queued:b', 'job.finished:b', 'job.finished:a']);
  } finally {
    await q.close();
  }
});

test('CORS: allowed origins get the headers and preflights answer 204; others get none', async () => {
  const pre = await s.call('OPTIONS', '/api/plans', { headers: { origin: 'http://front.example', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], 'http://front.example');
  assert.match(String(pre.headers['access-control-allow-headers']), /Authorization/);
  const got = await s.call('GET', '/api/plans', { token: TOKEN, headers: { origin: 'http://front.example' } });
  assert.equal(got.headers['access-control-allow-origin'], 'http://front.example');
  const other = await s.call('GET', '/api/plans', { token: TOKEN, headers: { origin: 'http://evil.example' } });
  assert.equal(other.headers['access-control-allow-origin'], undefined);
});
