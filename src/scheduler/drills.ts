// Scheduled restore drills inside `coffre serve`: plans with a drill cron (`--drill-cron`) are drilled by
// themselves. Like backups' ticks, a drill tick is claimed in `schedule_ticks` (key `drill:<plan id>`, the
// tick's time) before it runs: only the first claim runs it, so in a cluster (several servers on one
// PostgreSQL catalog) each tick is drilled once, by whichever worker claimed it. A tick whose plan already
// has a drill running in this process is journaled nowhere and logged (drills leave no gap to fill). Missed
// ticks are not caught up: the next tick drills. On shutdown, running drills are aborted (`interrupted`, their
// scratch databases dropped).

import { asCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { listPlanDrills } from '../catalog/drills.ts';
import { listPlans } from '../catalog/plans.ts';
import { claimTick, setTickOutcome } from '../catalog/ticks.ts';
import type { ServiceContext } from '../services/context.ts';
import { runDrill } from '../services/drills.ts';
import { TickLoop } from './tick-loop.ts';

export interface DrillSchedulerOptions {
  defaultTimezone: string;
  reloadMs: number;
  log?: (line: string) => void;
}

/** What a drill tick needs of its plan. */
interface DrillPlan {
  planId: string;
  plan: string;
}

/** The tick key of a plan's drills in schedule_ticks (beside its backups' ticks, keyed by the plan id). */
export function drillTickKey(planId: string): string {
  return `drill:${planId}`;
}

export class DrillScheduler {
  readonly #ctx: ServiceContext;
  readonly #log: (line: string) => void;
  readonly #loop: TickLoop<DrillPlan>;
  #running = new Map<string, { controller: AbortController; done: Promise<void> }>();

  constructor(ctx: ServiceContext, options: DrillSchedulerOptions) {
    this.#ctx = ctx;
    this.#log = options.log ?? (() => {});
    this.#loop = new TickLoop({
      label: 'drills',
      reloadMs: options.reloadMs,
      log: this.#log,
      list: async () => {
        const db = ctx.catalog.db;
        const plans = new Map((await listPlans(db)).map((p) => [p.id, p]));
        return (await listPlanDrills(db)).flatMap((s) => {
          const plan = plans.get(s.planId);
          if (!s.cron || !plan?.enabled) return [];
          const item = { planId: s.planId, plan: plan.name };
          return [{ key: s.planId, name: plan.name, schedule: { cron: s.cron, timezone: plan.timezone || options.defaultTimezone }, item }];
        });
      },
      fire: (e, tick) => this.#fire(e, tick),
      unusable: (name, message) => `drills: plan ${name} has an unusable drill schedule: ${message}`,
    });
  }

  async start(): Promise<void> {
    await this.reload();
    this.#loop.run();
  }

  /** Stops firing ticks and aborts running drills (their rows end `interrupted`, scratch databases dropped). */
  async stop(): Promise<void> {
    await this.#loop.stop();
    for (const r of this.#running.values()) r.controller.abort('the server is stopping');
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  upcoming(): Array<{ planId: string; plan: string; next: string | null }> {
    return this.#loop.entries().map((e) => ({ planId: e.key, plan: e.name, next: e.next?.toISOString() ?? null }));
  }

  async reload(now = new Date()): Promise<void> {
    await this.#loop.reload(now);
  }

  async #fire(e: DrillPlan, tick: Date): Promise<void> {
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
