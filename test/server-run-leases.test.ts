// A server run (issue 15) is a group row (server_runs) and one backups row per database. When the process
// running it dies, the group must not stay `running` for ever, and in cluster mode its databases' rows (which
// carry no lease of their own) must not block the plan on every other worker: the group holds the lease
// (migration 0015), so the retried job and the sweeper finish the group and its rows, and the recovery sweep
// of a restarted host finishes a dead group of its own. A running group also makes its plan busy, between two
// of its databases as much as during one. Rows are written into a real catalog, as a dead process leaves them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import type { ServiceContext } from '../src/services/context.ts';
import { ensurePlanIdle, runBackup } from '../src/services/backups.ts';
import { recoverInterruptedRuns } from '../src/services/recovery.ts';
import { recoverAttempts, sweepStaleRuns } from '../src/scheduler/cluster.ts';
import { heartbeatBackup, takeOverBackup } from '../src/catalog/runs.ts';
import type { BackupsTable, ServerRunsTable } from '../src/catalog/schema.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { appContext, type AppContext } from './support/context.ts';

let app: AppContext;
let ctx: ServiceContext;
let template: BackupsTable;
let planId: string;
let n = 0;

before(async () => {
  app = await appContext('coffre-server-leases-');
  ctx = app.ctx;
  planId = app.plan.id;
  const { view } = await runBackup(ctx, { plan: 'p' });
  template = await ctx.catalog.db.selectFrom('backups').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow();
});

after(() => app?.close());

const id = (tag: string) => `01890000-0000-7000-8000-${String(++n).padStart(4, '0')}${tag.padEnd(8, '0').slice(0, 8)}`;

/** A server run's group row, running. */
async function group(fields: Partial<ServerRunsTable>): Promise<string> {
  const gid = id('a');
  await ctx.catalog.db
    .insertInto('server_runs')
    .values({
      id: gid,
      plan_id: planId,
      plan_name: 'p',
      target_id: template.target_id,
      target_name: 'app',
      engine: 'sqlite',
      status: 'running',
      trigger: 'schedule',
      requested_kind: 'full',
      databases: '["a","b"]',
      new_databases: '[]',
      vanished: '[]',
      failed: '[]',
      message: null,
      started_at: new Date(Date.now() - 3_600_000).toISOString(),
      finished_at: null,
      duration_ms: null,
      pid: 1,
      host: 'gone-worker',
      ...fields,
    })
    .execute();
  return gid;
}

/** One database's row of a server run (`runId`), with no lease of its own. */
async function part(runId: string, fields: Partial<BackupsTable> = {}): Promise<string> {
  const rid = id('b');
  await ctx.catalog.db
    .insertInto('backups')
    .values({
      ...template,
      id: rid,
      status: 'running',
      finished_at: null,
      artifact_key: null,
      message: null,
      pid: 1,
      host: 'gone-worker',
      run_id: runId,
      run_part: 'database',
      job_id: null,
      heartbeat_at: null,
      ...fields,
    })
    .execute();
  return rid;
}

const statusOf = async (table: 'backups' | 'server_runs', rid: string) =>
  (await ctx.catalog.db.selectFrom(table).select(['status', 'message']).where('id', '=', rid).executeTakeFirstOrThrow()) as { status: string; message: string | null };

/** Finishes whatever a test left running, so the next one starts with an idle plan. */
async function settle(): Promise<void> {
  await ctx.catalog.db.updateTable('backups').set({ status: 'failed' }).where('status', '=', 'running').execute();
  await ctx.catalog.db.updateTable('server_runs').set({ status: 'failed' }).where('status', '=', 'running').execute();
}

