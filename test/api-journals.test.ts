// GET /api/restores and POST /api/destinations/:id/reindex in process (Fastify inject), over a real SQLite
// backup and three restores made through the API: the restore journal newest first, paged by limit and
// offset, rows identical to the CLI's listing (listRestoreJournal); reindex reporting a known backup as
// skipped, a renamed artifact without manifest as an orphan, importing into a fresh catalog, and 404 for an
// unknown destination. Both routes need the token and are in the OpenAPI document.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { inProcess, type InProcess, waitJob as waitJobOf } from './support/api.ts';
import { listRestoreJournal } from '../src/services/restores.ts';
import { RestoreRow } from '../src/api/schemas.ts';

const TOKEN = 'journals-token-0123456789abcdef';

let s: InProcess;
let backupId: string;
/** Restore journal ids, in the order the restores were made. */
const restoreIds: string[] = [];

/** A request with the token (or another one); `anonymous` sends none. */
async function call(method: string, url: string, body?: unknown, token: string = TOKEN) {
  return s.call(method, url, { body, token });
}

async function anonymous(method: string, url: string) {
  return s.call(method, url);
}

/** The job once finished. */
const waitJob = (id: string): Promise<any> => waitJobOf(s, id, TOKEN);

before(async () => {
  s = await inProcess({ API_TOKEN: TOKEN });
  const src = path.join(s.dir, 'src.db');
  const db = new DatabaseSync(src);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b');");
  db.close();
  assert.equal((await call('POST', '/api/sgbd-targets', { name: 'lite', url: `sqlite:${src}` })).status, 201);
  assert.equal((await call('POST', '/api/sgbd-targets', { name: 'copy', url: `sqlite:${path.join(s.dir, 'copy.db')}` })).status, 201);
  assert.equal((await call('POST', '/api/destinations', { name: 'disk', type: 'local', path: path.join(s.dir, 'backups') })).status, 201);
  assert.equal((await call('POST', '/api/plans', { name: 'nightly', targetId: 'lite', destinationId: 'disk', kind: 'full', compression: 'gzip' })).status, 201);
  const b = await call('POST', '/api/backups', { planId: 'nightly' });
  assert.equal(b.status, 202, b.text);
  const backup = await waitJob(b.json().jobId);
  assert.equal(backup.status, 'success', JSON.stringify(backup));
  backupId = b.json().journalId;
  // Three restores: into the empty copy, refused (not empty, no replace), then with replace.
  for (const [options, status] of [
    [{}, 'success'],
    [{}, 'failed'],
    [{ replace: true }, 'success'],
  ] as const) {
    const r = await call('POST', '/api/restores', { journalId: backupId, targetId: 'copy', options });
    assert.equal(r.status, 202, r.text);
    assert.equal((await waitJob(r.json().jobId)).status, status);
    restoreIds.push(r.json().journalId);
  }
});
after(async () => {
  await s?.close();
});

test('GET /api/restores: the restore journal newest first, rows as the CLI lists them', async () => {
  const r = await call('GET', '/api/restores');
  assert.equal(r.status, 200, r.text);
  const page = r.json();
  assert.deepEqual(
    page.items.map((x: any) => x.id),
    [...restoreIds].reverse(),
  );
  assert.equal(page.limit, 50);
  assert.equal(page.offset, 0);
  assert.equal(page.nextOffset, null);
  assert.deepEqual(
    page.items.map((x: any) => x.status),
    ['success', 'failed', 'success'],
  );
  for (const row of page.items) {
    assert.deepEqual(Object.keys(row).sort(), Object.keys(RestoreRow.shape).sort());
    RestoreRow.parse(row);
    assert.equal(row.backupId, backupId);
    assert.equal(row.target, 'copy');
    assert.equal(row.engine, 'sqlite');
    assert.equal(row.trigger, 'api');
  }
  assert.equal(page.items[0].replace, true);
  assert.match(page.items[1].message, /\S/, 'a refused restore says why');
  assert.deepEqual(page.items, JSON.parse(JSON.stringify(await listRestoreJournal(s.ctx, { limit: 50 }))), 'same rows as `coffre journal --restores --json`');
});

test('GET /api/restores pages with limit and offset', async () => {
  const first = (await call('GET', '/api/restores?limit=2')).json();
  assert.deepEqual(
    first.items.map((x: any) => x.id),
    [restoreIds[2], restoreIds[1]],
  );
  assert.equal(first.nextOffset, 2);
  const second = (await call('GET', `/api/restores?limit=2&offset=${first.nextOffset}`)).json();
  assert.deepEqual(
    second.items.map((x: any) => x.id),
    [restoreIds[0]],
  );
  assert.equal(second.nextOffset, null);
  const exact = (await call('GET', '/api/restores?limit=3')).json();
  assert.equal(exact.items.length, 3);
  assert.equal(exact.nextOffset, null, 'no next page when the last row ends the journal');
  assert.deepEqual((await call('GET', '/api/restores?offset=10')).json().items, []);
});

test('GET /api/restores: 400 for a bad limit or offset, 401 without the token', async () => {
  for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1.5', 'offset=-1']) {
    const r = await call('GET', `/api/restores?${q}`);
    assert.equal(r.status, 400, q);
    assert.equal(r.json().error.code, 'COFFRE_E_VALIDATION');
    assert.equal(r.json().error.details.fields[0].field, q.split('=')[0]);
  }
  const none = await anonymous('GET', '/api/restores');
  assert.equal(none.status, 401);
  assert.equal(none.json().error.code, 'COFFRE_E_MISSING_TOKEN');
  assert.equal((await call('GET', '/api/restores', undefined, 'wrong-token-0123456789')).status, 401);
});

