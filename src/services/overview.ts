// What the dashboard's overview and plan pages show: each plan's health, computed from its journal, and
// its history as chart points. Health is one of
//   failing  the latest finished run failed, was interrupted or only partly landed;
//   stale    the latest success is older than the plan's RPO;
//   never    no run has succeeded yet (and none has failed);
//   ok       otherwise.
// The RPO is the plan's own `rpo` (seconds) when plans carry one, else, for a scheduled plan, twice the
// interval between its next two runs (one missed run is allowed, two are not); an unscheduled plan with no
// RPO is never stale.

import type { ServiceContext } from './service-context.ts';
import { getPlan, listPlans, type PlanView } from './plans.ts';
import { lastSuccess, recentRuns, type RunPoint } from '../catalog/plan-history.ts';

export type Health = 'ok' | 'failing' | 'stale' | 'never';

export interface PlanTile {
  plan: PlanView;
  health: Health;
  /** Why the health is what it is, in a sentence. */
  reason: string;
  /** The RPO used (seconds), or null when none applies. */
  rpoSeconds: number | null;
  running: boolean;
  lastRun: RunPoint | null;
  lastSuccess: RunPoint | null;
  /** Seconds since the last success finished. */
  lastSuccessAgeSeconds: number | null;
  nextRun: string | null;
  /** The latest runs, oldest first, for a sparkline. */
  recent: RunPoint[];
}

export interface Overview {
  generatedAt: string;
  totals: { plans: number; ok: number; failing: number; stale: number; never: number; running: number; lastStoredBytes: number };
  /** Red first: failing, stale, never, ok; then by name. */
  plans: PlanTile[];
}

const SPARK_POINTS = 20;
const order: Record<Health, number> = { failing: 0, stale: 1, never: 2, ok: 3 };
const finished = (r: RunPoint) => r.status !== 'running';

function rpoOf(plan: PlanView): number | null {
  const own = plan.alerting?.rpoSeconds; // the plan's --rpo (services/notifiers.ts)
  if (typeof own === 'number' && own > 0) return own;
  if (plan.nextRuns.length >= 2) return (2 * (Date.parse(plan.nextRuns[1]) - Date.parse(plan.nextRuns[0]))) / 1000;
  return null;
}

function age(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

async function tile(ctx: ServiceContext, plan: PlanView, now: number): Promise<PlanTile> {
  const runs = await recentRuns(ctx.catalog.db, plan.id, SPARK_POINTS);
  const success = runs.find((r) => r.status === 'success' || r.status === 'partial') ?? (await lastSuccess(ctx.catalog.db, plan.id)) ?? null;
  const lastFinished = runs.find(finished) ?? null;
  const rpo = rpoOf(plan);
  const successAt = success ? Date.parse(success.finishedAt ?? success.startedAt) : null;
  const ageSeconds = successAt === null ? null : Math.max(0, (now - successAt) / 1000);
  let health: Health;
  let reason: string;
  if (lastFinished && lastFinished.status !== 'success') {
    health = 'failing';
    reason = `The last run (${lastFinished.startedAt}) is ${lastFinished.status}.`;
  } else if (!success) {
    health = 'never';
    reason = 'No backup has succeeded yet.';
  } else if (rpo !== null && ageSeconds !== null && ageSeconds > rpo) {
    health = 'stale';
    reason = `The last success is ${age(ageSeconds)} old, past the RPO of ${age(rpo)}.`;
  } else {
    health = 'ok';
    reason = rpo !== null && ageSeconds !== null ? `The last success is ${age(ageSeconds)} old (RPO ${age(rpo)}).` : 'The last run succeeded.';
  }
  return {
    plan,
    health,
    reason,
    rpoSeconds: rpo,
    running: runs.some((r) => r.status === 'running'),
    lastRun: runs[0] ?? null,
    lastSuccess: success,
    lastSuccessAgeSeconds: ageSeconds === null ? null : Math.round(ageSeconds),
    nextRun: plan.enabled ? (plan.nextRuns[0] ?? null) : null,
    recent: runs.slice().reverse(),
  };
}

/** Every plan's tile, red first, with totals. */
export async function planOverview(ctx: ServiceContext): Promise<Overview> {
  const now = Date.now();
  const plans = await listPlans(ctx);
  const tiles: PlanTile[] = [];
  for (const plan of plans) tiles.push(await tile(ctx, plan, now));
  tiles.sort((a, b) => order[a.health] - order[b.health] || a.plan.name.localeCompare(b.plan.name));
  const count = (h: Health) => tiles.filter((t) => t.health === h).length;
  return {
    generatedAt: new Date(now).toISOString(),
    totals: {
      plans: tiles.length,
      ok: count('ok'),
      failing: count('failing'),
      stale: count('stale'),
      never: count('never'),
      running: tiles.filter((t) => t.running).length,
      lastStoredBytes: tiles.reduce((sum, t) => sum + (t.lastSuccess?.sizeBytes ?? 0), 0),
    },
    plans: tiles,
  };
}

/** A plan's runs as chart points, oldest first (at most `limit`, the latest ones; `from` an ISO lower bound). */
export async function planHistory(ctx: ServiceContext, ref: string, q: { limit: number; from?: string }): Promise<{ plan: string; planId: string; points: RunPoint[] }> {
  const plan = await getPlan(ctx, ref);
  const points = await recentRuns(ctx.catalog.db, plan.id, q.limit, q.from);
  return { plan: plan.name, planId: plan.id, points: points.reverse() };
}