test('cluster sweeper: a server run whose heartbeat is older than the limit is finished as interrupted with its running rows; fresh and non-cluster groups are left alone', async () => {
  const now = Date.now();
  const oldBeat = new Date(now - 10 * 60_000).toISOString();
  try {
    const stale = await group({ job_id: 'job-stale', heartbeat_at: oldBeat });
    const staleRunning = await part(stale);
    const staleDone = await part(stale, { status: 'success', finished_at: new Date(now - 20 * 60_000).toISOString() });
    const fresh = await group({ job_id: 'job-fresh', heartbeat_at: new Date(now - 5_000).toISOString() });
    const freshRunning = await part(fresh);
    const local = await group({ host: 'other-host' }); // no lease: not a cluster run, left to its host
    const localRunning = await part(local);

    assert.equal(await sweepStaleRuns(ctx, 60_000, now), 2, 'the stale group and its running row');
    const row = await statusOf('backups', staleRunning);
    assert.equal(row.status, 'interrupted');
    assert.match(row.message ?? '', new RegExp(`pid 1 on gone-worker\\) sent no heartbeat since ${oldBeat.replace(/[.]/g, '\\.')}`));
    const g = await statusOf('server_runs', stale);
    assert.equal(g.status, 'interrupted');
    assert.match(g.message ?? '', /The worker running this server run \(pid 1 on gone-worker\) sent no heartbeat since .*each database's row says where it got to/);
    assert.equal((await statusOf('backups', staleDone)).status, 'success', 'a finished row keeps its word');
    for (const [table, rid] of [
      ['server_runs', fresh],
      ['backups', freshRunning],
      ['server_runs', local],
      ['backups', localRunning],
    ] as const)
      assert.equal((await statusOf(table, rid)).status, 'running', `${table} ${rid} left alone`);
    assert.equal(await sweepStaleRuns(ctx, 60_000, now), 0, 'a second pass finds nothing');
  } finally {
    await settle();
  }
});

test("a retried cluster job finishes its dead attempt's server run and the rows under it; take-over and heartbeats write the group's lease", async () => {
  try {
    const dead = await group({ job_id: 'job-retried', heartbeat_at: new Date().toISOString() });
    const a = await part(dead);
    const b = await part(dead);
    const other = await group({ job_id: 'job-other', heartbeat_at: new Date().toISOString() });
    const c = await part(other);
    assert.equal(await recoverAttempts(ctx, 'job-retried'), 3);
    for (const rid of [a, b]) assert.match((await statusOf('backups', rid)).message ?? '', /stopped answering \(lease expired\)/);
    assert.equal((await statusOf('server_runs', dead)).status, 'interrupted');
    assert.equal((await statusOf('server_runs', other)).status, 'running', "another job's group is not touched");
    assert.equal((await statusOf('backups', c)).status, 'running');

    // The worker that runs a server plan tags the group (the job runner's journal id is the group's).
    const taken = await group({ host: hostname(), pid: process.pid });
    await takeOverBackup(ctx, taken, { jobId: 'job-new', scheduledFor: '2026-12-03T10:00:00.000Z' });
    const first = await ctx.catalog.db.selectFrom('server_runs').select(['job_id', 'heartbeat_at']).where('id', '=', taken).executeTakeFirstOrThrow();
    assert.equal(first.job_id, 'job-new');
    assert.ok(first.heartbeat_at, 'a first heartbeat');
    await new Promise((r) => setTimeout(r, 5)); // the next millisecond, for a heartbeat that must be later
    await heartbeatBackup(ctx, taken);
    const beat = await ctx.catalog.db.selectFrom('server_runs').select('heartbeat_at').where('id', '=', taken).executeTakeFirstOrThrow();
    assert.ok(beat.heartbeat_at! > first.heartbeat_at!, `${beat.heartbeat_at} after ${first.heartbeat_at}`);
  } finally {
    await settle();
  }
});

test('a running server run makes its plan busy even while none of its databases is running; on this host, a dead one is finished by the recovery sweep', async () => {
  try {
    const elsewhere = await group({ host: 'other-host', pid: 4242 });
    const busy = await ensurePlanIdle(ctx, { id: planId, name: 'p' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isCoffreError(busy) && busy.code === 'COFFRE_E_PLAN_RUNNING', String(busy));
    assert.match(busy.message, new RegExp(`journal ${elsewhere} \\(pid 4242 on other-host\\)`));
    await settle();

    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    assert.ok(deadPid > 0);
    const dead = await group({ host: hostname(), pid: deadPid });
    const row = await part(dead, { host: hostname(), pid: deadPid });
    const live = await group({ host: hostname(), pid: process.pid });
    assert.equal(await recoverInterruptedRuns(ctx), 2, 'the dead group and its row');
    assert.equal((await statusOf('backups', row)).status, 'interrupted');
    const g = await statusOf('server_runs', dead);
    assert.equal(g.status, 'interrupted');
    assert.match(g.message ?? '', new RegExp(`The process running this server run \\(pid ${deadPid} on `));
    assert.equal((await statusOf('server_runs', live)).status, 'running', "a live process's group is left alone");
    assert.equal(await recoverInterruptedRuns(ctx), 0, 'a second sweep finds nothing');
  } finally {
    await settle();
  }
});
