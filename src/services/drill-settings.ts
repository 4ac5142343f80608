// A plan's restore drill settings (`coffre plan add|edit --drill-cron/--rto/--drill-target/--drill-assert`,
// the API's `drill` object): checked in full before anything is written, like the alerting settings, and
// shown in the plan's view. The drills themselves are services/drills.ts.

import { isoNow } from '../core/ids.ts';
import { usageError } from '../core/errors.ts';
import type { EngineName } from '../core/types.ts';
import { checkCron, nextRuns } from '../core/cron.ts';
import { getPlanDrill, setPlanDrill, type PlanDrillRecord } from '../catalog/drills.ts';
import { getTarget } from '../catalog/targets.ts';
import type { ServiceContext } from './service-context.ts';
import { findTargetRecord } from './targets.ts';
import { parseDuration } from './notifiers.ts';
import { engines } from '../engines/index.ts';

/** How long one assertion may run when the plan says nothing. */
export const DEFAULT_ASSERT_TIMEOUT_SECONDS = 60;
/** Most assertions per plan. */
export const MAX_ASSERTIONS = 50;

export interface PlanDrillInput {
  /** A cron expression for drills run by `coffre serve`; null removes it. */
  cron?: unknown;
  /** The RTO objective ("30m", seconds); null removes it. */
  rto?: unknown;
  /** The target (name or id) whose server drills restore on; null: the plan's own target's server. */
  target?: unknown;
  /** The assertions (SQL queries, or MongoDB JSON); replaces the list; [] or null removes them. */
  assertions?: unknown;
  /** One assertion's timeout ("30s", seconds); null: 60 s. */
  assertTimeout?: unknown;
}

export interface PlanDrillView {
  cron: string | null;
  rtoSeconds: number | null;
  target: string | null;
  assertions: string[];
  assertTimeoutSeconds: number;
  /** The next scheduled drills (ISO, up to 3). */
  nextDrills: string[];
}

/** Checks one assertion for the engine that will run it; throws a usage error saying what is wrong. */
export async function checkAssertion(engine: EngineName, text: unknown): Promise<string> {
  if (typeof text !== 'string' || !text.trim())
    throw usageError('BAD_DRILL_ASSERTION', 'A drill assertion is a non-empty SQL query (MongoDB: a JSON object).', { field: 'drillAssert' });
  await engines.get(engine).drill.checkAssertion(text);
  return text.trim();
}

export function hasDrillInput(i: PlanDrillInput): boolean {
  return Object.values(i).some((v) => v !== undefined);
}

/** Checks a plan's drill input against the plan's engine, without writing; the returned function writes it. */
export async function checkPlanDrill(ctx: ServiceContext, engine: EngineName, input: PlanDrillInput, timezone: string | null): Promise<(planId: string) => Promise<void>> {
  if (!hasDrillInput(input)) return async () => {};
  const cron = input.cron === undefined ? undefined : input.cron === null || input.cron === '' ? null : checkCron(input.cron, timezone || ctx.config.scheduler.timezone);
  const rto = input.rto === undefined ? undefined : input.rto === null ? null : parseDuration(input.rto, 'rto');
  const timeout = input.assertTimeout === undefined ? undefined : input.assertTimeout === null ? null : parseDuration(input.assertTimeout, 'drill-assert-timeout');
  let targetId: string | null | undefined;
  if (input.target !== undefined) {
    if (input.target === null || input.target === '') targetId = null;
    else {
      if (typeof input.target !== 'string') throw usageError('BAD_DRILL_TARGET', 'The drill target must be the name or id of a target.', { field: 'drillTarget' });
      const t = await findTargetRecord(ctx, input.target);
      if (t.engine !== engine)
        throw usageError('BAD_DRILL_TARGET', `The drill target "${t.name}" is a ${t.engine} server; the plan backs up ${engine}: choose a ${engine} target.`, {
          field: 'drillTarget',
        });
      targetId = t.id;
    }
  }
  let assertions: string[] | undefined;
  if (input.assertions !== undefined) {
    const list = input.assertions === null ? [] : Array.isArray(input.assertions) ? input.assertions : [input.assertions];
    if (list.length > MAX_ASSERTIONS) throw usageError('BAD_DRILL_ASSERTION', `A plan has at most ${MAX_ASSERTIONS} drill assertions.`, { field: 'drillAssert' });
    assertions = [];
    for (const a of list) assertions.push(await checkAssertion(engine, a));
  }
  return async (planId: string) => {
    const db = ctx.catalog.db;
    const cur: PlanDrillRecord = (await getPlanDrill(db, planId)) ?? { planId, cron: null, rtoSeconds: null, targetId: null, assertions: [], assertTimeoutSeconds: null };
    await setPlanDrill(
      db,
      {
        planId,
        cron: cron === undefined ? cur.cron : cron,
        rtoSeconds: rto === undefined ? cur.rtoSeconds : rto,
        targetId: targetId === undefined ? cur.targetId : targetId,
        assertions: assertions ?? cur.assertions,
        assertTimeoutSeconds: timeout === undefined ? cur.assertTimeoutSeconds : timeout,
      },
      isoNow(),
    );
  };
}

/** A plan's drill settings as shown. */
export async function planDrillView(ctx: ServiceContext, plan: { id: string; timezone: string | null; enabled: boolean }): Promise<PlanDrillView> {
  const s = await getPlanDrill(ctx.catalog.db, plan.id);
  const target = s?.targetId ? ((await getTarget(ctx.catalog.db, s.targetId))?.name ?? '(removed)') : null;
  let next: string[] = [];
  if (s?.cron && plan.enabled) {
    try {
      next = nextRuns({ cron: s.cron, timezone: plan.timezone || ctx.config.scheduler.timezone }, new Date(), 3).map((d) => d.toISOString());
    } catch {
      next = [];
    }
  }
  return {
    cron: s?.cron ?? null,
    rtoSeconds: s?.rtoSeconds ?? null,
    target,
    assertions: s?.assertions ?? [],
    assertTimeoutSeconds: s?.assertTimeoutSeconds ?? DEFAULT_ASSERT_TIMEOUT_SECONDS,
    nextDrills: next,
  };
}
