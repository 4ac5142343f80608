// A restore drill of a plan on a PostgreSQL server target (issue 13 meets issue 15), through the real CLI on
// the real server. A server run's rows include its globals (roles and tablespaces): those belong to the
// server, and a drill writes only into its scratch database, so the drill takes a database of the run, and
// a drill of the globals row is refused before anything is touched. Before, the plan's latest row could be
// the globals, whose script then ran its CREATE ROLE statements on the server itself.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { adminUrl, connectionTo, execSql, withClient } from './support/postgres.ts';

const prefix = `coffre_drsrv_${randomBytes(3).toString('hex')}_`;
const db = `${prefix}a`;
const role = `${prefix}role`;
const admin = connectionTo('postgres');
let ws: Workspace | undefined;

after(async () => {
  await execSql(admin, `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`).catch(() => {});
  await execSql(admin, `DROP ROLE IF EXISTS "${role}"`).catch(() => {});
  await ws?.cleanup();
});

const roles = () => withClient(admin, async (c) => (await c.query(`SELECT rolname FROM pg_roles ORDER BY 1`)).rows.map((r) => r.rolname as string));

test('a drill of a server plan restores one of its databases into the scratch, never its globals onto the server', async () => {
  ws = await workspace('coffre-drill-srv-');
  await execSql(admin, `CREATE DATABASE "${db}"`);
  await execSql(connectionTo(db), 'CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, 40);');
  // A role that the globals will hold, dropped after the backup: restoring the globals would bring it back.
  await execSql(admin, `CREATE ROLE "${role}" NOLOGIN`);
  const base = adminUrl.replace(/\/[^/]*$/, '/');
  expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]), 0, 'destination add');
  expectCode(await ws.run(['target', 'add', 'srv', '--url', base, '--include', `${prefix}*`]), 0, 'target add');
  expectCode(await ws.run(['plan', 'add', 'all', '--target', 'srv', '--destination', 'disk', '--drill-assert', 'SELECT count(*) = 40 FROM t']), 0, 'plan add');
  const backedUp = await ws.run(['backup', 'all', '--json']);
  expectCode(backedUp, 0, 'server run');
  const run = backedUp.json<{ databases: Array<{ id: string; database: string; runPart: string }> }>();
  const globals = run.databases.find((d) => d.runPart === 'globals')!;
  const database = run.databases.find((d) => d.runPart === 'database')!;
  assert.ok(globals && database, JSON.stringify(run.databases));
  await execSql(admin, `DROP ROLE "${role}"`);
  const before = await roles();

  const drilled = await ws.run(['drill', 'all', '--json']);
  expectCode(drilled, 0, 'drill');
  const drill = drilled.json<{ backupId: string; status: string; checks: Array<{ name: string; status: string }> }>();
  assert.equal(drill.backupId, database.id, 'the drill took the database, not the globals');
  assert.deepEqual(
    drill.checks.map((c) => [c.name, c.status]),
    [
      ['restore', 'passed'],
      ['row-counts', 'passed'],
      ['assertion', 'passed'],
      ['rto', 'passed'],
    ],
  );
  const refused = await ws.run(['drill', 'all', '--backup', globals.id]);
  expectCode(refused, 2, 'drill of the globals');
  assert.match(refused.all, /COFFRE_E_DRILL_GLOBALS|belong to the server, not to a database/);
  assert.deepEqual(await roles(), before, 'no role made on the server');
});
