// The scheduler inside `coffre serve`: plans with a cron expression run by themselves. It loads the plans at
// start, re-reads them every SCHEDULER_RELOAD_SECONDS and at once when this process changes one (so changes
// made through the API or the CLI apply without a restart), and sleeps until the next tick of any plan.
//
// A tick is identified by the plan and its scheduled time (croner's, not the wake-up time), and claimed by
// inserting that pair into `schedule_ticks`: only the first claim fires, which is what makes a tick fire once
// when several workers share a PostgreSQL catalog, and what tells a restarted server which tick it missed.
// A tick whose plan still has a run going does not start another: it is journaled as `skipped` with the
// reason. Missed ticks (no server at the time): per plan, `run-once` (default) runs once at start if the
// last scheduled time passed within the grace window (default 1 h); `skip` waits for the next tick.
//
// What a claimed tick does is the dispatcher's business: in embedded mode the local JobRunner runs it
// (localDispatcher below); in cluster mode it becomes a pg-boss job any worker may take (cluster.ts).

import { hostname } from 'node:os';
import { newId, isoNow } from '../core/ids.ts';
import { asCoffreError, isCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { Kysely } from 'kysely';
import type { CatalogSchema } from '../catalog/schema.ts';
import { listPlans, type PlanRecord } from '../catalog/plans.ts';
import { runningBackupsOfPlan } from '../catalog/journal.ts';
import { markScheduled, skipBackup } from '../catalog/runs.ts';
import { claimTick, lastClaimedTick, setTickOutcome } from '../catalog/ticks.ts';
import { getTarget } from '../catalog/targets.ts';
import type { ServiceContext } from '../services/context.ts';
import type { JobRunner } from '../services/jobs.ts';
import { DEFAULT_MISSED_GRACE_SECONDS } from '../services/plans.ts';
import { lastRunBefore, scheduleOf } from '../core/cron.ts';
import { TickLoop } from './tick-loop.ts';

/** Starts (or skips) one claimed tick of a plan. */
export interface Dispatcher {
  /**
   * Claims the tick (plan, tickAt) and, when this caller won the claim, runs it or journals it `skipped`.
   * Returns what happened: 'started', 'queued' (cluster), 'skipped', or 'taken' (another worker claimed it).
   */
  dispatch(plan: PlanRecord, tickAt: Date, missed: boolean): Promise<TickOutcome>;
}

export type TickOutcome = 'started' | 'queued' | 'skipped' | 'taken';

export interface SchedulerOptions {
  dispatcher: Dispatcher;
  /** Time zone of plans without one (SCHEDULER_TIMEZONE). */
  defaultTimezone: string;
  /** How often plans are re-read, in ms. */
  reloadMs: number;
  log?: (line: string) => void;
}

/** A run of the plan still marked `running` in the journal (by any process), if any. */
export async function runningRowOf(db: Kysely<CatalogSchema>, planId: string, exceptJobId?: string): Promise<{ id: string; host: string | null; pid: number | null } | undefined> {
  return (await runningBackupsOfPlan(db, planId)).find((r) => !exceptJobId || r.jobId !== exceptJobId);
}

/**
 * Journals a tick that did not run: a `skipped` row naming the tick and the reason. Inside a transaction
 * (`trx`), call the returned function once it committed: it publishes the run event.
 */
export async function journalSkipped(ctx: ServiceContext, plan: PlanRecord, tickAt: Date, reason: string, trx?: Kysely<CatalogSchema>): Promise<() => void> {
  const target = await getTarget(trx ?? ctx.catalog.db, plan.targetId);
  const now = isoNow();
  return skipBackup(
    ctx,
    {
      id: newId(),
      planId: plan.id,
      planName: plan.name,
      targetId: plan.targetId,
      targetName: target?.name ?? '(removed)',
      engine: target?.engine ?? '?',
      database: '-',
      kind: plan.kind,
      requestedKind: plan.kind,
      parentId: null,
      parentSha256: null,
      status: 'skipped',
      trigger: 'schedule',
      compression: plan.compression ?? ctx.config.defaultCompression,
      rawFormat: null,
      startedAt: now,
      finishedAt: now,
      durationMs: 0,
      rawSizeBytes: null,
      sizeBytes: null,
      sha256: null,
      rawSha256: null,
      artifactKey: null,
      serverVersion: null,
      clientVersion: null,
      tool: null,
      message: redact(`The run scheduled for ${tickAt.toISOString()} was skipped: ${reason}`),
      pid: process.pid,
      host: hostname(),
      scheduledFor: tickAt.toISOString(),
    },
    trx,
  );
}

/** Runs plans on their cron schedules; see the module header. */
export class Scheduler {
  readonly #ctx: ServiceContext;
  readonly #options: SchedulerOptions;
  readonly #log: (line: string) => void;
  readonly #loop: TickLoop<PlanRecord>;

  constructor(ctx: ServiceContext, options: SchedulerOptions) {
    this.#ctx = ctx;
    this.#options = options;
    this.#log = options.log ?? (() => {});
    this.#loop = new TickLoop({
      label: 'scheduler',
      reloadMs: options.reloadMs,
      log: this.#log,
      list: async () =>
        (await listPlans(ctx.catalog.db)).flatMap((plan) => {
          const schedule = plan.enabled ? scheduleOf(plan, options.defaultTimezone) : null;
          return schedule ? [{ key: plan.id, name: plan.name, schedule, item: plan }] : [];
        }),
      fire: (plan, tick) => this.#fire(plan, tick, false),
      unusable: (name, message) => `scheduler: plan ${name} has an unusable schedule and is not run: ${message}`,
    });
  }

  /** Loads the plans, catches up missed ticks, and starts waiting for the next ones. */
  async start(): Promise<void> {
    await this.reload();
    await this.catchUp(new Date());
    this.#loop.run();
  }

  /** Stops firing ticks (runs already started go on; the JobRunner's shutdown handles them). */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  /** Plans being scheduled, with their next tick (for logs and tests). */
  upcoming(): Array<{ planId: string; plan: string; next: string | null }> {
    return this.#loop.entries().map((e) => ({ planId: e.key, plan: e.name, next: e.next?.toISOString() ?? null }));
  }

  /** Re-reads the plans: new, changed and removed ones take effect now. */
  async reload(now = new Date()): Promise<void> {
    await this.#loop.reload(now);
  }

  /**
   * Applies each plan's missed-run policy at `now`: with `run-once`, the last scheduled time is run once
   * if it passed within the grace window, after the plan was made, and no worker claimed it yet. Returns
   * the ticks dispatched.
   */
  async catchUp(now: Date): Promise<Array<{ plan: string; tickAt: string; outcome: TickOutcome }>> {
    const done: Array<{ plan: string; tickAt: string; outcome: TickOutcome }> = [];
    for (const { item: plan, schedule } of this.#loop.entries()) {
      if ((plan.missedRuns ?? 'run-once') === 'skip') continue;
      const graceMs = (plan.missedGraceSeconds ?? DEFAULT_MISSED_GRACE_SECONDS) * 1000;
      const windowStart = new Date(Math.max(now.getTime() - graceMs, Date.parse(plan.createdAt)) - 1);
      const last = lastRunBefore(schedule, now, windowStart);
      if (!last) continue;
      const claimed = await lastClaimedTick(this.#ctx.catalog.db, plan.id);
      if (claimed && claimed.getTime() >= last.getTime()) continue;
      const outcome = await this.#fire(plan, last, true);
      done.push({ plan: plan.name, tickAt: last.toISOString(), outcome });
    }
    return done;
  }

  async #fire(plan: PlanRecord, tickAt: Date, missed: boolean): Promise<TickOutcome> {
    try {
      const outcome = await this.#options.dispatcher.dispatch(plan, tickAt, missed);
      if (outcome !== 'taken') this.#log(`scheduler: plan ${plan.name} tick ${tickAt.toISOString()}${missed ? ' (missed, caught up)' : ''}: ${outcome}`);
      return outcome;
    } catch (err) {
      this.#log(`scheduler: plan ${plan.name} tick ${tickAt.toISOString()} could not be dispatched: ${redact(asCoffreError(err).message)}`);
      return 'skipped';
    }
  }
}