test('POST /api/destinations/:id/reindex: a known backup is skipped, an artifact without manifest is an orphan', async () => {
  const known = await call('POST', '/api/destinations/disk/reindex');
  assert.equal(known.status, 200, known.text);
  const report = known.json();
  assert.equal(report.destination, 'disk');
  assert.equal(report.scanned, 2, 'the artifact and its manifest');
  assert.deepEqual(
    report.skipped.map((x: any) => x.id),
    [backupId],
  );
  assert.equal(report.skipped[0].plan, 'nightly');
  assert.deepEqual([report.imported, report.linked, report.orphans, report.invalid], [[], [], [], []]);

  const artifact = (await call('GET', `/api/journals/${backupId}`)).json().artifact as string;
  const root = path.join(s.dir, 'backups');
  const strayKey = `renamed-${path.basename(artifact)}`;
  await copyFile(path.join(root, artifact), path.join(root, strayKey));
  const after = (await call('POST', `/api/destinations/${report.destinationId}/reindex`)).json();
  assert.equal(after.scanned, 3);
  assert.deepEqual(after.orphans, [{ key: strayKey, sizeBytes: (await stat(path.join(root, strayKey))).size }]);
  assert.deepEqual(
    after.skipped.map((x: any) => x.id),
    [backupId],
  );
  assert.deepEqual(after.imported, [], 'an orphan is never imported');
  assert.ok(!(await call('GET', '/api/journals')).json().items.some((x: any) => x.artifact === strayKey));
});

test('POST /api/destinations/:id/reindex imports into a fresh catalog what its manifests describe', async () => {
  const fresh = await inProcess({ ALLOWED_PATHS: s.dir });
  try {
    assert.equal((await fresh.call('POST', '/api/destinations', { body: { name: 'found', type: 'local', path: path.join(s.dir, 'backups') } })).status, 201);
    const r = await fresh.call('POST', '/api/destinations/found/reindex');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.json().imported.map((x: any) => x.id),
      [backupId],
    );
    const row = (await fresh.call('GET', `/api/journals/${backupId}`)).json();
    assert.equal(row.status, 'success');
    assert.equal(row.trigger, 'reindex');
    assert.equal((await fresh.call('POST', '/api/destinations/found/reindex')).json().skipped[0].id, backupId, 'a second reindex only skips');
  } finally {
    await fresh.close();
  }
});

test('POST /api/destinations/:id/reindex: 404 for an unknown destination, 401 without the token', async () => {
  const r = await call('POST', '/api/destinations/no-such-disk/reindex');
  assert.equal(r.status, 404);
  assert.equal(r.json().error.code, 'COFFRE_E_DESTINATION_NOT_FOUND');
  assert.equal((await anonymous('POST', '/api/destinations/disk/reindex')).status, 401);
});

test('a local destination whose path is a file or unusable: refused on POST and PATCH (400); one that became a file since gives 409 on reindex', async () => {
  const file = path.join(s.dir, 'src.db');
  for (const p of [file, path.join(file, 'under')]) {
    const r = await call('POST', '/api/destinations', { name: 'on-a-file', type: 'local', path: p });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error.code, 'COFFRE_E_BAD_DESTINATION');
    assert.match(r.json().error.message, /is a file: choose a folder/);
  }
  const patched = await call('PATCH', '/api/destinations/disk', { path: '/etc/passwd' });
  assert.equal(patched.status, 400, patched.text);
  for (const p of ['with\u0000nul', 'x'.repeat(300), 'y/'.repeat(2100)]) {
    const r = await call('PATCH', '/api/destinations/disk', { path: p });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json().error.message, /usable folder path|at most 4096|<=4096/);
  }
  const folder = path.join(s.dir, 'was-a-folder');
  assert.equal((await call('POST', '/api/destinations', { name: 'gone', type: 'local', path: folder })).status, 201);
  await copyFile(file, folder); // the folder never existed; a file now takes its place
  const r = await call('POST', '/api/destinations/gone/reindex');
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json().error.code, 'COFFRE_E_DESTINATION_NOT_A_FOLDER');
  assert.equal((await call('DELETE', '/api/destinations/gone')).status, 200);
});

test('both routes are in the OpenAPI document, with their query and report schemas', async () => {
  const doc = (await anonymous('GET', '/api/openapi.json')).json();
  const list = doc.paths['/api/restores']?.get;
  assert.ok(list, 'GET /api/restores is documented');
  assert.ok(doc.paths['/api/restores'].post, 'POST /api/restores is still there');
  assert.deepEqual(list.parameters.map((p: any) => p.name).sort(), ['limit', 'offset']);
  assert.equal(list.parameters.find((p: any) => p.name === 'limit').schema.maximum, 1000);
  assert.ok(list.responses['200'].content['application/json'].schema.properties.items);
  assert.ok(list.responses['400'] && list.responses['401']);
  const reindex = doc.paths['/api/destinations/{id}/reindex']?.post;
  assert.ok(reindex, 'POST /api/destinations/{id}/reindex is documented');
  assert.ok(reindex.responses['404']);
  const fields = Object.keys(reindex.responses['200'].content['application/json'].schema.properties).sort();
  assert.deepEqual(fields, ['destination', 'destinationId', 'imported', 'invalid', 'linked', 'orphans', 'scanned', 'skipped']);
});
