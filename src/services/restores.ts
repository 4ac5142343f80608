// Restore runs: from a journal id (the artifact's sha256 is checked in full before the target is touched;
// read from any destination holding a copy, local first, the next one serving when a copy is missing or
// corrupt) or from a file or pg_dump folder given by path. The dump's format is sniffed from its bytes and must fit
// the target's engine. Every run is journaled `running` first, then `success` or `failed`.

import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import path from 'node:path';
import { newId, isoNow } from '../core/ids.ts';
import { asCoffreError, failure, usageError, type CoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { BackupKind, EngineName, ProgressListener } from '../core/types.ts';
import { engines } from '../engines/index.ts';
import { checkStoredArtifact, openInputPath, openStoredArtifact, streamRestore } from '../pipeline/restore.ts';
import { finishRestore, startRestore, type RestoreFinish } from '../catalog/runs.ts';
import { getBackup, getRestore, listRestores, restorableStatuses, type RestoreRecord, type RunStatus, type RunTrigger, type BackupRecord } from '../catalog/journal.ts';
import { getTarget as targetById, type TargetRecord } from '../catalog/targets.ts';
import type { ServiceContext } from './context.ts';
import type { RunOutcome } from './backups.ts';
import { connectionOf, findTargetRecord } from './targets.ts';
import { copyLocations } from './copies.ts';
import { openChainForRestore } from './chains.ts';

/** A restore run as shown to users; `id` is the restore's own journal id. */
export interface RestoreView {
  id: string;
  status: RunStatus;
  backupId: string | null;
  source: string | null;
  plan: string | null;
  kind: BackupKind | null;
  artifact: string | null;
  sha256: string | null;
  target: string;
  engine: EngineName;
  database: string;
  replace: boolean;
  sizeBytes: number | null;
  rawSizeBytes: number | null;
  trigger: RunTrigger;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  message: string | null;
}

function describe(r: RestoreRecord, backup?: BackupRecord): RestoreView {
  return {
    id: r.id,
    status: r.status,
    backupId: r.backupId,
    source: r.sourcePath,
    plan: backup?.planName ?? null,
    kind: (backup?.kind as BackupKind | undefined) ?? null,
    artifact: backup?.artifactKey ?? null,
    sha256: backup?.sha256 ?? null,
    target: r.targetName,
    engine: r.engine as EngineName,
    database: r.database,
    replace: r.replace,
    sizeBytes: r.sizeBytes,
    rawSizeBytes: r.rawSizeBytes,
    trigger: r.trigger,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    message: r.message,
  };
}

export interface RunRestoreOptions {
  /** Journal id (or unique prefix) of the backup to restore; or give `file`. */
  backup?: string;
  /** A dump file (any compression) or a pg_dump -Fd folder. */
  file?: string;
  /** Target name, id or prefix; default: the backup's plan target. Required with `file`. */
  to?: string;
  replace?: boolean;
  trigger?: RunTrigger;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  onStarted?: (run: RestoreView) => void;
}

/**
 * Restores a backup or a file into a target. Bad input throws before anything is journaled; once the run
 * is journaled its outcome comes back with the finished row (and the error, whose kind tells a refusal
 * such as a non-empty target from a failure).
 */
export async function runRestore(ctx: ServiceContext, options: RunRestoreOptions): Promise<RunOutcome<RestoreView>> {
  const db = ctx.catalog.db;
  if (!options.backup === !options.file) throw usageError('RESTORE_SOURCE', 'Give either a journal id or --file PATH to restore from (not both).');
  let backup: BackupRecord | undefined;
  let target: TargetRecord;
  if (options.backup) {
    backup = await getBackup(db, options.backup);
    if (!restorableStatuses.includes(backup.status) || !backup.artifactKey || !backup.sha256) {
      throw usageError('BACKUP_NOT_RESTORABLE', `Backup ${backup.id} is ${backup.status}: only successful backups can be restored.`);
    }
    if (options.to) target = await findTargetRecord(ctx, options.to);
    else {
      const planTarget = backup.targetId ? await targetById(db, backup.targetId) : undefined;
      if (!planTarget) throw usageError('MISSING_TARGET', `The target of backup ${backup.id} ("${backup.targetName}") was removed: choose one with --to TARGET.`);
      target = planTarget;
    }
    if (target.engine !== backup.engine) {
      throw usageError('FORMAT_MISMATCH', `Backup ${backup.id} is a ${backup.engine} dump, which the ${target.engine} target "${target.name}" cannot restore: choose a ${backup.engine} target with --to.`);
    }
  } else {
    if (!options.to) throw usageError('MISSING_TARGET', 'Restoring from --file needs a target: add --to TARGET.');
    target = await findTargetRecord(ctx, options.to);
  }
  const engine = engines.get(target.engine);
  const conn = connectionOf(ctx, target);
  const sourcePath = options.file ? path.resolve(options.file) : null;

  const started = new Date();
  const run: RestoreRecord = {
    id: newId(started.getTime()),
    backupId: backup?.id ?? null,
    sourcePath,
    targetId: target.id,
    targetName: target.name,
    engine: target.engine,
    database: conn.database,
    replace: options.replace === true,
    status: 'running',
    trigger: options.trigger ?? 'cli',
    startedAt: isoNow(started),
    finishedAt: null,
    durationMs: null,
    sizeBytes: null,
    rawSizeBytes: null,
    message: null,
    pid: process.pid,
    host: hostname(),
  };
  await startRestore(ctx, run, backup?.planId ?? null);
  options.onStarted?.(describe(run, backup));

  let source: Readable | string | undefined;
  try {
    let sizeBytes: number | null = null;
    if (backup) {
      if (backup.parentId) {
        // A differential or incremental: every link checked, then the chain rebuilt (services/chains.ts).
        source = await openChainForRestore(ctx, backup, options.signal);
      } else {
        source = await openVerifiedCopy(ctx, backup, options.signal);
      }
      sizeBytes = backup.sizeBytes;
    } else {
      source = await openInputPath(sourcePath!);
    }
    const result = await streamRestore({ engine, conn, source, replace: run.replace, signal: options.signal, onProgress: options.onProgress });
    const finished = new Date();
    const patch: RestoreFinish = {
      status: 'success',
      finishedAt: isoNow(finished),
      durationMs: finished.getTime() - started.getTime(),
      sizeBytes: sizeBytes ?? (typeof source === 'string' ? null : ((source as { bytesRead?: number }).bytesRead ?? null)),
      rawSizeBytes: result.rawSizeBytes || null,
      database: result.database,
      message: `Restored ${result.rawFormat}${result.layers.length ? ` (${result.layers.join(' + ')})` : ''} with ${result.tool} ${result.clientVersion} into ${redact(result.database)}.`,
    };
    await finishRestore(ctx, run.id, patch);
    return { view: describe({ ...run, ...patch }, backup) };
  } catch (err) {
    if (source && typeof source !== 'string') source.destroy();
    const error: CoffreError = options.signal?.aborted ? failure('INTERRUPTED', 'The restore was interrupted before it finished.') : asCoffreError(err, 'RESTORE_FAILED');
    const finished = new Date();
    const patch: RestoreFinish = {
      status: options.signal?.aborted ? 'interrupted' : 'failed',
      finishedAt: isoNow(finished),
      durationMs: finished.getTime() - started.getTime(),
      message: redact(error.message),
    };
    await finishRestore(ctx, run.id, patch);
    return { view: describe({ ...run, ...patch }, backup), error };
  }
}

/**
 * Opens the artifact of a full backup from the first copy whose stored bytes hash to the journal's sha256,
 * local destinations first; each copy that is missing, unreadable or corrupt is skipped for the next. Fails
 * naming every destination tried when none is intact.
 */
async function openVerifiedCopy(ctx: ServiceContext, backup: BackupRecord, signal?: AbortSignal): Promise<Readable> {
  const expected = { sha256: backup.sha256!, size: backup.sizeBytes ?? undefined };
  const tried: string[] = [];
  for (const loc of await copyLocations(ctx, backup)) {
    try {
      await checkStoredArtifact(loc.storage, loc.key, expected, signal);
      return await openStoredArtifact(loc.storage, loc.key, expected);
    } catch (err) {
      if (signal?.aborted) throw err;
      tried.push(`${loc.destination}: ${asCoffreError(err).message}`);
    }
  }
  throw failure(
    'ARTIFACT_UNREACHABLE',
    tried.length ? `No destination holds an intact copy of backup ${backup.id}: ${tried.join('; ')}` : `Backup ${backup.id} has no copy on any destination still in the catalog.`,
    { details: { backupId: backup.id } },
  );
}

/** Restore journal rows, newest first. */
export async function listRestoreJournal(ctx: ServiceContext, q: { limit?: number; offset?: number } = {}): Promise<RestoreView[]> {
  return (await listRestores(ctx.catalog.db, q)).map((r) => describe(r));
}

/** One restore journal row by exact id (the API's GET /api/journals/:id falls back to it). */
export async function getRestoreJournalEntry(ctx: ServiceContext, id: string): Promise<RestoreView | undefined> {
  const r = await getRestore(ctx.catalog.db, id);
  if (!r) return undefined;
  const backup = r.backupId ? await getBackup(ctx.catalog.db, r.backupId).catch(() => undefined) : undefined;
  return describe(r, backup);
}
