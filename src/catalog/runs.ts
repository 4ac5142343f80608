// The run repository: the only code that changes a run's status, for backups, restores and restore drills.
// Each change is one guarded statement: a run is finished, failed or interrupted only while it is still
// `running`, pruned only while restorable, so of two processes racing for one row (a worker that finishes
// late, the cluster's sweeper, the recovery of a dead pid) exactly one wins and the other learns it lost.
// Right after its statement changed the row, each change publishes its event on the process's run bus
// (ctx.events, src/core/run-events.ts): `started`, `copy`, `finished`. A change whose guard failed publishes
// nothing, which is what lets a once-per-run subscriber in a cluster act on its own process's events alone.

import type { Kysely } from 'kysely';
import type { BackupCopiesTable, BackupsTable, CatalogSchema, DrillsTable, RestoresTable, ServerRunsTable } from './schema.ts';
import { serverRunToRow, type ServerRunRecord, type ServerRunStatus } from './server-runs.ts';
import type { DrillRecord } from './drills.ts';
import type { Catalog } from './db.ts';
import { recordToRow, restorableStatuses, type BackupCopyRecord, type BackupRecord, type CopyStatus, type RestoreRecord } from './journal.ts';
import { isoNow } from '../core/ids.ts';
import type { FinishedStatus, RunEvent, RunEvents, RunFinishedEvent, RunStartedEvent, RunType } from '../core/run-events.ts';

/** What the run repository needs: the catalog and the bus (a ServiceContext is one). */
export interface RunsContext {
  readonly catalog: Pick<Catalog, 'db'>;
  readonly events: RunEvents;
}

type Db = Kysely<CatalogSchema>;

function publish(ctx: RunsContext, event: RunEvent): void {
  ctx.events.publish(event);
}

/** The columns a guarded finish returns, which every `finished` event carries. */
interface FinishedRow {
  target_id: string | null;
  host: string | null;
  pid: number | null;
  message: string | null;
  duration_ms: number | null;
}

/** Publishes `finished` for a row its guarded statement just finished; `more` adds what that run type reports. */
function publishFinished(
  ctx: RunsContext,
  run: { runType: RunType; runId: string; planId: string | null; at: string; status: FinishedStatus },
  row: FinishedRow,
  more: Pick<RunFinishedEvent, 'kind' | 'sizeBytes' | 'rawSizeBytes' | 'serverRunId'> = {},
): void {
  publish(ctx, { type: 'finished', ...run, targetId: row.target_id, host: row.host, pid: row.pid, message: row.message, ...more, durationMs: row.duration_ms });
}

/** Publishes `started` for a run its insert just journaled. */
function publishStarted(
  ctx: RunsContext,
  runType: RunType,
  run: { id: string; planId: string | null; targetId: string | null; startedAt: string; host: string | null; pid: number | null; trigger: string },
  more: Pick<RunStartedEvent, 'kind' | 'serverRunId'> = {},
): void {
  publish(ctx, {
    type: 'started',
    runType,
    runId: run.id,
    planId: run.planId,
    targetId: run.targetId,
    at: run.startedAt,
    host: run.host,
    pid: run.pid,
    trigger: run.trigger,
    ...more,
  });
}

/** The finish of a run whose process is gone: `interrupted` now, its duration from its start. */
function interruption(run: { startedAt: string }, message: string) {
  const finishedAt = isoNow();
  return { status: 'interrupted' as const, finishedAt, durationMs: Date.parse(finishedAt) - Date.parse(run.startedAt), message };
}

// ---------------------------------------------------------------------------------------------- backups

/** Journals a backup run `running` with one `running` copy row per destination, and publishes `started`. */
export async function startBackup(ctx: RunsContext, run: BackupRecord, copies: readonly BackupCopyRecord[]): Promise<void> {
  const db = ctx.catalog.db;
  await db
    .insertInto('backups')
    .values(recordToRow(run) as unknown as BackupsTable)
    .execute();
  for (const copy of copies)
    await db
      .insertInto('backup_copies')
      .values(recordToRow(copy) as unknown as BackupCopiesTable)
      .execute();
  publishStarted(ctx, 'backup', run, { kind: run.kind, serverRunId: run.runId ?? null });
}

