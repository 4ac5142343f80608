// Roles on tokens, login sessions and CSRF, against the in-process API on a fresh catalog: a viewer reads
// and gets 403 naming the role on anything else, an operator backs up and restores but cannot change
// configuration, a session cookie works with the CSRF header and not without it, logout and revoking the
// token end the session; the overview, history and restore pre-flight routes answer the dashboard.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { inProcess, waitJob } from './support/api.ts';
import { createToken } from '../src/services/tokens.ts';

const ADMIN = 'admin-token-0123456789abcdef';

function sqliteDb(file: string, rows: number) {
  const d = new DatabaseSync(file);
  d.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)');
  for (let i = 0; i < rows; i++) d.prepare('INSERT INTO t(v) VALUES (?)').run(`row ${i}`);
  d.close();
}

test('roles: viewer reads, operator runs, admin configures; 403 names the missing role; API_TOKEN and old tokens are admin', async () => {
  const s = await inProcess({ API_TOKEN: ADMIN });
  try {
    const viewer = (await createToken(s.ctx, 'watcher', 'viewer')).token;
    const operator = (await createToken(s.ctx, 'oncall', 'operator')).token;
    const legacy = (await createToken(s.ctx, 'old')).token;
    assert.equal((await s.call('GET', '/api/tokens', { token: ADMIN })).json().find((t: any) => t.name === 'old').role, 'admin');
    const src = path.join(s.dir, 'src.db');
    sqliteDb(src, 5);
    assert.equal((await s.call('POST', '/api/sgbd-targets', { token: viewer, body: { name: 'lite', url: `sqlite:${src}` } })).status, 403);
    const denied = await s.call('POST', '/api/sgbd-targets', { token: operator, body: { name: 'lite', url: `sqlite:${src}` } });
    assert.equal(denied.status, 403);
    assert.equal(denied.json().error.code, 'COFFRE_E_ROLE_REQUIRED');
    assert.match(denied.json().error.message, /needs the admin role; "oncall" has the operator role/);
    assert.equal((await s.call('POST', '/api/sgbd-targets', { token: legacy, body: { name: 'lite', url: `sqlite:${src}` } })).status, 201);
    assert.equal((await s.call('POST', '/api/destinations', { token: ADMIN, body: { name: 'disk', type: 'local', path: path.join(s.dir, 'data', 'backups') } })).status, 201);
    assert.equal((await s.call('POST', '/api/plans', { token: ADMIN, body: { name: 'p1', targetId: 'lite', destinationId: 'disk' } })).status, 201);

    for (const url of ['/api/plans', '/api/sgbd-targets', '/api/destinations', '/api/journals', '/api/overview', '/api/plans/p1/history', '/api/session']) {
      assert.equal((await s.call('GET', url, { token: viewer })).status, 200, url);
    }
    assert.equal((await s.call('GET', '/api/tokens', { token: viewer })).status, 403);
    assert.equal((await s.call('GET', '/api/tokens', { token: operator })).status, 403);
    const viewerRun = await s.call('POST', '/api/plans/p1/execute', { token: viewer, body: {} });
    assert.equal(viewerRun.status, 403);
    assert.match(viewerRun.json().error.message, /needs the operator role; "watcher" has the viewer role/);
    assert.equal((await s.call('POST', '/api/backups', { token: viewer, body: { planId: 'p1' } })).status, 403);
    assert.equal((await s.call('GET', '/api/journals', { token: viewer })).json().items.length, 0, 'a refused backup journals nothing');

    const run = await s.call('POST', '/api/plans/p1/execute', { token: operator, body: {} });
    assert.equal(run.status, 202);
    const job = await waitJob(s, run.json().jobId, viewer);
    assert.equal(job.status, 'success');
    assert.equal((await s.call('PATCH', '/api/plans/p1', { token: operator, body: { cron: '0 3 * * *' } })).status, 403);
    assert.equal((await s.call('DELETE', '/api/plans/p1', { token: operator })).status, 403);

    // The dashboard's routes.
    const overview = (await s.call('GET', '/api/overview', { token: viewer })).json();
    assert.equal(overview.totals.plans, 1);
    assert.equal(overview.plans[0].health, 'ok');
    assert.equal(overview.plans[0].lastSuccess.id, job.journalId);
    const history = (await s.call('GET', '/api/plans/p1/history', { token: viewer })).json();
    assert.deepEqual(
      history.points.map((p: any) => p.id),
      [job.journalId],
    );
    assert.ok(history.points[0].sizeBytes > 0 && history.points[0].rawSizeBytes > 0);
    assert.equal((await s.call('GET', '/api/journals?kind=incremental', { token: viewer })).json().items.length, 0);
    assert.equal((await s.call('GET', '/api/journals?kind=full', { token: viewer })).json().items.length, 1);
    assert.equal((await s.call('POST', '/api/restores/preflight', { token: viewer, body: { journalId: job.journalId } })).status, 403);
    const pre = (await s.call('POST', '/api/restores/preflight', { token: operator, body: { journalId: job.journalId } })).json();
    assert.equal(pre.ok, true, JSON.stringify(pre));
    assert.equal(pre.target.name, 'lite');
    assert.equal(pre.target.empty, false);
    assert.equal(pre.needsReplace, true);
    assert.equal(pre.backup.engine, 'sqlite');
    await s.call('POST', '/api/sgbd-targets', { token: ADMIN, body: { name: 'fresh', url: `sqlite:${path.join(s.dir, 'fresh.db')}` } });
    const fresh = (await s.call('POST', '/api/restores/preflight', { token: operator, body: { journalId: job.journalId, targetId: 'fresh' } })).json();
    assert.equal(fresh.needsReplace, false);
    assert.equal(fresh.target.exists, false);

    // Tokens through the API: made with a role, revoked.
    const made = await s.call('POST', '/api/tokens', { token: ADMIN, body: { name: 'ci', role: 'viewer' } });
    assert.equal(made.status, 201);
    assert.equal(made.json().role, 'viewer');
    assert.equal((await s.call('GET', '/api/plans', { token: made.json().token })).status, 200);
    assert.equal((await s.call('POST', '/api/tokens', { token: ADMIN, body: { name: 'ci', role: 'root' } })).status, 400);
    assert.equal((await s.call('DELETE', `/api/tokens/${made.json().id}`, { token: ADMIN })).status, 200);
    assert.equal((await s.call('GET', '/api/plans', { token: made.json().token })).status, 403);
  } finally {
    await s.close();
  }
});

