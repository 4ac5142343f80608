// Cluster mode: when the catalog is PostgreSQL, several `coffre serve` processes (on one machine or many)
// share the scheduled runs through pg-boss, a job queue kept in that same database (schema coffre_boss).
//
// - Exactly once: every worker's scheduler sees every tick; in one transaction the first to insert
//   (plan, tick) into schedule_ticks also enqueues the pg-boss job, the others find the row and do nothing.
// - Leases: the queue has a heartbeat of CLUSTER_LEASE_SECONDS. A worker that dies (kill -9, lost machine)
//   stops heartbeating; pg-boss then puts the job back and another worker takes it.
// - Cleanup without harming live runs: each journal row of a cluster run carries its pg-boss job id and a
//   heartbeat. A worker that takes a retried job first finishes the rows of that job's earlier attempts
//   (`interrupted`, their artifact, manifest and `.partial` removed). pg-boss hands a job out again only after
//   its holder missed its lease, and each run writes under its own key (it holds the run id), so this never
//   touches a live run's files. Rows whose heartbeat is older than three leases and whose job was not retried
//   (retries used up) are finished the same way by any worker. The pid check of services/recovery.ts still
//   covers runs of this machine.
// - Per-target limits: jobs are grouped by target and pg-boss's groupConcurrency (MAX_CONCURRENT_PER_TARGET)
//   is counted in the database, so it holds across workers.
// - No overlap: a tick whose plan has a run going, or a queued job not yet finished, is journaled `skipped`.
//
// - A worker cut off from the database (alive, not dead) for more than a lease may still finish its artifact
//   after another worker retried the run; but a run's row is finished only while it is still `running`
//   (catalog/runs.ts finishBackup), so that worker then finds its row finished by another, removes its copies
//   and claims nothing (COFFRE_E_RUN_TAKEN_OVER): never two `success` rows for one tick.

