// Security of the HTTP edge against a real `coffre serve` child (issue 9, findings 1 and 7): authentication is
// decided on the route that will run, whatever the spelling of the URL (percent-encoded letters reach the
// same route and need the same token); with no token configured only loopback Host names are served (DNS
// rebinding); and a state-changing request whose Origin is present and not allowed is refused with 403,
// with or without a token, before anything runs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { serve, type Served } from './support/api.ts';

const TOKEN = 'security-test-token-0123456789';

interface Raw {
  status: number;
  text: string;
}

/** One HTTP request with headers fetch() will not send as given (Host, Origin), and the path exactly as written. */
function raw(base: string, method: string, rawPath: string, headers: Record<string, string> = {}, body?: unknown): Promise<Raw> {
  const u = new URL(base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const h: Record<string, string> = { ...headers };
  if (payload !== undefined) h['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: rawPath, headers: h }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

let ws: Workspace;
let planId = '';

before(async () => {
  ws = await workspace('coffre-sec-api-');
  const db = new DatabaseSync(path.join(ws.dir, 'shop.db'));
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (1), (2)');
  db.close();
  expectCode(await ws.run(['target', 'add', 'shop', '--url', `sqlite:${path.join(ws.dir, 'shop.db')}`]), 0, 'target add');
  expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local']), 0, 'destination add');
  const plan = await ws.run(['plan', 'add', 'p1', '--target', 'shop', '--destination', 'disk', '--json']);
  expectCode(plan, 0, 'plan add');
  planId = plan.json<{ id: string }>().id;
});
after(async () => {
  await ws?.cleanup();
});

/** The journal as the CLI sees it (the server shares the workspace). */
async function journalCount(): Promise<number> {
  const r = await ws.run(['journal', '--json']);
  expectCode(r, 0, 'journal');
  return r.json<unknown[]>().length;
}

test('finding 1: a percent-encoded path reaches the same route and needs the same token', async () => {
  const server: Served = await serve(ws, { API_TOKEN: TOKEN });
  try {
    for (const p of ['/api/sgbd-targets', '/%61pi/sgbd-targets', '/%61%70%69/sgbd-targets', '/api/%73gbd-targets', '/api/sgbd-%74argets']) {
      const r = await raw(server.url, 'GET', p);
      assert.equal(r.status, 401, `GET ${p} without a token: ${r.text}`);
      assert.ok(!r.text.includes('shop.db'), 'no target listed');
    }
    const made = await raw(server.url, 'POST', '/%61pi/sgbd-targets', {}, { name: 'sneaky', url: 'sqlite:/tmp/sneaky.db' });
    assert.equal(made.status, 401, made.text);
    const exec = await raw(server.url, 'POST', `/%61pi/plans/${planId}/execute`);
    assert.equal(exec.status, 401, exec.text);
    const listed = await raw(server.url, 'GET', '/api/sgbd-targets', { authorization: `Bearer ${TOKEN}` });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      JSON.parse(listed.text).map((t: { name: string }) => t.name),
      ['shop'],
      'nothing was created without a token',
    );
    // With the token the encoded spelling works like the plain one (it is the same route).
    assert.equal((await raw(server.url, 'GET', '/%61pi/sgbd-targets', { authorization: `Bearer ${TOKEN}` })).status, 200);
    // Public routes stay public, however spelled.
    assert.equal((await raw(server.url, 'GET', '/healthz')).status, 200);
    assert.equal((await raw(server.url, 'GET', '/readyz')).status, 200);
    assert.equal((await raw(server.url, 'GET', '/api/openapi.json')).status, 200);
    assert.equal((await raw(server.url, 'GET', '/%68ealthz')).status, 200);
    assert.equal(await journalCount(), 0, 'no backup ran');
  } finally {
    await server.stop();
  }
});

test('finding 7: with no token configured, only loopback Host names are served', async () => {
  const server = await serve(ws);
  try {
    const port = new URL(server.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost', `LOCALHOST:${port}`]) {
      assert.equal((await raw(server.url, 'GET', '/api/plans', { host })).status, 200, `Host: ${host}`);
    }
    for (const host of ['attacker.example', `attacker.example:${port}`, `127.0.0.1.attacker.example:${port}`, `localhost.attacker.example`, `10.0.0.1:${port}`]) {
      const r = await raw(server.url, 'GET', '/api/plans', { host });
      assert.equal(r.status, 403, `Host: ${host}: ${r.text}`);
      assert.equal(JSON.parse(r.text).error.code, 'COFFRE_E_HOST_FORBIDDEN');
      assert.ok(!r.text.includes('p1'), 'no plan listed');
    }
    const rebound = await raw(server.url, 'POST', `/api/plans/${planId}/execute`, { host: `attacker.example:${port}` });
    assert.equal(rebound.status, 403, rebound.text);
    assert.equal(await journalCount(), 0, 'no backup ran');
  } finally {
    await server.stop();
  }
});

test('finding 7: a state-changing request with a foreign Origin gets 403 and runs nothing, with or without a token', async () => {
  for (const env of [{}, { API_TOKEN: TOKEN, CORS_ORIGINS: 'http://front.example' }] as Array<Record<string, string>>) {
    const server = await serve(ws, env);
    const auth: Record<string, string> = env.API_TOKEN ? { authorization: `Bearer ${TOKEN}` } : {};
    try {
      for (const origin of ['http://evil.example', 'null', 'http://127.0.0.1.evil.example']) {
        const exec = await raw(server.url, 'POST', `/api/plans/${planId}/execute`, { ...auth, origin });
        assert.equal(exec.status, 403, `${JSON.stringify(env)} Origin ${origin}: ${exec.text}`);
        assert.equal(JSON.parse(exec.text).error.code, 'COFFRE_E_ORIGIN_FORBIDDEN');
        const prune = await raw(server.url, 'POST', `/api/plans/${planId}/prune`, { ...auth, origin });
        assert.equal(prune.status, 403, prune.text);
        const del = await raw(server.url, 'DELETE', `/api/plans/${planId}`, { ...auth, origin });
        assert.equal(del.status, 403, del.text);
        const patch = await raw(server.url, 'PATCH', `/api/plans/${planId}`, { ...auth, origin }, { enabled: false });
        assert.equal(patch.status, 403, patch.text);
      }
      assert.equal(await journalCount(), 0, 'no backup ran');
      // Reads from a foreign origin are not state-changing (CORS keeps their answers from the page).
      assert.equal((await raw(server.url, 'GET', '/api/plans', { ...auth, origin: 'http://evil.example' })).status, 200);
      // The server's own origin (a page it serves) and the origins in CORS_ORIGINS may change state.
      const own = await raw(server.url, 'POST', `/api/plans/${planId}/prune`, { ...auth, origin: server.url }, { dryRun: true });
      assert.equal(own.status, 200, own.text);
      if (env.CORS_ORIGINS) {
        const listed = await raw(server.url, 'POST', `/api/plans/${planId}/prune`, { ...auth, origin: 'http://front.example' }, { dryRun: true });
        assert.equal(listed.status, 200, listed.text);
      }
    } finally {
      await server.stop();
    }
  }
  const plan = await ws.run(['plan', 'list', '--json']);
  assert.equal(plan.json<Array<{ enabled: boolean }>>()[0].enabled, true, 'the refused PATCH changed nothing');
});