/** A delta run whose parent could not be rebuilt becomes a full: its row and copies take the full's key. */
export async function fallBackToFull(ctx: RunsContext, id: string, change: { artifactKey: string; message: string | null }): Promise<void> {
  const db = ctx.catalog.db;
  await db
    .updateTable('backups')
    .set({ kind: 'full', parent_id: null, parent_sha256: null, artifact_key: change.artifactKey, message: change.message })
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
  await db.updateTable('backup_copies').set({ key: change.artifactKey }).where('backup_id', '=', id).execute();
}

/** The outcome of one upload of a running (or just failed) run; publishes `copy`. */
export async function recordCopy(
  ctx: RunsContext,
  run: Pick<BackupRecord, 'id' | 'planId' | 'targetId' | 'host' | 'pid'>,
  copy: { id: string; destinationId: string },
  state: { status: CopyStatus; sizeBytes: number | null; checksum: string | null; message: string | null },
): Promise<void> {
  await ctx.catalog.db
    .updateTable('backup_copies')
    .set({ status: state.status, size_bytes: state.sizeBytes, checksum: state.checksum, message: state.message })
    .where('id', '=', copy.id)
    .execute();
  publish(ctx, {
    type: 'copy',
    runType: 'backup',
    runId: run.id,
    planId: run.planId,
    targetId: run.targetId,
    at: isoNow(),
    host: run.host,
    pid: run.pid,
    destinationId: copy.destinationId,
    status: state.status,
    message: state.message,
  });
}

/** The fields a backup's row is finished with. */
export type BackupFinish = Partial<BackupRecord> & { status: 'success' | 'partial' | 'failed' | 'interrupted'; finishedAt: string };

/**
 * Finishes a backup's row only if it is still `running` and publishes `finished`; false (and no event) when
 * another process finished it meanwhile (the cluster's sweeper or a worker that took the run over), whose
 * word then stands.
 */
export async function finishBackup(ctx: RunsContext, id: string, patch: BackupFinish): Promise<boolean> {
  const row = await ctx.catalog.db
    .updateTable('backups')
    .set(recordToRow(patch) as Partial<BackupsTable>)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .returning(['plan_id', 'target_id', 'kind', 'host', 'pid', 'size_bytes', 'raw_size_bytes', 'duration_ms', 'message', 'run_id'])
    .executeTakeFirst();
  if (!row) return false;
  publishFinished(ctx, { runType: 'backup', runId: id, planId: row.plan_id, at: patch.finishedAt, status: patch.status }, row, {
    kind: row.kind,
    sizeBytes: row.size_bytes,
    rawSizeBytes: row.raw_size_bytes,
    serverRunId: row.run_id ?? null,
  });
  return true;
}

/**
 * Interrupts a backup whose process is gone: a dead pid on this host (services/recovery.ts), or a cluster
 * worker that missed its lease, whose run another worker takes over (scheduler/cluster.ts). Its copies still
 * `running` are failed with `copyMessage`; the row is finished `interrupted` only if still running.
 */
export async function interruptBackup(ctx: RunsContext, run: Pick<BackupRecord, 'id' | 'startedAt'>, message: string, copyMessage: string): Promise<boolean> {
  await ctx.catalog.db.updateTable('backup_copies').set({ status: 'failed', message: copyMessage }).where('backup_id', '=', run.id).where('status', '=', 'running').execute();
  return finishBackup(ctx, run.id, interruption(run, message));
}

/**
 * A cluster worker takes a journaled run for its pg-boss job: the job id, the tick, a first heartbeat. `id`
 * is a backup's row, or a server run's group (whose lease covers its databases' rows).
 */