import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { PgBoss, fromKysely, type Job } from 'pg-boss';
import type { Kysely } from 'kysely';
import { asCoffreError, failure, isCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { CatalogSchema } from '../catalog/schema.ts';
import { getPlan } from '../catalog/plans.ts';
import type { ServiceContext } from '../services/context.ts';
import type { JobRunner, JobView } from '../services/jobs.ts';
import { removeCopies } from '../services/copies.ts';
import { runningBackupsOfJob, staleBackups, type BackupRecord } from '../catalog/journal.ts';
import { heartbeatBackup, interruptBackup, interruptServerRun, takeOverBackup } from '../catalog/runs.ts';
import { runningServerRunsOfJob, staleServerRuns, type ServerRunRecord } from '../catalog/server-runs.ts';
import { claimTick, queuedTicks, setTickOutcome } from '../catalog/ticks.ts';
import { journalSkipped, runningRowOf, type Dispatcher } from './scheduler.ts';

/** The pg-boss queue of scheduled backups. */
export const BACKUP_QUEUE = 'coffre-scheduled-backup';
/** The PostgreSQL schema pg-boss keeps its tables in. */
export const BOSS_SCHEMA = 'coffre_boss';

export interface ClusterOptions {
  leaseSeconds: number;
  maxConcurrent: number;
  maxPerTarget: number;
  log: (line: string) => void;
}

interface TickJob {
  planId: string;
  tickAt: string;
}

export interface Cluster {
  dispatcher: Dispatcher;
  /** Stops taking jobs from the queue (running ones go on). */
  stopTaking(): Promise<void>;
  /** Stops pg-boss and the heartbeats; call after the JobRunner's shutdown. */
  close(): Promise<void>;
}

/** A stable uuid for a (plan, tick): the pg-boss job id, so a repeated enqueue is a no-op too. */
export function tickJobId(planId: string, tickAt: string): string {
  const h = createHash('sha256').update(`${planId}@${tickAt}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Finishes a dead run's row as `interrupted` and removes its files; false if the row was no longer running. */
async function finishDeadRun(ctx: ServiceContext, row: BackupRecord, why: string): Promise<boolean> {
  let cleanup = 'its partial files were removed';
  if (row.artifactKey) {
    try {
      await removeCopies(ctx, row); // every destination of the run
    } catch (err) {
      cleanup = `its partial files could not all be removed (${redact(asCoffreError(err).message)})`;
    }
  }
  const message = `The worker running this backup (pid ${row.pid} on ${row.host}) ${why}; ${cleanup}.`;
  return interruptBackup(ctx, row, message, 'The worker running this upload died before it finished.');
}

/** Finishes a dead server run's group as `interrupted` (after its rows); false if it was no longer running. */
async function finishDeadGroup(ctx: ServiceContext, run: ServerRunRecord, why: string): Promise<boolean> {
  return interruptServerRun(ctx, run, `The worker running this server run (pid ${run.pid} on ${run.host}) ${why}; each database's row says where it got to.`);
}

/** Finishes the rows (and server runs) left `running` by earlier attempts of a cluster job (their worker missed its lease). */
export async function recoverAttempts(ctx: ServiceContext, jobId: string): Promise<number> {
  const why = 'stopped answering (lease expired); the run was retried by another worker';
  let n = 0;
  for (const row of await runningBackupsOfJob(ctx.catalog.db, jobId)) if (await finishDeadRun(ctx, row, why)) n++;
  for (const run of await runningServerRunsOfJob(ctx.catalog.db, jobId)) if (await finishDeadGroup(ctx, run, why)) n++;
  return n;
}

/**
 * Finishes cluster runs whose lease is older than `staleMs` (their job will not come back): rows by their
 * own heartbeat or their server run's, then those server runs.
 */
export async function sweepStaleRuns(ctx: ServiceContext, staleMs: number, now = Date.now()): Promise<number> {
  const before = new Date(now - staleMs).toISOString();
  const groups = await staleServerRuns(ctx.catalog.db, before);
  const since = new Map(groups.map((g) => [g.id, g.heartbeatAt]));
  let n = 0;
  for (const row of await staleBackups(ctx.catalog.db, before)) {
    if (await finishDeadRun(ctx, row, `sent no heartbeat since ${row.heartbeatAt ?? (row.runId && since.get(row.runId)) ?? before}`)) n++;
  }
  for (const run of groups) if (await finishDeadGroup(ctx, run, `sent no heartbeat since ${run.heartbeatAt}`)) n++;
  return n;
}

/** Starts pg-boss on the catalog's database, the queue's worker, and returns the cluster dispatcher. */
export async function startCluster(ctx: ServiceContext, runner: JobRunner, options: ClusterOptions): Promise<Cluster> {
  if (ctx.config.catalog.kind !== 'postgres') throw failure('CLUSTER_NEEDS_POSTGRES', 'Cluster mode needs a PostgreSQL catalog (DATABASE_URL=postgres://...).');
  const db = ctx.catalog.db;
  const { leaseSeconds, log } = options;
  const passSeconds = Math.max(1, Math.floor(leaseSeconds / 3));
  const boss = new PgBoss({
    connectionString: ctx.config.catalog.url,
    schema: BOSS_SCHEMA,
    max: 4,
    superviseIntervalSeconds: passSeconds,
    monitorIntervalSeconds: passSeconds,
    schedule: false,
    instanceName: `coffre-${hostname()}-${process.pid}`,
  });
  boss.on('error', (err) => log(`cluster: ${redact(asCoffreError(err).message)}`));
  await boss.start();
  try {
    // expireInSeconds: pg-boss's ceiling (24 h) for one attempt; the heartbeat is the real lease.
    await boss
      .createQueue(BACKUP_QUEUE, { heartbeatSeconds: leaseSeconds, retryLimit: 5, retryDelay: 1, expireInSeconds: 86400, deleteAfterSeconds: 7 * 86400 })
      .catch(async (err) => {
        if (!(await boss.getQueue(BACKUP_QUEUE))) throw err; // another worker made it first
      });
  } catch (err) {
    await boss.stop({ graceful: false, close: true }).catch(() => {});
    throw failure('CLUSTER_START_FAILED', `The cluster queue could not be set up in ${BOSS_SCHEMA}: ${redact(asCoffreError(err).message)}`, { cause: err });
  }

  const heartbeats = new Set<NodeJS.Timeout>();
  const runTick = async (job: Job<TickJob>): Promise<void> => {
    const { planId, tickAt } = job.data;
    const tick = new Date(tickAt);
    const recovered = await recoverAttempts(ctx, job.id);
    if (recovered) log(`cluster: job ${job.id} (plan ${planId}, tick ${tickAt}) attempt ${job.retryCount}: finished ${recovered} row(s) of a dead attempt`);
    const plan = await getPlan(db, planId);
    if (!plan) return void (await setTickOutcome(db, planId, tick, 'done'));
    const busy = await runningRowOf(db, planId, job.id);
    if (busy) {
      await journalSkipped(ctx, plan, tick, `the previous run is still going (journal ${busy.id}, pid ${busy.pid} on ${busy.host}).`);
      return void (await setTickOutcome(db, planId, tick, 'skipped'));
    }
    let view: JobView;
    const events: JobView[] = [];
    let wake: () => void = () => {};
    const unsubscribe = runner.subscribe((e) => {
      events.push(e.job);
      wake();
    });
    let beat: NodeJS.Timeout | undefined;
    try {
      try {
        view = await runner.submitBackup({ plan: planId, trigger: 'schedule' });
      } catch (err) {
        if (isCoffreError(err) && err.kind === 'conflict') {
          await journalSkipped(ctx, plan, tick, err.message);
          return void (await setTickOutcome(db, planId, tick, 'skipped'));
        }
        throw err;
      }
      let tagged = false;
      const tag = async (journalId: string) => {
        tagged = true;
        await takeOverBackup(ctx, journalId, { jobId: job.id, scheduledFor: tickAt });
        beat = setInterval(() => void heartbeatBackup(ctx, journalId).catch(() => {}), passSeconds * 1000);
        heartbeats.add(beat);
      };
      let current = view;
      for (;;) {
        for (const e of events.splice(0)) if (e.id === view.id) current = e;
        if (current.journalId && !tagged) {
          await tag(current.journalId);
          continue; // events may have come in meanwhile
        }
        if (current.finishedAt) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (current.status === 'interrupted' && !runner.accepting) {
        // This worker is shutting down: give the run back so another worker does it.
        throw failure('WORKER_STOPPING', 'The worker stopped before the run finished; another worker will retry it.', { retryable: true });
      }
      await setTickOutcome(db, planId, tick, 'done');
    } finally {
      unsubscribe();
      if (beat) {
        clearInterval(beat);
        heartbeats.delete(beat);
      }
    }
  };

  await boss.work<TickJob>(BACKUP_QUEUE, { localConcurrency: options.maxConcurrent, groupConcurrency: options.maxPerTarget, pollingIntervalSeconds: 1 }, async (jobs) => {
    for (const job of jobs) await runTick(job);
  });
  const sweeper = setInterval(() => {
    void sweepStaleRuns(ctx, 3 * leaseSeconds * 1000)
      .then((n) => n && log(`cluster: finished ${n} run(s) whose worker stopped heartbeating`))
      .catch((err) => log(`cluster: sweep failed: ${redact(asCoffreError(err).message)}`));
  }, leaseSeconds * 1000);

  const dispatcher: Dispatcher = {
    async dispatch(plan, tickAt) {
      const tickIso = tickAt.toISOString();
      const jobId = tickJobId(plan.id, tickIso);
      let announce = () => {};
      const outcome = await db.transaction().execute(async (trx) => {
        if (!(await claimTick(trx, plan.id, tickAt, 'queued', jobId))) return 'taken' as const;
        const reason = await busyReason(trx, boss, plan.id, tickIso);
        if (reason) {
          announce = await journalSkipped(ctx, plan, tickAt, reason, trx);
          await setTickOutcome(trx, plan.id, tickAt, 'skipped');
          return 'skipped' as const;
        }
        await boss.send(BACKUP_QUEUE, { planId: plan.id, tickAt: tickIso } satisfies TickJob, { id: jobId, group: { id: plan.targetId }, db: fromKysely(trx) });
        return 'queued' as const;
      });
      announce(); // the skipped row's event, now that it is committed
      return outcome;
    },
  };

  let closed = false;
  return {
    dispatcher,
    async stopTaking() {
      clearInterval(sweeper);
      await boss.offWork(BACKUP_QUEUE).catch(() => {});
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      for (const beat of heartbeats) clearInterval(beat);
      await boss.stop({ graceful: false, close: true }).catch(() => {});
    },
  };
}

/** Why a plan cannot start another run now (a running row, or an earlier tick's job not finished), or null. */
async function busyReason(db: Kysely<CatalogSchema>, boss: PgBoss, planId: string, tickIso: string): Promise<string | null> {
  const row = await runningRowOf(db, planId);
  if (row) return `the previous run is still going (journal ${row.id}, pid ${row.pid} on ${row.host}).`;
  for (const t of await queuedTicks(db, planId, tickIso)) {
    const job = t.jobId ? await boss.getJobById<TickJob>(BACKUP_QUEUE, t.jobId) : null;
    if (job && (job.state === 'created' || job.state === 'retry' || job.state === 'active')) {
      return `the run of the tick ${t.tickAt} is still ${job.state === 'active' ? 'going' : 'waiting for a worker'} (cluster job ${t.jobId}).`;
    }
    await setTickOutcome(db, planId, t.tickAt, 'done');
  }
  return null;
}
