// Prune: applies a plan's retention policy (src/core/retention-policy.ts decides) to its stored backups. Each
// backup that goes loses its artifact and manifest on every destination holding a copy first; only then is its journal row marked
// `pruned` with the time and the reason, so the journal never claims a deletion that did not happen, and
// a restore of that row is refused with a message saying it was pruned. A dry run lists what would go and
// why, and touches nothing. Run on demand (CLI, API) and after each successful backup of a plan.
//
// Rows imported by `coffre reindex` and not adopted count for no plan (issue 9, finding 5): a forged
// manifest must not take a real backup's place under "keep last N". They are neither kept nor removed, so
// nothing a person has not looked at is deleted silently either; the report names the ones attached to the
// plan (by id) as `held`, until `coffre journal adopt` takes them in (or a person deletes them).

import { pendingImportsOfPlan, restorableBackupsOfPlan } from '../catalog/journal.ts';
import { pruneBackup } from '../catalog/runs.ts';
import { asCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { ServiceContext } from './service-context.ts';
import { findPlanRecord } from './plans.ts';
import { removeCopies } from './copies.ts';
import { checkRetention, computeRetention, describePolicy, type RetentionDecision, type RetentionPolicy } from '../core/retention-policy.ts';

export interface PrunedItem extends RetentionDecision {
  artifact: string | null;
  /** Set when the deletion failed (the row then stays `success`). */
  error?: { code: string; message: string };
}

/** What a prune did (or, dry, would do). */
export interface PruneReport {
  plan: string;
  planId: string;
  dryRun: boolean;
  policy: RetentionPolicy | null;
  /** The policy in words. */
  rules: string;
  kept: RetentionDecision[];
  removed: PrunedItem[];
  /** How many removals failed (their rows stay `success`). */
  failed: number;
  /** Imported rows attached to this plan and not adopted: outside the policy, neither kept nor removed. */
  held: RetentionDecision[];
}

export interface PruneOptions {
  dryRun?: boolean;
  /** Defaults to the current time (tests pass a controlled one). */
  now?: Date;
}

const running = new Map<string, Promise<PruneReport>>();

/** Applies (or, with dryRun, only computes) the retention policy of a plan. */
export async function prunePlan(ctx: ServiceContext, ref: string, options: PruneOptions = {}): Promise<PruneReport> {
  const plan = await findPlanRecord(ctx, ref);
  if (options.dryRun) return pruneOnce(ctx, plan.id, options);
  // Two prunes of one plan in this process never interleave (a backup's and a user's).
  const before = running.get(plan.id) ?? Promise.resolve();
  const next = before.catch(() => {}).then(() => pruneOnce(ctx, plan.id, options));
  running.set(plan.id, next);
  try {
    return await next;
  } finally {
    if (running.get(plan.id) === next) running.delete(plan.id);
  }
}

async function pruneOnce(ctx: ServiceContext, planId: string, options: PruneOptions): Promise<PruneReport> {
  const plan = await findPlanRecord(ctx, planId);
  const policy = checkRetention(plan.retention);
  const rows = await restorableBackupsOfPlan(ctx.catalog.db, plan.id);
  const byId = new Map(rows.map((r) => [r.id, r]));
  // A server target's rows are one series per database (and one for its globals): each is kept or pruned
  // by the policy on its own, as if it were its own plan.
  const series = new Map<string, typeof rows>();
  for (const r of rows) {
    const key = r.runId ? `${r.runPart ?? 'database'}\u0000${r.database}` : '';
    series.set(key, [...(series.get(key) ?? []), r]);
  }
  const decision: { keep: RetentionDecision[]; remove: RetentionDecision[] } = { keep: [], remove: [] };
  for (const list of series.values()) {
    const d = computeRetention(
      // A partial backup is restorable: retention counts it like a success (and prunes its copies).
      list.map((r) => ({ id: r.id, status: 'success', kind: r.kind, parentId: r.parentId, startedAt: r.startedAt })),
      policy,
      { now: options.now ?? new Date(), timezone: plan.timezone || ctx.config.scheduler.timezone },
    );
    decision.keep.push(...d.keep);
    decision.remove.push(...d.remove);
  }
  const report: PruneReport = {
    plan: plan.name,
    planId: plan.id,
    dryRun: options.dryRun === true,
    policy,
    rules: describePolicy(policy),
    kept: decision.keep,
    removed: decision.remove.map((d) => ({ ...d, artifact: byId.get(d.id)?.artifactKey ?? null })),
    failed: 0,
    held: (await pendingImportsOfPlan(ctx.catalog.db, plan.id)).map((r) => ({
      id: r.id,
      startedAt: r.startedAt,
      kind: r.kind,
      reasons: ['imported by reindex and not adopted: it counts for no plan until a person adopts it into one'],
    })),
  };
  if (report.dryRun) return report;

  for (const item of report.removed) {
    const row = byId.get(item.id)!;
    try {
      if (row.artifactKey) {
        // Every copy goes (each destination of the run); a failure on any leaves the row as it was.
        await removeCopies(ctx, row);
      }
      const reason = `Pruned by retention (${report.rules}): ${item.reasons.join('; ')}.`;
      await pruneBackup(ctx, row.id, reason);
    } catch (err) {
      const e = asCoffreError(err, 'PRUNE_FAILED');
      item.error = { code: e.code, message: redact(e.message) };
      report.failed++;
    }
  }
  return report;
}

/**
 * Applies a plan's retention after one of its backups succeeded; a plan without a policy is left alone.
 * Never throws: a failed prune is reported to `log`, and the next backup or `coffre prune` tries again.
 */
export async function pruneAfterBackup(ctx: ServiceContext, planId: string, log: (line: string) => void = () => {}): Promise<PruneReport | undefined> {
  try {
    const plan = await findPlanRecord(ctx, planId);
    if (!checkRetention(plan.retention)) return undefined;
    const report = await prunePlan(ctx, planId);
    if (report.removed.length)
      log(
        `retention of plan ${report.plan} (${report.rules}): ${report.removed.length - report.failed} backup(s) pruned${report.failed ? `, ${report.failed} could not be removed` : ''}`,
      );
    return report;
  } catch (err) {
    log(`retention of plan ${planId} failed: ${redact(asCoffreError(err).message)}`);
    return undefined;
  }
}