/**
 * The embedded-mode dispatcher: claims the tick in the catalog, then runs it on the local JobRunner, or
 * journals it `skipped` when the plan still has a run going (in this server, or a CLI backup elsewhere).
 */
export function localDispatcher(ctx: ServiceContext, runner: JobRunner): Dispatcher {
  const db = ctx.catalog.db;
  const pending = new Map<string, string>(); // job id -> tick
  runner.subscribe((event) => {
    const tick = pending.get(event.job.id);
    if (tick && event.job.journalId) {
      pending.delete(event.job.id);
      void markScheduled(ctx, event.job.journalId, tick).catch(() => {});
    }
  });
  return {
    async dispatch(plan, tickAt) {
      if (!(await claimTick(db, plan.id, tickAt, 'started'))) return 'taken';
      const skip = async (reason: string) => {
        await journalSkipped(ctx, plan, tickAt, reason);
        await setTickOutcome(db, plan.id, tickAt, 'skipped');
        return 'skipped' as const;
      };
      const active = runner.activeForPlan(plan.id);
      if (active) return skip(`the previous run is still going (job ${active.id}${active.journalId ? `, journal ${active.journalId}` : ''}).`);
      const row = await runningRowOf(db, plan.id);
      if (row) return skip(`the previous run is still going (journal ${row.id}, pid ${row.pid} on ${row.host}).`);
      try {
        const job = await runner.submitBackup({ plan: plan.id, trigger: 'schedule' });
        if (job.journalId) await markScheduled(ctx, job.journalId, tickAt.toISOString());
        else pending.set(job.id, tickAt.toISOString());
        return 'started';
      } catch (err) {
        if (isCoffreError(err) && err.kind === 'conflict') return skip(`${err.message}`);
        return skip(`it could not start: ${asCoffreError(err).message}`);
      }
    },
  };
}
