// Fuzzing every route (fast-check) with malformed, oversized and wrongly typed bodies, query strings and
// ids, including ids and names that exist, so that requests also reach the services. Whatever comes in,
// the answer is never a 5xx, an error is always {"error": {"code": "COFFRE_E_...", "message"}}, and no body
// carries a stack trace.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { inProcess, type InProcess } from './support/api.ts';

const TOKEN = 'fuzz-token-0123456789abcdef';
let s: InProcess;
let refs: string[] = [];
const cwd = process.cwd();

before(async () => {
  s = await inProcess({ API_TOKEN: TOKEN, ALLOWED_PATHS: tmpdir() }); // the fuzzed paths are under /tmp
  process.chdir(s.dir); // relative paths a fuzzed destination may take land in the test's own folder
  const file = path.join(s.dir, 'lite.db');
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);');
  db.close();
  const post = async (url: string, body: unknown) => {
    const r = await s.call('POST', url, { body, token: TOKEN });
    assert.ok(r.status < 300, r.text);
    return r.json();
  };
  const t = await post('/api/sgbd-targets', { name: 'lite', url: `sqlite:${file}` });
  const d = await post('/api/destinations', { name: 'disk', type: 'local', path: path.join(s.dir, 'backups') });
  const p = await post('/api/plans', { name: 'plan', targetId: t.id, destinationId: d.id });
  refs = [t.id, d.id, p.id, 'lite', 'disk', 'plan', t.id.slice(0, 8)];
});
after(async () => {
  process.chdir(cwd);
  await s?.close();
});

