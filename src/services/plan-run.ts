// A plan's backup, as every caller starts it (the CLI, the server's jobs, the scheduler): a run on one
// database (services/backup-run.ts) or on a whole server (services/server-run.ts, which runs the former once
// per database), then, on request, the plan's retention.

import { getBackup } from '../catalog/journal.ts';
import { getTarget } from '../catalog/targets.ts';
import { findPlanRecord } from './plans.ts';
import { runDatabaseBackup, type RunBackupOptions } from './backup-run.ts';
import { runServerBackup } from './server-run.ts';
import { pruneAfterBackup } from './retention.ts';
import type { ServiceContext } from './service-context.ts';
import type { BackupView, RunOutcome } from './backup-view.ts';

/**
 * Runs one backup of a plan. Bad input (unknown plan, bad compression) throws before anything is journaled;
 * once the run is journaled, its outcome, success or not, comes back as the finished journal row (for a
 * server target: the run's group and its rows).
 */
export async function runBackup(ctx: ServiceContext, options: RunBackupOptions): Promise<RunOutcome<BackupView>> {
  const plan = await findPlanRecord(ctx, options.plan);
  const target = await getTarget(ctx.catalog.db, plan.targetId);
  if (target?.server) return runServerBackup(ctx, options, plan, target);
  return runDatabaseBackup(ctx, options);
}

/**
 * A backup, then the plan's retention when it succeeded (a plan without a policy is left alone; a failed
 * prune is only reported to `log`): what `coffre backup` and the server's jobs run.
 */
export async function runBackupThenPrune(ctx: ServiceContext, options: RunBackupOptions, log: (line: string) => void): Promise<RunOutcome<BackupView>> {
  const outcome = await runBackup(ctx, options);
  // A server run's view is its group (no journal row of that id): its plan is the one asked for.
  const planId = outcome.view.databases
    ? outcome.view.status === 'failed'
      ? null
      : (await findPlanRecord(ctx, options.plan)).id
    : outcome.view.status === 'success'
      ? (await getBackup(ctx.catalog.db, outcome.view.id)).planId
      : null;
  if (planId) await pruneAfterBackup(ctx, planId, log);
  return outcome;
}
