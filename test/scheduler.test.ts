// The scheduler in embedded mode (SQLite catalog, the real JobRunner): a tick claimed twice fires once; a
// tick whose plan still runs is journaled `skipped` with the reason; the missed-run policy with its grace
// window, under a controlled `now`; plans changed after start are followed without a restart; plan
// listings show the next run times; bad schedules are refused when saved; SCHEDULER_ENABLED=false runs
// nothing; the cluster's sweeper finishes runs whose heartbeat stopped.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext, type ServiceContext } from '../src/services/context.ts';
import { addTarget } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan, listPlans, updatePlan } from '../src/services/plans.ts';
import { JobRunner } from '../src/services/jobs.ts';
import { runBackup } from '../src/services/backups.ts';
import { findPlan } from '../src/catalog/plans.ts';
import { localDispatcher, Scheduler } from '../src/scheduler/scheduler.ts';
import { startBackground } from '../src/scheduler/background.ts';
import { sweepStaleRuns } from '../src/scheduler/cluster.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { until } from './support/wait.ts';

let dir: string;
let ctx: ServiceContext;
let silent: Server;
const sockets = new Set<Socket>();

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffre-scheduler-'));
  ctx = await openContext({ config: loadConfig({ DATA_DIR: path.join(dir, 'data'), SCHEDULER_TIMEZONE: 'Europe/Paris' }), announce: () => {} });
  const db = new DatabaseSync(path.join(dir, 'app.db'));
  db.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a')");
  db.close();
  // A "PostgreSQL server" that accepts connections and never answers: a backup of it runs until aborted.
  silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  await addTarget(ctx, { name: 'app', url: `sqlite:${path.join(dir, 'app.db')}` }, { via: 'cli' });
  await addTarget(ctx, { name: 'stuck', url: `postgres://u:p@127.0.0.1:${port}/stuck` });
  await addDestination(ctx, { name: 'disk', type: 'local', path: path.join(dir, 'backups') }, { via: 'cli' });
});

after(async () => {
  for (const s of sockets) s.destroy();
  silent?.close();
  await closeContext(ctx);
  await rm(dir, { recursive: true, force: true });
});

/** Waits until the runner has nothing queued or running (the real clock; no timing asserted). */
async function idle(runner: JobRunner): Promise<void> {
  await until(() => !runner.list().some((j) => j.status === 'queued' || j.status === 'running'), 'the runner to have nothing queued or running', { limitMs: 120_000 });
}

async function rows(planName: string) {
  return ctx.catalog.db.selectFrom('backups').selectAll().where('plan_name', '=', planName).orderBy('started_at').execute();
}

test('bad schedules are refused when the plan is saved, saying why', async () => {
  const refused = async (input: Record<string, unknown>, code: string, why: RegExp) =>
    assert.rejects(
      addPlan(ctx, { name: 'bad', target: 'app', destination: 'disk', ...input }),
      (e: unknown) => isCoffreError(e) && e.code === code && e.kind === 'usage' && why.test(e.message),
    );
  await refused({ cron: '0 25 * * *' }, 'COFFRE_E_BAD_CRON', /hour: 25/);
  await refused({ cron: '0 3 * * *', timezone: 'Europe/Pariss' }, 'COFFRE_E_BAD_TIMEZONE', /IANA/);
  await refused({ cron: '0 3 * * *', missedRuns: 'always' }, 'COFFRE_E_BAD_MISSED_RUNS', /run-once/);
  await refused({ cron: '0 3 * * *', missedGraceSeconds: -5 }, 'COFFRE_E_BAD_MISSED_GRACE', /grace/);
  const plan = await addPlan(ctx, { name: 'listed', target: 'app', destination: 'disk', cron: '0 3 * * *', timezone: 'America/New_York' });
  assert.equal(plan.nextRuns.length, 3);
  for (const t of plan.nextRuns) assert.match(t, /T0[78]:00:00\.000Z$/, '03:00 in New York is 07:00 or 08:00 UTC');
  const listed = (await listPlans(ctx)).find((p) => p.name === 'listed')!;
  assert.deepEqual(listed.nextRuns, plan.nextRuns);
  await assert.rejects(updatePlan(ctx, 'listed', { cron: '0 0 31 2 *' }), /never fires/);
  const off = await updatePlan(ctx, 'listed', { enabled: false });
  assert.deepEqual(off.nextRuns, [], 'a disabled plan has no next run');
});