export async function takeOverBackup(ctx: RunsContext, id: string, claim: { jobId: string; scheduledFor: string }): Promise<void> {
  const at = isoNow();
  const db = ctx.catalog.db;
  await db.updateTable('backups').set({ job_id: claim.jobId, scheduled_for: claim.scheduledFor, heartbeat_at: at }).where('id', '=', id).execute();
  await db.updateTable('server_runs').set({ job_id: claim.jobId, heartbeat_at: at }).where('id', '=', id).execute();
}

/** A cluster run's heartbeat (a backup's row or a server run's group), while it is running. */
export async function heartbeatBackup(ctx: RunsContext, id: string): Promise<void> {
  const at = isoNow();
  const db = ctx.catalog.db;
  await db.updateTable('backups').set({ heartbeat_at: at }).where('id', '=', id).where('status', '=', 'running').execute();
  await db.updateTable('server_runs').set({ heartbeat_at: at }).where('id', '=', id).where('status', '=', 'running').execute();
}

/** Names the cron tick a run was started for. */
export async function markScheduled(ctx: RunsContext, id: string, tickAt: string): Promise<void> {
  await ctx.catalog.db.updateTable('backups').set({ scheduled_for: tickAt }).where('id', '=', id).execute();
}

/**
 * Journals a scheduled tick that did not run (a `skipped` row, status and message given) and publishes
 * `finished` with status `skipped`. Inside a transaction (`trx`), the event is published by the returned
 * function, which the caller calls once the transaction committed (an event for a row rolled back is a lie).
 */
export async function skipBackup(ctx: RunsContext, run: BackupRecord & { scheduledFor: string }, trx?: Db): Promise<() => void> {
  await (trx ?? ctx.catalog.db)
    .insertInto('backups')
    .values(recordToRow({ ...run, status: 'skipped' }) as unknown as BackupsTable)
    .execute();
  const announce = () =>
    publish(ctx, {
      type: 'finished',
      runType: 'backup',
      runId: run.id,
      planId: run.planId,
      targetId: run.targetId,
      at: run.finishedAt ?? run.startedAt,
      host: run.host,
      pid: run.pid,
      status: 'skipped',
      message: run.message,
      kind: run.kind,
    });
  if (!trx) announce();
  return trx ? announce : () => {};
}

/**
 * Marks a restorable backup `pruned` (its copies too), only if it is still restorable; publishes a `copy`
 * event (`pruned`) per copy. False when it was not restorable any more.
 */
export async function pruneBackup(ctx: RunsContext, id: string, reason: string): Promise<boolean> {
  const db = ctx.catalog.db;
  const row = await db
    .updateTable('backups')
    .set({ status: 'pruned', pruned_at: isoNow(), prune_reason: reason })
    .where('id', '=', id)
    .where('status', 'in', [...restorableStatuses])
    .returning(['plan_id', 'target_id', 'host', 'pid'])
    .executeTakeFirst();
  if (!row) return false;
  const copies = await db
    .updateTable('backup_copies')
    .set({ status: 'pruned' })
    .where('backup_id', '=', id)
    .where('status', '=', 'success')
    .returning(['destination_id'])
    .execute();
  const at = isoNow();
  for (const c of copies)
    publish(ctx, {
      type: 'copy',
      runType: 'backup',
      runId: id,
      planId: row.plan_id,
      targetId: row.target_id,
      at,
      host: row.host,
      pid: row.pid,
      destinationId: c.destination_id,
      status: 'pruned',
      message: reason,
    });
  return true;
}

/** Journals a finished backup rebuilt from a manifest (`coffre reindex`, a benchmark's rows), with its copy. No run happens: no event. */
export async function importBackup(ctx: RunsContext, run: BackupRecord, copy?: BackupCopyRecord): Promise<void> {
  await ctx.catalog.db
    .insertInto('backups')
    .values(recordToRow(run) as unknown as BackupsTable)
    .execute();
  if (copy) await linkCopy(ctx, copy);
}

