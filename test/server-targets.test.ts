// Server targets (issue 15) through the real CLI, on the real PostgreSQL, MariaDB and FerretDB servers:
// every database a server target's filter matches (only this test's own, by a random prefix), one row each
// under one run, new databases picked up as fulls, vanished ones named, a database the backup user cannot
// read making the run partial, per-database chains, the PostgreSQL globals, and the group's status in
// /api/status. Each test makes its own databases and roles and drops them.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { workspace, type CliResult, type Workspace } from './support/cli.ts';
import { client, serve } from './support/api.ts';
import { adminUrl, connectionTo, execSql, withClient } from './support/postgres.ts';
import { adminSql, q as myq } from './support/mysql.ts';
import { mongoBase, withMongo } from './support/mongodb.ts';

const spaces: Workspace[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  for (const ws of spaces) await ws.cleanup();
});

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: ${r.all}`);
  return r;
}

interface Row { id: string; database: string; status: string; kind: string; parentId: string | null; message: string | null; runId?: string; runPart?: string; artifact: string | null }
interface Run extends Row { databases: Row[]; newDatabases: string[]; vanished: string[]; failedDatabases: string[] }

async function setup(engine: string, url: string, prefix: string): Promise<Workspace> {
  const ws = await workspace('coffre-srv-');
  spaces.push(ws);
  ok(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]), 'destination add');
  ok(await ws.run(['target', 'add', 'srv', '--url', url, '--include', `${prefix}*`]), `target add ${engine}`);
  ok(await ws.run(['plan', 'add', 'all', '--target', 'srv', '--destination', 'disk', '--compression', 'gzip']), 'plan add');
  return ws;
}

async function backup(ws: Workspace, extra: string[] = []): Promise<{ r: CliResult; run: Run }> {
  const r = await ws.run(['backup', 'all', '--json', ...extra]);
  return { r, run: r.json<Run>() };
}

const pgNames = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('PostgreSQL server target: five databases and the globals in one run, new and vanished databases, per-database incrementals, partial, parallel', async () => {
  const prefix = `coffre_srv_${randomBytes(3).toString('hex')}_`;
  const admin = connectionTo('postgres');
  const names = pgNames(prefix, 6);
  const role = `${prefix}reader`;
  cleanups.push(async () => {
    for (const n of names) await execSql(admin, `DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`).catch(() => {});
    await execSql(admin, `DROP ROLE IF EXISTS "${role}"`).catch(() => {});
  });
  for (const n of names.slice(0, 5)) {
    await execSql(admin, `CREATE DATABASE "${n}"`);
    await execSql(connectionTo(n), `CREATE TABLE t (id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;`);
  }
  const base = adminUrl.replace(/\/[^/]*$/, '/');
  const ws = await setup('postgres', base, prefix);

  const test1 = ok(await ws.run(['target', 'test', 'srv', '--json']), 'target test').json<{ databases: string[]; server: boolean }>();
  assert.equal(test1.server, true);
  assert.deepEqual(test1.databases, names.slice(0, 5));

  const first = await backup(ws);
  ok(first.r, 'first run');
  assert.equal(first.run.status, 'success');
  assert.equal(first.run.databases.length, 6, 'five databases and the globals');
  assert.deepEqual(first.run.databases.filter((d) => d.runPart === 'database').map((d) => d.database), names.slice(0, 5));
  const globals = first.run.databases.find((d) => d.runPart === 'globals');
  assert.ok(globals && globals.status === 'success', 'the globals row');
  for (const d of first.run.databases) {
    assert.equal(d.runId, first.run.id);
    assert.equal(d.kind, 'full');
  }

  // The journal: one line for the run, its databases beneath (and in --json a databases array).
  const journal = ok(await ws.run(['journal', '--json']), 'journal').json<Run[]>();
  assert.equal(journal.length, 1);
  assert.equal(journal[0].id, first.run.id);
  assert.equal(journal[0].databases.length, 6);
  const text = ok(await ws.run(['journal']), 'journal text').stdout;
  assert.match(text, new RegExp(`server: 5 databases`));
  assert.match(text, new RegExp(`${names[4]}`));

  // A sixth database, a change in one, an incremental: the new one is a full that says so, each other
  // database is a delta against its own previous row.
  await execSql(admin, `CREATE DATABASE "${names[5]}"`);
  await execSql(connectionTo(names[0]), `INSERT INTO t VALUES (100001, 'changed')`);
  const second = await backup(ws, ['--kind', 'incremental']);
  ok(second.r, 'second run');
  assert.deepEqual(second.run.newDatabases, [names[5]]);
  const sixth = second.run.databases.find((d) => d.database === names[5])!;
  assert.equal(sixth.kind, 'full');
  assert.match(sixth.message ?? '', /new database/i);
  assert.match(second.run.message ?? '', new RegExp(`New database since the last run: ${names[5]}`));
  for (const n of names.slice(0, 5)) {
    const d = second.run.databases.find((x) => x.database === n)!;
    const parent = first.run.databases.find((x) => x.database === n)!;
    assert.equal(d.kind, 'incremental', `${n} is an incremental`);
    assert.equal(d.parentId, parent.id, `${n}'s parent is its own previous row`);
  }
  assert.equal(second.run.databases.find((d) => d.runPart === 'globals')!.kind, 'full');

  // One database dropped: named as gone; its backup still restores (into a fresh database).
  const goneRow = first.run.databases.find((d) => d.database === names[1])!;
  await execSql(admin, `DROP DATABASE "${names[1]}" WITH (FORCE)`);
  const third = await backup(ws);
  ok(third.r, 'third run');
  assert.deepEqual(third.run.vanished, [names[1]]);
  assert.match(third.run.message ?? '', new RegExp(`Gone since the last run: ${names[1]}`));
  ok(await ws.run(['target', 'add', 'back', '--url', `${base}${names[1]}`]), 'target for the restore');
  ok(await ws.run(['restore', goneRow.id, '--to', 'back']), 'restore of a vanished database');
  const count = await withClient(connectionTo(names[1]), async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n);
  assert.equal(count, 20000);

  // The backup user may not connect to one database: the run is partial, naming it; the others land.
  await execSql(admin, `CREATE ROLE "${role}" LOGIN; GRANT pg_read_all_data TO "${role}"; REVOKE CONNECT ON DATABASE "${names[2]}" FROM PUBLIC`);
  ok(await ws.run(['target', 'edit', 'srv', '--url', base.replace('root@', `${role}@`)]), 'target edit (the limited user)');
  const edited = ok(await ws.run(['target', 'list', '--json']), 'target list').json<Array<{ name: string; server: boolean; include: string[] }>>().find((t) => t.name === 'srv')!;
  assert.equal(edited.server, true);
  assert.deepEqual(edited.include, [`${prefix}*`], 'the filters survive a URL change');
  const fourth = await backup(ws);
  assert.equal(fourth.r.code, 1, fourth.r.all);
  assert.equal(fourth.run.status, 'partial');
  assert.deepEqual(fourth.run.failedDatabases.filter((d) => d !== '(globals)'), [names[2]]);
  assert.match(fourth.run.message ?? '', new RegExp(`Failed: ${names[2]}`));
  for (const d of fourth.run.databases.filter((x) => x.runPart === 'database' && x.database !== names[2])) assert.equal(d.status, 'success', d.database);

  // The group's status through the API: /api/status and /metrics; and PATCH changes the filters and parallel.
  const served = await serve(ws);
  try {
    const api = client(served.url);
    const status = (await api('GET', '/api/status')).json() as { plans: Array<{ plan: string; health: string; lastServerRunId: string; lastServerRunStatus: string; lastServerRunMessage: string }> };
    const plan = status.plans.find((p) => p.plan === 'all')!;
    assert.equal(plan.lastServerRunId, fourth.run.id);
    assert.equal(plan.lastServerRunStatus, 'partial');
    assert.equal(plan.health, 'failing');
    assert.match(plan.lastServerRunMessage, new RegExp(names[2]));
    const metrics = (await api('GET', '/metrics')).text;
    assert.match(metrics, /coffre_server_run_last_status\{plan="all",status="partial"\} 1/);
    const targets = (await api('GET', '/api/sgbd-targets')).json() as Array<{ id: string; name: string }>;
    const id = targets.find((t) => t.name === 'srv')!.id;
    const patched = await api('PATCH', `/api/sgbd-targets/${id}`, { exclude: [`${prefix}9`], parallel: 3 });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json().exclude, [`${prefix}9`]);
    assert.equal(patched.json().parallel, 3);
    assert.deepEqual(patched.json().include, [`${prefix}*`]);
    const bad = await api('PATCH', `/api/sgbd-targets/${id}`, { parallel: 0 });
    assert.equal(bad.status, 400, bad.text);
  } finally {
    await served.stop();
  }

  // Parallel: change it on the target (the edit that was missed last time), and time one run at 1 and 2.
  ok(await ws.run(['target', 'edit', 'srv', '--url', base, '--parallel', '1']), 'target edit --parallel 1');
  const t1 = Date.now();
  ok((await backup(ws, ['--kind', 'full'])).r, 'run at parallel 1');
  const p1 = Date.now() - t1;
  const edited2 = ok(await ws.run(['target', 'edit', 'srv', '--parallel', '2', '--json']), 'target edit --parallel 2').json<{ parallel: number }>();
  assert.equal(edited2.parallel, 2);
  const t2 = Date.now();
  ok((await backup(ws, ['--kind', 'full'])).r, 'run at parallel 2');
  const p2 = Date.now() - t2;
  console.log(`# server run over ${names.length - 1} PostgreSQL databases + globals (CLI, full, gzip): --parallel 1 ${p1} ms, --parallel 2 ${p2} ms`);
});
