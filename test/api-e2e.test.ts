// The API end to end, as a client sees it: `coffre serve` runs as a child process with its own DATA_DIR and
// a token made by `coffre token create`; over HTTP the test adds a PostgreSQL target (a real database it
// made), a local destination and a plan, backs up while following the job on /api/events, restores into a
// new database and compares the data. Then SIGTERM: a run still going past SHUTDOWN_GRACE_SECONDS is
// journaled `interrupted`, and the server exits 0.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { client, readEvents, serve, silentServer, type SseEvent } from './support/api.ts';
import { adminUrl, connectionTo, dropDatabase, execSql, uniqueName, withClient } from './support/postgres.ts';

const source = connectionTo(uniqueName('coffre_api_src'));
const restored = connectionTo(uniqueName('coffre_api_dst'));
let ws: Workspace;

function urlOf(database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function snapshot(database: typeof source): Promise<unknown> {
  return withClient(database, async (c) => ({
    rows: (await c.query('SELECT id, label, data, doc::text AS doc FROM things ORDER BY id')).rows,
    seq: (await c.query('SELECT last_value FROM things_id_seq')).rows,
  }));
}

before(async () => {
  ws = await workspace('coffre-api-e2e-');
  await execSql(
    source,
    `CREATE TABLE things (id serial PRIMARY KEY, label text, data bytea, doc jsonb);
     INSERT INTO things (label, data, doc) SELECT 'row ' || g || ' é😀', decode(md5(g::text), 'hex'), jsonb_build_object('n', g, 'q', 'it''s')
       FROM generate_series(1, 2000) g;
     INSERT INTO things (label, data, doc) VALUES (NULL, NULL, NULL);`,
  );
});
after(async () => {
  await dropDatabase(source).catch(() => {});
  await dropDatabase(restored).catch(() => {});
  await ws?.cleanup();
});

test('over HTTP: target, destination, plan, backup followed on /api/events, restore into a new database, same data', async () => {
  const made = await ws.run(['token', 'create', 'e2e', '--json']);
  expectCode(made, 0, 'token create');
  const token = made.json<{ token: string }>().token;
  const server = await serve(ws, { SHUTDOWN_GRACE_SECONDS: '10' });
  try {
    assert.equal((await client(server.url)('GET', '/api/plans')).status, 401, 'a token exists, so one is required');
    const http = client(server.url, token);
    const target = await http('POST', '/api/sgbd-targets', { name: 'src', url: urlOf(source.database) });
    assert.equal(target.status, 201, target.text);
    const probe = await http('POST', `/api/sgbd-targets/${target.json().id}/test`);
    assert.equal(probe.json().ok, true, probe.text);
    assert.match(probe.json().serverVersion, /^\d+/);
    const dest = await http('POST', '/api/destinations', { name: 'disk', type: 'local', path: path.join(ws.dir, 'backups') });
    assert.equal(dest.status, 201, dest.text);
    const plan = await http('POST', '/api/plans', {
      name: 'pg-nightly',
      targetId: target.json().id,
      destinationId: dest.json().id,
      kind: 'full',
      compression: 'zstd',
      cron: '0 3 * * *',
    });
    assert.equal(plan.status, 201, plan.text);

    // Follow every event from before the job exists until it finishes.
    let opened!: () => void;
    const ready = new Promise<void>((resolve) => (opened = resolve));
    let jobId = '';
    const events = readEvents(`${server.url}/api/events`, token, (e) => e.event === 'job.finished' && e.data.id === jobId, AbortSignal.timeout(120_000), opened);
    await ready;
    const started = await http('POST', `/api/plans/${plan.json().id}/execute`, { options: { compressionFormat: 'gzip' } });
    assert.equal(started.status, 202, started.text);
    jobId = started.json().jobId;
    const journalId = started.json().journalId;
    assert.ok(journalId);
    const seen: SseEvent[] = (await events).filter((e) => e.data.id === jobId);
    const types = seen.map((e) => e.event);
    assert.equal(types[0], 'job.queued');
    assert.ok(types.includes('job.started'));
    assert.equal(types.at(-1), 'job.finished');
    assert.equal(seen.find((e) => e.event === 'job.started')!.data.journalId, journalId);
    const finished = seen.at(-1)!.data;
    assert.equal(finished.status, 'success', JSON.stringify(finished));
    assert.equal(finished.result.id, journalId);
    assert.equal(finished.result.compression, 'gzip');
    assert.ok(finished.result.sizeBytes > 0 && finished.result.rawSizeBytes > finished.result.sizeBytes);
    for (const e of seen.filter((x) => x.event === 'job.progress')) assert.ok(e.data.bytes > 0 && e.data.rateBytesPerSecond >= 0);
    assert.ok(
      seen.every((e, i) => i === 0 || Number(e.id) > Number(seen[i - 1].id)),
      'event ids increase',
    );

    // The journal row over HTTP is the CLI's row.
    const row = (await http('GET', `/api/journals/${journalId}`)).json();
    const cli = await ws.run(['journal', '--plan', 'pg-nightly', '--json']);
    expectCode(cli, 0, 'journal');
    assert.deepEqual(cli.json<unknown[]>()[0], row);

    // Restore into a database that does not exist yet.
    const copy = await http('POST', '/api/sgbd-targets', { name: 'copy', url: urlOf(restored.database) });
    assert.equal(copy.status, 201, copy.text);
    const restore = await http('POST', '/api/restores', { journalId, targetId: copy.json().id, options: { compressionFormat: 'gzip' } });
    assert.equal(restore.status, 202, restore.text);
    const done = await readEvents(`${server.url}/api/events?jobId=${restore.json().jobId}`, token, (e) => e.data.finishedAt !== null, AbortSignal.timeout(120_000));
    const outcome = done.at(-1)!.data;
    assert.equal(outcome.status, 'success', JSON.stringify(outcome));
    assert.equal(outcome.journalId, restore.json().journalId);
    assert.equal((await http('GET', `/api/jobs/${restore.json().jobId}`)).json().status, 'success');
    assert.deepEqual(await snapshot(restored), await snapshot(source));

    // No answer or log line ever showed the token.
    assert.ok(!server.stderr().includes(token));
    assert.equal(await server.stop('SIGTERM'), 0);
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('SIGTERM: a run still going after SHUTDOWN_GRACE_SECONDS is journaled interrupted, and the server exits 0', async () => {
  const silent = await silentServer();
  const server = await serve(ws, { SHUTDOWN_GRACE_SECONDS: '1', API_TOKEN: 'sigterm-token-0123456789' });
  try {
    const http = client(server.url, 'sigterm-token-0123456789');
    assert.equal((await http('POST', '/api/sgbd-targets', { name: 'blackhole', url: `postgres://u@127.0.0.1:${silent.port}/db` })).status, 201);
    assert.equal((await http('POST', '/api/plans', { name: 'stuck', targetId: 'blackhole', destinationId: 'disk' })).status, 201);
    const started = await http('POST', '/api/backups', { planId: 'stuck' });
    assert.equal(started.status, 202, started.text);
    assert.equal(started.json().status, 'running');
    assert.equal(await server.stop('SIGTERM'), 0);
    assert.match(server.stderr(), /1 interrupted/);
    const rows = await ws.run(['journal', '--plan', 'stuck', '--json']);
    expectCode(rows, 0, 'journal');
    const [row] = rows.json<Array<{ id: string; status: string; message: string }>>();
    assert.equal(row.id, started.json().journalId);
    assert.equal(row.status, 'interrupted');
    assert.match(row.message, /shutting down/);
  } finally {
    server.child.kill('SIGKILL');
    await silent.close();
  }
});