/** Journals one more landed copy of a known backup (`coffre reindex` found it in another destination). */
export async function linkCopy(ctx: RunsContext, copy: BackupCopyRecord): Promise<void> {
  await ctx.catalog.db
    .insertInto('backup_copies')
    .values(recordToRow(copy) as unknown as BackupCopiesTable)
    .execute();
}

/**
 * Adopts a row imported by `coffre reindex` into a plan (a person vouched for it): it now counts for that
 * plan. Guarded: only an imported row not yet adopted changes; false when another adoption won.
 */
export async function adoptImported(
  ctx: RunsContext,
  id: string,
  into: { planId: string; planName: string; targetId: string; targetName: string; adoptedAt: string; adoptedBy: string },
): Promise<boolean> {
  const r = await ctx.catalog.db
    .updateTable('backups')
    .set({ plan_id: into.planId, plan_name: into.planName, target_id: into.targetId, target_name: into.targetName, adopted_at: into.adoptedAt, adopted_by: into.adoptedBy })
    .where('id', '=', id)
    .where('trigger', '=', 'reindex')
    .where('adopted_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Records the latest `coffre verify` of a backup (its status as a run does not change). */
export async function recordVerification(ctx: RunsContext, id: string, v: { verifiedAt: string; verifyStatus: 'success' | 'failed'; verifyMessage: string }): Promise<void> {
  await ctx.catalog.db.updateTable('backups').set({ verified_at: v.verifiedAt, verify_status: v.verifyStatus, verify_message: v.verifyMessage }).where('id', '=', id).execute();
}

// --------------------------------------------------------------------------------------------- restores

/** Journals a restore run `running` and publishes `started` (planId: the restored backup's plan, if any). */
export async function startRestore(ctx: RunsContext, run: RestoreRecord, planId: string | null): Promise<void> {
  await ctx.catalog.db
    .insertInto('restores')
    .values(recordToRow(run) as unknown as RestoresTable)
    .execute();
  publishStarted(ctx, 'restore', { ...run, planId });
}

/** The fields a restore's row is finished with. */
export type RestoreFinish = Partial<RestoreRecord> & { status: 'success' | 'failed' | 'interrupted'; finishedAt: string };

/** Finishes a restore's row only while it is `running` and publishes `finished`; false (no event) otherwise. */
export async function finishRestore(ctx: RunsContext, id: string, patch: RestoreFinish): Promise<boolean> {
  const db = ctx.catalog.db;
  const row = await db
    .updateTable('restores')
    .set(recordToRow(patch) as Partial<RestoresTable>)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .returning(['backup_id', 'target_id', 'host', 'pid', 'size_bytes', 'raw_size_bytes', 'duration_ms', 'message'])
    .executeTakeFirst();
  if (!row) return false;
  const planId = row.backup_id ? ((await db.selectFrom('backups').select('plan_id').where('id', '=', row.backup_id).executeTakeFirst())?.plan_id ?? null) : null;
  publishFinished(ctx, { runType: 'restore', runId: id, planId, at: patch.finishedAt, status: patch.status as FinishedStatus }, row, {
    sizeBytes: row.size_bytes,
    rawSizeBytes: row.raw_size_bytes,
  });
  return true;
}

/** Interrupts a restore whose process is gone (services/recovery.ts), only while it is running. */
export async function interruptRestore(ctx: RunsContext, run: Pick<RestoreRecord, 'id' | 'startedAt'>, message: string): Promise<boolean> {
  return finishRestore(ctx, run.id, interruption(run, message));
}

// ----------------------------------------------------------------------------------------------- drills

/** Journals a restore drill `running` and publishes `started`. */
export async function startDrill(ctx: RunsContext, run: DrillRecord): Promise<void> {
  await ctx.catalog.db
    .insertInto('drills')
    .values(recordToRow(run) as unknown as DrillsTable)
    .execute();
  publishStarted(ctx, 'drill', run);
}

/**
 * Records what became of a running drill's scratch database: `created` once coffre owns its name (set just
 * before the restore creates it, so that a crash after that leaves the recovery sweep a row to drop it by),
 * `dropped` once it is gone. Not a status change: no event.
 */
export async function markDrillScratch(ctx: RunsContext, id: string, state: 'created' | 'dropped'): Promise<void> {
  await ctx.catalog.db
    .updateTable('drills')
    .set(state === 'created' ? { scratch_created: 1 } : { scratch_dropped: 1 })
    .where('id', '=', id)
    .execute();
}

/** The fields a drill's row is finished with. */
export type DrillFinish = Partial<Omit<DrillRecord, 'scratchCreated' | 'scratchDropped'>> & { status: 'success' | 'failed' | 'interrupted'; finishedAt: string };

/** Finishes a drill's row only while it is `running` and publishes `finished`; false (no event) otherwise. */
export async function finishDrill(ctx: RunsContext, id: string, patch: DrillFinish): Promise<boolean> {
  return finishRun(ctx, 'drills', 'drill', id, recordToRow(patch), patch);
}

/** The guarded finish of a drill's or a server run's row, and its `finished` event: false (no event) when it was no longer running. */
async function finishRun(
  ctx: RunsContext,
  table: 'drills' | 'server_runs',
  runType: RunType,
  id: string,
  set: Record<string, unknown>,
  patch: { status: FinishedStatus; finishedAt: string },
): Promise<boolean> {
  // Both tables have these columns; the builder is typed by the drills' (the same names and types).
  const row = await ctx.catalog.db
    .updateTable(table as 'drills')
    .set(set as Partial<DrillsTable>)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .returning(['plan_id', 'target_id', 'host', 'pid', 'duration_ms', 'message'])
    .executeTakeFirst();
  if (!row) return false;
  publishFinished(ctx, { runType, runId: id, planId: row.plan_id, at: patch.finishedAt, status: patch.status }, row);
  return true;
}

/** Interrupts a drill whose process is gone (services/recovery.ts), only while it is running. */
export async function interruptDrill(ctx: RunsContext, run: Pick<DrillRecord, 'id' | 'startedAt'>, message: string): Promise<boolean> {
  return finishDrill(ctx, run.id, interruption(run, message));
}

// ------------------------------------------------------------------------------------------ server runs

/** Journals a server run (the group of a server target's per-database rows) `running`. */
export async function startServerRun(ctx: RunsContext, run: ServerRunRecord): Promise<void> {
  await ctx.catalog.db
    .insertInto('server_runs')
    .values(serverRunToRow(run) as ServerRunsTable)
    .execute();
  publishStarted(ctx, 'server', run, { kind: run.requestedKind });
}

/** Records what a running server run covers, as soon as its databases are listed. */
export async function describeServerRun(ctx: RunsContext, id: string, patch: Pick<ServerRunRecord, 'databases' | 'newDatabases' | 'vanished'>): Promise<void> {
  await ctx.catalog.db.updateTable('server_runs').set(serverRunToRow(patch)).where('id', '=', id).where('status', '=', 'running').execute();
}

/**
 * Finishes a server run only while it is `running` and publishes `finished` (runType `server`); false (and
 * no event) when another process did. Its databases' rows published their own events, each naming the run.
 */
export async function finishServerRun(
  ctx: RunsContext,
  id: string,
  patch: Partial<ServerRunRecord> & { status: Exclude<ServerRunStatus, 'running'>; finishedAt: string },
): Promise<boolean> {
  return finishRun(ctx, 'server_runs', 'server', id, serverRunToRow(patch), patch);
}

/** Finishes a server run whose process died as `interrupted` (after its databases' rows); false when it was no longer running. */
export async function interruptServerRun(ctx: RunsContext, run: Pick<ServerRunRecord, 'id' | 'startedAt'>, message: string): Promise<boolean> {
  return finishServerRun(ctx, run.id, interruption(run, message));
}