test('sessions: login sets a strict HttpOnly cookie; changes need the CSRF header; logout and token revocation end it', async () => {
  const s = await inProcess({ API_TOKEN: ADMIN });
  try {
    const viewer = await createToken(s.ctx, 'watcher', 'viewer');
    assert.equal((await s.call('POST', '/api/session', { body: { token: 'coffre_nope' } })).status, 401);
    const login = await s.call('POST', '/api/session', { body: { token: ADMIN } });
    assert.equal(login.status, 200);
    const setCookie = String(login.headers['set-cookie']);
    assert.match(setCookie, /^coffre_session=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    assert.doesNotMatch(setCookie, /Secure/, 'plain http: no Secure flag (it would drop the cookie)');
    const cookie = setCookie.split(';')[0];
    const { csrf, role, name } = login.json();
    assert.equal(role, 'admin');
    assert.equal(name, 'API_TOKEN');
    assert.ok(csrf && !setCookie.includes(csrf), 'the CSRF token is not the cookie secret');
    const me = await s.call('GET', '/api/session', { headers: { cookie } });
    assert.equal(me.json().csrf, csrf);
    const body = { name: 'lite', url: `sqlite:${path.join(s.dir, 'x.db')}` };
    const noCsrf = await s.call('POST', '/api/sgbd-targets', { headers: { cookie }, body });
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.json().error.code, 'COFFRE_E_CSRF_TOKEN');
    assert.equal((await s.call('POST', '/api/sgbd-targets', { headers: { cookie, 'x-coffre-csrf': 'x'.repeat(csrf.length) }, body })).status, 403);
    assert.equal((await s.call('POST', '/api/sgbd-targets', { headers: { cookie, 'x-coffre-csrf': csrf }, body })).status, 201);
    assert.equal((await s.call('GET', '/api/sgbd-targets', { headers: { cookie } })).status, 200);
    // The session table holds hashes only.
    const rows = await s.ctx.catalog.db.withTables<{ api_sessions: { secret_hash: string } }>().selectFrom('api_sessions').select('secret_hash').execute();
    assert.ok(rows.length === 1 && !cookie.includes(rows[0].secret_hash));
    const out = await s.call('DELETE', '/api/session', { headers: { cookie, 'x-coffre-csrf': csrf } });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    const after = await s.call('GET', '/api/sgbd-targets', { headers: { cookie } });
    assert.equal(after.status, 401);
    assert.equal(after.json().error.code, 'COFFRE_E_SESSION_ENDED');

    // A viewer's session carries the viewer role; revoking the token ends the session.
    const vLogin = await s.call('POST', '/api/session', { body: { token: viewer.token } });
    const vCookie = String(vLogin.headers['set-cookie']).split(';')[0];
    const vCsrf = vLogin.json().csrf;
    assert.equal((await s.call('POST', '/api/plans/x/execute', { headers: { cookie: vCookie, 'x-coffre-csrf': vCsrf }, body: {} })).status, 403);
    assert.equal((await s.call('GET', '/api/plans', { headers: { cookie: vCookie } })).status, 200);
    assert.equal((await s.call('DELETE', `/api/tokens/${viewer.id}`, { token: ADMIN })).status, 200);
    assert.equal((await s.call('GET', '/api/plans', { headers: { cookie: vCookie } })).status, 401);
  } finally {
    await s.close();
  }
});

test('every answer carries the strict CSP; /api/docs is Swagger UI served from coffre, no inline script', async () => {
  const s = await inProcess({ API_TOKEN: ADMIN });
  try {
    const docs = await s.call('GET', '/api/docs');
    assert.equal(docs.status, 200);
    assert.match(String(docs.headers['content-security-policy']), /script-src 'self';/);
    assert.doesNotMatch(String(docs.headers['content-security-policy']), /unsafe-inline|unsafe-eval/);
    const scripts = [...docs.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 2);
    for (const [, attrs, inner] of scripts) {
      assert.match(attrs, /src="\/api\/docs\/assets\//);
      assert.equal(inner.trim(), '');
    }
    for (const [, src] of docs.text.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const asset = await s.call('GET', src);
      assert.equal(asset.status, 200, src);
      assert.ok(asset.text.length > 100, src);
    }
    assert.match(String((await s.call('GET', '/api/plans', { token: ADMIN })).headers['content-security-policy']), /default-src 'self'/);
  } finally {
    await s.close();
  }
});