test('a tick fires once however many times it is claimed; a tick whose plan still runs is skipped with the reason', async () => {
  await addPlan(ctx, { name: 'overlap', target: 'stuck', destination: 'disk', cron: '*/10 * * * *' });
  const plan = (await findPlan(ctx.catalog.db, 'overlap'))!;
  const runner = new JobRunner(ctx, { maxConcurrent: 2, allowedPaths: [dir] });
  const dispatcher = localDispatcher(ctx, runner);
  try {
    const t1 = new Date('2026-05-01T10:00:00Z');
    const t2 = new Date('2026-05-01T10:10:00Z');
    assert.equal(await dispatcher.dispatch(plan, t1, false), 'started');
    assert.equal(await dispatcher.dispatch(plan, t1, false), 'taken', 'the same tick again: another worker already has it');
    const running = runner.activeForPlan(plan.id);
    assert.equal(running?.status, 'running', 'the first run hangs on the silent server');
    assert.equal(await dispatcher.dispatch(plan, t2, false), 'skipped');
    const journal = await rows('overlap');
    assert.equal(journal.length, 2);
    const [first, skipped] = journal.sort((a, b) => (a.status === 'running' ? -1 : b.status === 'running' ? 1 : 0));
    assert.equal(first.status, 'running');
    assert.equal(first.scheduled_for, t1.toISOString());
    assert.equal(first.trigger, 'schedule');
    assert.equal(skipped.status, 'skipped');
    assert.equal(skipped.scheduled_for, t2.toISOString());
    assert.match(skipped.message ?? '', /2026-05-01T10:10:00\.000Z was skipped: the previous run is still going \(job .*journal /);
  } finally {
    await runner.shutdown(0);
  }
  const after = await rows('overlap');
  assert.deepEqual(after.map((r) => r.status).sort(), ['interrupted', 'skipped']);
});

/** A backups row of plan (SQLite target `app`) left `running` by some process, with the given fields. */
function runningRow(
  plan: { id: string; name: string; targetId: string },
  fields: { id: string; trigger: 'cli' | 'schedule'; pid: number; host: string; started_at?: string; heartbeat_at?: string | null },
) {
  return {
    plan_id: plan.id,
    plan_name: plan.name,
    target_id: plan.targetId,
    target_name: 'app',
    engine: 'sqlite' as const,
    database: 'app',
    kind: 'full' as const,
    requested_kind: 'full' as const,
    parent_id: null,
    parent_sha256: null,
    status: 'running' as const,
    compression: 'gzip',
    raw_format: null,
    started_at: new Date().toISOString(),
    finished_at: null,
    duration_ms: null,
    raw_size_bytes: null,
    size_bytes: null,
    sha256: null,
    raw_sha256: null,
    artifact_key: null,
    server_version: null,
    client_version: null,
    tool: null,
    message: null,
    ...fields,
  };
}

test('a run still marked running by another process (a CLI backup) also makes the tick skip', async () => {
  await addPlan(ctx, { name: 'cli-busy', target: 'app', destination: 'disk', cron: '0 * * * *' });
  const plan = (await findPlan(ctx.catalog.db, 'cli-busy'))!;
  const runner = new JobRunner(ctx, { maxConcurrent: 2, allowedPaths: [dir] });
  await ctx.catalog.db
    .insertInto('backups')
    .values(runningRow(plan, { id: '01890000-0000-7000-8000-000000000001', trigger: 'cli', pid: process.pid, host: 'elsewhere' }))
    .execute();
  try {
    assert.equal(await localDispatcher(ctx, runner).dispatch(plan, new Date('2026-05-01T11:00:00Z'), false), 'skipped');
    const skipped = (await rows('cli-busy')).find((r) => r.status === 'skipped')!;
    assert.match(skipped.message ?? '', /journal 01890000-0000-7000-8000-000000000001, pid \d+ on elsewhere/);
    assert.equal(runner.list().length, 0, 'nothing was started');
  } finally {
    await runner.shutdown(0);
  }
});

test('missed runs: run-once within the grace window, once only; nothing past the window or with skip', async () => {
  const make = async (name: string, extra: Record<string, unknown> = {}) => {
    await addPlan(ctx, { name, target: 'app', destination: 'disk', compression: 'none', cron: '0 3 * * *', timezone: 'UTC', ...extra });
    // The plan existed long before the controlled clock.
    await ctx.catalog.db.updateTable('plans').set({ created_at: '2026-01-01T00:00:00.000Z' }).where('name', '=', name).execute();
  };
  await make('missed-default');
  await make('missed-skip', { missedRuns: 'skip' });
  await make('missed-wide', { missedGraceSeconds: 3 * 3600 });
  const runner = new JobRunner(ctx, { maxConcurrent: 4, allowedPaths: [dir] });
  const scheduler = new Scheduler(ctx, { dispatcher: localDispatcher(ctx, runner), defaultTimezone: 'UTC', reloadMs: 60000 });
  try {
    await scheduler.reload(new Date('2026-06-10T03:40:00Z'));
    // 40 minutes after the 03:00 tick: default (1 h) and wide windows catch up; skip does not.
    let done = await scheduler.catchUp(new Date('2026-06-10T03:40:00Z'));
    const mine = (d: typeof done) =>
      d
        .filter((x) => x.plan.startsWith('missed-'))
        .map((x) => `${x.plan} ${x.tickAt} ${x.outcome}`)
        .sort();
    assert.deepEqual(mine(done), ['missed-default 2026-06-10T03:00:00.000Z started', 'missed-wide 2026-06-10T03:00:00.000Z started']);
    // Restarting again: the tick was claimed, so it is not run twice.
    done = await scheduler.catchUp(new Date('2026-06-10T03:50:00Z'));
    assert.deepEqual(mine(done), []);
    await idle(runner);
    // Next day, 2 h after the tick: only the 3 h window still catches up.
    done = await scheduler.catchUp(new Date('2026-06-11T05:00:00Z'));
    assert.deepEqual(mine(done), ['missed-wide 2026-06-11T03:00:00.000Z started']);
    // Next day, 4 h after: nobody.
    done = await scheduler.catchUp(new Date('2026-06-12T07:00:00Z'));
    assert.deepEqual(mine(done), []);
  } finally {
    await scheduler.stop();
    await runner.shutdown(60000);
  }
  const made = await ctx.catalog.db
    .selectFrom('backups')
    .select(['plan_name', 'status', 'scheduled_for', 'trigger'])
    .where('plan_name', 'like', 'missed-%')
    .orderBy('scheduled_for')
    .execute();
  assert.deepEqual(
    made.map((r) => `${r.plan_name} ${r.scheduled_for} ${r.status} ${r.trigger}`),
    ['missed-default 2026-06-10T03:00:00.000Z success schedule', 'missed-wide 2026-06-10T03:00:00.000Z success schedule', 'missed-wide 2026-06-11T03:00:00.000Z success schedule'],
  );
});

test('a plan changed after start is scheduled without a restart, and its ticks run', async () => {
  await addPlan(ctx, { name: 'live', target: 'app', destination: 'disk', compression: 'none' });
  const runner = new JobRunner(ctx, { maxConcurrent: 2, allowedPaths: [dir] });
  const scheduler = new Scheduler(ctx, { dispatcher: localDispatcher(ctx, runner), defaultTimezone: 'UTC', reloadMs: 60000 });
  try {
    await scheduler.start();
    assert.equal(
      scheduler.upcoming().some((e) => e.plan === 'live'),
      false,
    );
    await updatePlan(ctx, 'live', { cron: '* * * * * *' }); // every second
    const ran = await until(
      async () => {
        const r = await rows('live');
        return r.some((x) => x.status === 'success') && r;
      },
      'a tick to run the plan',
      { limitMs: 10_000, everyMs: 50 },
    );
    assert.ok(
      scheduler.upcoming().some((e) => e.plan === 'live'),
      'the change was picked up',
    );
    assert.ok(
      ran.some((r) => r.status === 'success'),
      'a tick ran the plan',
    );
    await updatePlan(ctx, 'live', { cron: null });
    await until(() => !scheduler.upcoming().some((e) => e.plan === 'live'), 'the plan to leave the schedule once its cron is removed', { limitMs: 2_000 }).catch(() => {}); // asserted just below
    assert.equal(
      scheduler.upcoming().some((e) => e.plan === 'live'),
      false,
      'removing the cron stops it',
    );
  } finally {
    await scheduler.stop();
    await runner.shutdown(30000);
  }
  const all = await rows('live');
  assert.ok(
    all.every((r) => r.trigger === 'schedule' && r.scheduled_for),
    'every row names its tick',
  );
  assert.equal(new Set(all.map((r) => r.scheduled_for)).size, all.length, 'one row per tick');
});

test('SCHEDULER_ENABLED=false: a plan due every second never runs; the same plan runs once scheduling is on', async () => {
  await addPlan(ctx, { name: 'every-second', target: 'app', destination: 'disk', cron: '* * * * * *' });
  const runner = new JobRunner(ctx, { maxConcurrent: 2, allowedPaths: [dir] });
  const lines: string[] = [];
  try {
    const offCtx: ServiceContext = { ...ctx, config: { ...ctx.config, scheduler: { ...ctx.config.scheduler, enabled: false } } };
    const off = await startBackground(offCtx, runner, (l) => lines.push(l));
    await new Promise((r) => setTimeout(r, 2500)); // kept as a sleep: that no run happens during these 2.5 s is what is tested
    await off.stop();
    await off.close();
    assert.equal(off.scheduler, undefined);
    assert.ok(
      lines.some((l) => /scheduler: off \(SCHEDULER_ENABLED=false\)/.test(l)),
      lines.join('\n'),
    );
    assert.equal((await rows('every-second')).length, 0, 'no run while scheduling is off');
    const on = await startBackground(ctx, runner, (l) => lines.push(l));
    await until(async () => (await rows('every-second')).length > 0, 'a run once scheduling is on', { limitMs: 10_000, everyMs: 50 }).catch(() => {}); // asserted below
    await on.stop();
    await idle(runner);
    await on.close();
    assert.ok((await rows('every-second')).length > 0, 'with scheduling on, the plan ran');
  } finally {
    await updatePlan(ctx, 'every-second', { enabled: false });
    await runner.shutdown(0);
  }
});

test('cluster sweeper: a run whose heartbeat is older than the limit is finished as interrupted; fresh and non-cluster runs are left alone', async () => {
  await addPlan(ctx, { name: 'swept', target: 'app', destination: 'disk' });
  const plan = (await findPlan(ctx.catalog.db, 'swept'))!;
  const now = Date.now();
  const row = (n: number, heartbeat: string | null) =>
    runningRow(plan, {
      id: `01890000-0000-7000-8000-00000000010${n}`,
      trigger: 'schedule',
      started_at: new Date(now - 3_600_000).toISOString(),
      pid: 1,
      host: 'gone-worker',
      heartbeat_at: heartbeat,
    });
  await ctx.catalog.db
    .insertInto('backups')
    .values([row(1, new Date(now - 10 * 60_000).toISOString()), row(2, new Date(now - 5_000).toISOString()), row(3, null)])
    .execute();
  try {
    assert.equal(await sweepStaleRuns(ctx, 60_000, now), 1);
    const after = (await rows('swept')).sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(
      after.map((r) => [r.id.slice(-1), r.status]),
      [
        ['1', 'interrupted'],
        ['2', 'running'],
        ['3', 'running'],
      ],
    );
    assert.match(after[0].message ?? '', /pid 1 on gone-worker\) sent no heartbeat since /);
    assert.equal(await sweepStaleRuns(ctx, 60_000, now), 0, 'a second pass finds nothing');
  } finally {
    await ctx.catalog.db.updateTable('backups').set({ status: 'failed' }).where('plan_id', '=', plan.id).where('status', '=', 'running').execute();
  }
});

test('a run whose row another process finished meanwhile (a worker that took it over) claims nothing: its copy is removed, the row keeps the other word', async () => {
  await addPlan(ctx, { name: 'taken-over', target: 'app', destination: 'disk' });
  const outcome = await runBackup(ctx, {
    plan: 'taken-over',
    trigger: 'schedule',
    // What the cluster's sweeper does to a run whose heartbeat it stopped seeing.
    onStarted: (run) => void ctx.catalog.db.updateTable('backups').set({ status: 'interrupted', message: 'swept by another worker' }).where('id', '=', run.id).execute(),
  });
  assert.equal(outcome.error?.code, 'COFFRE_E_RUN_TAKEN_OVER', outcome.error?.message);
  assert.equal(outcome.view.status, 'interrupted');
  const [row] = await rows('taken-over');
  assert.equal(row.status, 'interrupted');
  assert.equal(row.message, 'swept by another worker');
  const left = await readdir(path.join(dir, 'backups', 'taken-over')).catch(() => [] as string[]);
  assert.deepEqual(left, [], 'no artifact or manifest of the taken-over run is left');
});