const STACK = /\n\s+at \S.*[(:]\d+:\d+|node:internal|\bat async\b/;

const statuses = new Map<number, number>();

async function check(method: string, url: string, payload: string | undefined, contentType = 'application/json'): Promise<void> {
  const res = await s.app.inject({
    method: method as 'GET',
    url,
    payload,
    headers: { authorization: `Bearer ${TOKEN}`, ...(payload !== undefined ? { 'content-type': contentType } : {}) },
  });
  const what = `${method} ${url.slice(0, 200)} ${String(payload).slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
  statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  assert.ok(res.statusCode < 500, what);
  assert.ok(!STACK.test(res.body), `stack trace in ${what}`);
  if (res.statusCode >= 400) {
    const body = JSON.parse(res.body);
    assert.match(body.error.code, /^COFFRE_E_[A-Z_]+$/, what);
    assert.equal(typeof body.error.message, 'string', what);
    // What to change is worded for an API client: a field or a route, never the CLI's flag or command.
    assert.doesNotMatch(body.error.message, CLI_WORDS, what);
    if (/GET \/api\//.test(body.error.message)) apiWorded++;
  }
}

/** The CLI's wording of a hint (core/errors.ts flagWords): a command or a flag, unless the message words it for the API too ("(API: …)"). */
const CLI_WORDS = /see `coffre |shown by `coffre |(^|[\s(])--[a-z][a-z-]*(?![^(]*\(API: )/;
let apiWorded = 0;

const anyValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
  fc.constantFrom('full', 'differential', 'gzip', 'zstd', 'none', 'local', 's3', '0 3 * * *', 'Europe/Paris', 'sqlite:/tmp/x.db', 'postgres://u:p@127.0.0.1:1/x', ''),
);
const idValue = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...['', '..', '.', '%', '%zz', '%00', 'null', '-1', '1e999', '../../etc/passwd', 'a'.repeat(600), '00000000-0000-7000-8000-000000000000']),
  },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 3, arbitrary: fc.constantFrom('lite', 'disk', 'plan') },
);
/** Relative paths only, or ones inside the test folder: a fuzzed destination must not write elsewhere. */
const pathValue = fc.oneof(
  fc.string({ maxLength: 30 }).map((p) => p.replace(/^[/\\~]+/, '')),
  fc.constantFrom('backups', 'nested/deeper', '/etc/passwd', '/proc/self/environ'),
);
const bodyObject = fc.record(
  {
    name: fc.oneof(anyValue, fc.constantFrom('lite', 'disk', 'plan', 'fresh-name')),
    url: anyValue,
    type: anyValue,
    path: fc.oneof(
      pathValue,
      anyValue.filter((v) => typeof v !== 'string'),
    ),
    targetId: fc.oneof(anyValue, idValue),
    destinationId: fc.oneof(anyValue, idValue),
    planId: fc.oneof(anyValue, idValue),
    journalId: fc.oneof(anyValue, idValue),
    kind: anyValue,
    compression: anyValue,
    cron: anyValue,
    timezone: anyValue,
    enabled: anyValue,
    options: fc.oneof(anyValue, fc.record({ variant: anyValue, compressionFormat: anyValue, replace: anyValue }, { requiredKeys: [] })),
    bucket: anyValue,
  },
  { requiredKeys: [] },
);
/** Valid bodies for some route, so that requests also get through validation and reach the services. */
const validBodies = [
  '{}',
  '{"planId":"plan"}',
  '{"planId":"plan","options":{"variant":"full","compressionFormat":"none"}}',
  '{"name":"n1","url":"sqlite:/tmp/coffre-fuzz-never-created.db"}',
  '{"name":"d1","type":"local","path":"d1"}',
  '{"name":"p1","targetId":"lite","destinationId":"disk","cron":"0 3 * * *"}',
  '{"enabled":false}',
  '{"path":"/etc/passwd","targetId":"lite"}',
];
const validBody = fc.constantFrom(...validBodies);
const body = fc.oneof(
  { weight: 2, arbitrary: validBody },
  { weight: 5, arbitrary: bodyObject.map((b) => JSON.stringify(b)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 50 }) }, // not JSON at all
  { weight: 1, arbitrary: fc.constantFrom('', '{', '[1,2', '{"name":"x"', 'null', '"str"', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}') },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const query = fc.oneof(
  fc
    .dictionary(
      fc.constantFrom('planId', 'status', 'from', 'to', 'limit', 'offset', 'jobId', 'x', 'access_token'),
      fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('-1', '1e3', '0', '99999999999', '2025-01-01', 'success', 'NaN')),
      { maxKeys: 4 },
    )
    .map((d) => new URLSearchParams(d).toString()),
  fc.string({ maxLength: 40 }).map((q) => encodeURI(q)),
  fc.constantFrom('limit=1&limit=2', 'status[]=x', 'from=%zz', 'planId=', '&&&', 'a=%00'),
);

function fill(route: string, id: string, raw: boolean): string {
  return route.replace(/\{[a-z]+\}/gi, raw ? id : encodeURIComponent(id));
}

test('no route answers a malformed, oversized or wrongly typed request with a 5xx or a stack trace', async () => {
  const doc = (await s.call('GET', '/api/openapi.json')).json();
  const routes: Array<[string, string]> = [];
  for (const [p, ops] of Object.entries(doc.paths as Record<string, object>)) for (const m of Object.keys(ops)) routes.push([m.toUpperCase(), p]);
  assert.ok(routes.length >= 25, `found ${routes.length} routes`);
  for (const [method, route] of routes) {
    await fc.assert(
      fc.asyncProperty(idValue, fc.boolean(), query, body, async (id, raw, q, b) => {
        let url = fill(route, id, raw);
        if (route === '/api/events') q = `jobId=${encodeURIComponent(id || 'x')}`; // without a job id the stream stays open
        url += q ? `?${q}` : '';
        await check(method, url, method === 'GET' || method === 'DELETE' ? undefined : b);
      }),
      { numRuns: 40 },
    );
  }
  // And every route with every valid-looking body and every existing name, id and id prefix, so the services are reached too.
  for (const [method, route] of routes) {
    if (route === '/api/events') continue;
    for (const id of refs) for (const b of validBodies) await check(method, fill(route, id, false), method === 'GET' || method === 'DELETE' ? undefined : b);
  }
  // The requests reached past validation: successes, missing ids and conflicts happened, not only 400s.
  for (const status of [200, 400, 404]) assert.ok((statuses.get(status) ?? 0) > 0, `some requests answered ${status}: ${JSON.stringify([...statuses])}`);
  assert.ok(apiWorded > 0, 'some not-found answers named the route that lists what exists');
  assert.ok(
    [...statuses.keys()].some((k) => k === 201 || k === 202),
    JSON.stringify([...statuses]),
  );
});

test('oversized bodies, foreign content types, unknown routes and methods', async () => {
  const big = JSON.stringify({ name: 'x', url: 'y'.repeat(3 << 20) });
  for (const url of ['/api/sgbd-targets', '/api/plans', '/api/backups', '/api/restores', '/api/restore/abcdef12', '/api/destinations/disk']) {
    await check(url.includes('destinations/') ? 'PATCH' : 'POST', url, big);
    await check('POST', url, '<xml/>', 'application/xml');
    await check('POST', url, 'x=1', 'application/x-www-form-urlencoded');
  }
  await check('POST', '/api/sgbd-targets', `{"name":"deep","url":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  for (const url of ['/api', '/api/', '/api/plans/a/b/c', '/%', '/api/%zz', `/api/${'x'.repeat(10_000)}`, `/api/plans?${'a=1&'.repeat(2000)}`]) await check('GET', url, undefined);
  await check('PUT', '/api/plans', '{}');
  await check('DELETE', '/api/journals', undefined);
});
