// Scheduled restore drills inside `coffre serve`: plans with a drill cron (`--drill-cron`) are drilled by
// themselves. Like backups' ticks, a drill tick is claimed in `schedule_ticks` (key `drill:<plan id>`, the
// tick's time) before it runs: only the first claim runs it, so in a cluster (several servers on one
// PostgreSQL catalog) each tick is drilled once, by whichever worker claimed it. A tick whose plan already
// has a drill running in this process is journaled nowhere and logged (drills leave no gap to fill). Missed
// ticks are not caught up: the next tick drills. On shutdown, running drills are aborted (`interrupted`, their
// scratch databases dropped).

import { asCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { nextRun, type Schedule } from '../core/cron.ts';
import { listPlanDrills } from '../catalog/drills.ts';
import { listPlans } from '../catalog/plans.ts';
import { claimTick, setTickOutcome } from '../catalog/ticks.ts';
import type { ServiceContext } from '../services/context.ts';
import { runDrill } from '../services/drills.ts';
import { onPlanChange } from '../services/plans.ts';

export interface DrillSchedulerOptions {
  defaultTimezone: string;
  reloadMs: number;
  log?: (line: string) => void;
}

interface Entry {
  planId: string;
  plan: string;
  schedule: Schedule;
  next: Date | null;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

/** The tick key of a plan's drills in schedule_ticks (beside its backups' ticks, keyed by the plan id). */
export function drillTickKey(planId: string): string {
  return `drill:${planId}`;
}

export class DrillScheduler {
  readonly #ctx: ServiceContext;
  readonly #options: DrillSchedulerOptions;
  readonly #log: (line: string) => void;
  #entries = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #nextReloadAt = 0;
  #stopped = true;
  #running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #unlisten: (() => void) | undefined;

  constructor(ctx: ServiceContext, options: DrillSchedulerOptions) {
    this.#ctx = ctx;
    this.#options = options;
    this.#log = options.log ?? (() => {});
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.reload();
    this.#unlisten = onPlanChange(() => {
      this.#nextReloadAt = 0;
      this.#arm(0);
    });
    this.#arm();
  }

  /** Stops firing ticks and aborts running drills (their rows end `interrupted`, scratch databases dropped). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten?.();
    clearTimeout(this.#timer);
    for (const r of this.#running.values()) r.controller.abort('the server is stopping');
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  upcoming(): Array<{ planId: string; plan: string; next: string | null }> {
    return [...this.#entries.values()].map((e) => ({ planId: e.planId, plan: e.plan, next: e.next?.toISOString() ?? null }));
  }

  async reload(now = new Date()): Promise<void> {
    const db = this.#ctx.catalog.db;
    const plans = new Map((await listPlans(db)).map((p) => [p.id, p]));
    const next = new Map<string, Entry>();
    for (const s of await listPlanDrills(db)) {
      const plan = plans.get(s.planId);
      if (!s.cron || !plan?.enabled) continue;
      const schedule = { cron: s.cron, timezone: plan.timezone || this.#options.defaultTimezone };
      const old = this.#entries.get(s.planId);
      if (old && old.schedule.cron === schedule.cron && old.schedule.timezone === schedule.timezone) {
        next.set(s.planId, { ...old, plan: plan.name });
        continue;
      }
      try {
        next.set(s.planId, { planId: s.planId, plan: plan.name, schedule, next: nextRun(schedule, now) });
        if (!old) this.#log(`drills: plan ${plan.name} "${schedule.cron}" (${schedule.timezone})`);
      } catch (err) {
        this.#log(`drills: plan ${plan.name} has an unusable drill schedule: ${asCoffreError(err).message}`);
      }
    }
    this.#entries = next;
    this.#nextReloadAt = now.getTime() + this.#options.reloadMs;
  }

  #arm(delayOverride?: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    let wake = this.#nextReloadAt;
    for (const e of this.#entries.values()) if (e.next && e.next.getTime() < wake) wake = e.next.getTime();
    const delay = delayOverride ?? Math.min(Math.max(wake - Date.now(), 0), MAX_TIMEOUT);
    this.#timer = setTimeout(() => void this.#wake().finally(() => this.#arm()), delay);
  }

  async #wake(): Promise<void> {
    if (this.#stopped) return;
    const now = new Date();
    if (now.getTime() >= this.#nextReloadAt) {
      try {
        await this.reload(now);
      } catch (err) {
        this.#log(`drills: could not re-read the plans: ${redact(asCoffreError(err).message)}`);
        this.#nextReloadAt = now.getTime() + this.#options.reloadMs;
      }
    }
    for (const e of this.#entries.values()) {
      if (!e.next || e.next.getTime() > Date.now()) continue;
      const tick = e.next;
      e.next = nextRun(e.schedule, new Date());
      await this.#fire(e, tick);
    }
  }

  async #fire(e: Entry, tick: Date): Promise<void> {
    const db = this.#ctx.catalog.db;
    try {
      if (!(await claimTick(db, drillTickKey(e.planId), tick, 'started'))) return; // another worker drills this tick
      if (this.#running.has(e.planId)) {
        this.#log(`drills: plan ${e.plan} tick ${tick.toISOString()} skipped: its previous drill is still running.`);
        await setTickOutcome(db, drillTickKey(e.planId), tick, 'skipped');
        return;
      }
    } catch (err) {
      this.#log(`drills: plan ${e.plan} tick ${tick.toISOString()} could not be claimed: ${redact(asCoffreError(err).message)}`);
      return;
    }
    const controller = new AbortController();
    const done = (async () => {
      try {
        const outcome = await runDrill(this.#ctx, { plan: e.planId, trigger: 'schedule', scheduledFor: tick.toISOString(), signal: controller.signal });
        this.#log(`drills: plan ${e.plan} tick ${tick.toISOString()}: drill ${outcome.view.id} ${outcome.view.status}`);
      } catch (err) {
        this.#log(`drills: plan ${e.plan} tick ${tick.toISOString()} did not run: ${redact(asCoffreError(err).message)}`);
      } finally {
        this.#running.delete(e.planId);
        await setTickOutcome(db, drillTickKey(e.planId), tick, 'done').catch(() => {});
      }
    })();
    this.#running.set(e.planId, { controller, done });
  }
}
