// Restore runs: from a journal id (the artifact's sha256 is checked in full before the target is touched;
// read from any destination holding a copy, local first, the next one serving when a copy is missing or
// corrupt) or from a file or pg_dump folder given by path. The dump's format is sniffed from its bytes and must fit
// the target's engine. Every run is journaled `running` first, then `success` or `failed`.

import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import path from 'node:path';
import { stat } from 'node:fs/promises';
import { newId, isoNow } from '../core/ids.ts';
import { asCoffreError, failure, usageError, type CoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { BackupKind, Engine, EngineName, ProgressListener } from '../core/types.ts';
import { withDatabase, type Connection } from '../core/connection.ts';
import { engines } from '../engines/index.ts';
import { checkStoredArtifact, openStoredArtifact, streamRestore, type RestoreInput } from '../pipeline/restore.ts';
import { finishRestore, startRestore, type RestoreFinish } from '../catalog/runs.ts';
import {
  getBackup,
  getRestore,
  isPendingImport,
  listRestores,
  restorableStatuses,
  type RestoreRecord,
  type RunStatus,
  type RunTrigger,
  type BackupRecord,
} from '../catalog/journal.ts';
import { getTarget as targetById, type TargetRecord } from '../catalog/targets.ts';
import type { ServiceContext } from './service-context.ts';
import type { RunOutcome } from './backup-view.ts';
import { connectionOf, findTargetRecord } from './targets.ts';
import { copyLocations } from './copies.ts';
import { checkNotOwn } from './reach.ts';
import { openChainForRestore } from './chains.ts';
import { checkKeyringOpens, keyringOf, recordedRecipients, type IdentitySources } from './keys.ts';
import type { AgeIdentity } from '../crypto/age-keys.ts';
import { authenticateAgeFile } from '../pipeline/decrypt.ts';

/** Whether a path is a regular file (a pg_dump folder, a missing path: no; openInputPath then says why). */
async function isRegularFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() === true;
}

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
  /** Several files restored in order as one run (plain SQL); `-` is `stdin`. Instead of `file`. */
  files?: string[];
  /** What `-` in `files` reads (the CLI's standard input). */
  stdin?: Readable;
  /** SQL dumps: the one database of a dump holding several to restore. */
  database?: string;
  /** SQL dumps: let COPY ... FROM/TO PROGRAM in the file run. */
  allowProgram?: boolean;
  /** Target name, id or prefix; default: the backup's plan target. Required with `file`. */
  to?: string;
  replace?: boolean;
  /** Identity files and variables for an encrypted backup or file (those kept in the catalog are tried too). */
  identities?: IdentitySources;
  trigger?: RunTrigger;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  onStarted?: (run: RestoreView) => void;
}

/**
 * Refuses to pick the target of a restore by itself for a row imported by `coffre reindex` and not adopted:
 * its target came from a manifest anyone who could write to the destination may have written. A person names
 * the target (--to, targetId), or adopts the row into a plan first.
 */
export function checkImplicitTarget(backup: Pick<BackupRecord, 'id' | 'trigger' | 'adoptedAt' | 'targetName'>): void {
  if (!isPendingImport(backup)) return;
  throw usageError(
    'IMPORTED_NEEDS_TARGET',
    `Backup ${backup.id} was imported by reindex and is not adopted: the target its manifest names ("${backup.targetName}") is not trusted. Name the target: {hint}, or adopt the backup into its plan first (\`coffre journal adopt ${backup.id} [--plan PLAN]\`, POST /api/journals/${backup.id}/adopt).`,
    { field: 'targetId' },
    { target: 'TARGET' },
  );
}

/** What a restore request designates, once checked. */
export interface CheckedRestore {
  backup?: BackupRecord;
  target: TargetRecord;
  /** The identities to open an encrypted backup with (those given, then the catalog's). */
  keyring: AgeIdentity[];
}

/**
 * The checks of a restore request before anything runs, one path for the CLI (runRestore) and the API (the
 * job runner, which calls it before it queues a job): the backup is restorable, the target is named or
 * implied (never for an imported row not adopted) and of the backup's engine, a file is not coffre's own,
 * and an encrypted backup has an identity that opens it. Throws coded usage errors with hints.
 */
export async function checkRestore(
  ctx: ServiceContext,
  request: { backup?: string; files: readonly string[]; to?: string; identities?: IdentitySources },
): Promise<CheckedRestore> {
  const db = ctx.catalog.db;
  let backup: BackupRecord | undefined;
  let target: TargetRecord;
  if (request.backup) {
    backup = await getBackup(db, request.backup);
    if (!restorableStatuses.includes(backup.status) || !backup.artifactKey || !backup.sha256) {
      throw usageError('BACKUP_NOT_RESTORABLE', `Backup ${backup.id} is ${backup.status}: only successful backups can be restored.`);
    }
    if (request.to) target = await findTargetRecord(ctx, request.to);
    else {
      checkImplicitTarget(backup);
      const planTarget = backup.targetId ? await targetById(db, backup.targetId) : undefined;
      if (!planTarget)
        throw usageError(
          'MISSING_TARGET',
          `The target of backup ${backup.id} ("${backup.targetName}") was removed: choose one with {hint}.`,
          { field: 'targetId' },
          { target: 'TARGET' },
        );
      target = planTarget;
    }
    if (target.engine !== backup.engine) {
      throw usageError(
        'FORMAT_MISMATCH',
        `Backup ${backup.id} is a ${backup.engine} dump, which the ${target.engine} target "${target.name}" cannot restore: choose a ${backup.engine} target with {hint}.`,
        { field: 'targetId' },
        { target: 'TARGET' },
      );
    }
  } else {
    if (!request.to) throw usageError('MISSING_TARGET', 'Restoring from a file needs a target: add {hint}.', { field: 'targetId' }, { target: 'TARGET' });
    for (const f of request.files) if (f !== '-') checkNotOwn(ctx.config, f, 'restore-source');
    target = await findTargetRecord(ctx, request.to);
  }
  // An encrypted backup no identity opens is refused here, naming its recipients, before anything runs.
  const keyring = await keyringOf(ctx, request.identities);
  if (backup) checkKeyringOpens(`Backup ${backup.id}`, recordedRecipients(backup), keyring);
  return { backup, target, keyring };
}

/**
 * Restores a backup or a file into a target. Bad input throws before anything is journaled; once the run
 * is journaled its outcome comes back with the finished row (and the error, whose kind tells a refusal
 * such as a non-empty target from a failure).
 */
export async function runRestore(ctx: ServiceContext, options: RunRestoreOptions): Promise<RunOutcome<RestoreView>> {
  const files = sourceFiles(options);
  const { backup, target, keyring } = await checkRestore(ctx, { backup: options.backup, files, to: options.to, identities: options.identities });
  const { engine, conn } = restoreInto(ctx, target, backup, options.database);
  const inputs: RestoreInput[] = files.map((f) => (f === '-' ? { stream: options.stdin!, name: 'standard input' } : { path: path.resolve(f) }));
  const run = await startRun(ctx, options, {
    backup,
    target,
    database: conn.database,
    sourcePath: files.length ? inputs.map((i) => ('path' in i ? i.path : '-')).join(' + ') : null,
  });
  const started = Date.parse(run.startedAt);

  let source: Readable | string | undefined;
  try {
    const request = {
      engine,
      conn,
      replace: run.replace,
      signal: options.signal,
      onProgress: options.onProgress,
      sql: { database: options.database, allowProgram: options.allowProgram === true },
      identities: keyring,
    };
    let result: Awaited<ReturnType<typeof streamRestore>>;
    if (backup) {
      // A differential or incremental: every link checked, then the chain rebuilt (services/chains.ts).
      source = backup.parentId ? await openChainForRestore(ctx, backup, options.signal, keyring) : await openVerifiedCopy(ctx, backup, options.signal);
      result = await streamRestore({ ...request, source, recipients: recordedRecipients(backup), what: `The artifact of backup ${backup.id}` });
    } else {
      // An age file is authenticated in full before the target is touched (pipeline/decrypt.ts).
      for (const i of inputs) if ('path' in i && (await isRegularFile(i.path))) await authenticateAgeFile(i.path, keyring, options.signal);
      result = await streamRestore({ ...request, inputs });
    }
    const finished = new Date();
    const patch: RestoreFinish = {
      status: 'success',
      finishedAt: isoNow(finished),
      durationMs: finished.getTime() - started,
      sizeBytes: backup?.sizeBytes ?? (await inputSize(inputs)),
      rawSizeBytes: result.rawSizeBytes || null,
      database: result.database,
      message: restoredMessage(result),
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
      durationMs: finished.getTime() - started,
      message: redact(error.message),
    };
    await finishRestore(ctx, run.id, patch);
    return { view: describe({ ...run, ...patch }, backup), error };
  }
}

/** The files a restore reads (`-`: standard input), checked against a journal id given as well. */
function sourceFiles(options: RunRestoreOptions): string[] {
  const files = options.files ?? (options.file !== undefined ? [options.file] : []);
  if (!options.backup === (files.length === 0)) throw usageError('RESTORE_SOURCE', 'Give either a journal id or --file PATH to restore from (not both).');
  if (files.filter((f) => f === '-').length > 1) throw usageError('RESTORE_SOURCE', '--file - (standard input) can be given only once.');
  if (files.includes('-') && !options.stdin) throw usageError('RESTORE_SOURCE', '--file - reads standard input, which only the command line has: give a path.');
  return files;
}

/**
 * The engine and connection a restore writes with: the target's own; for a server target, its database of
 * the backup's name (a server run's row) or the one `database` names; for a server run's PostgreSQL globals,
 * the globals engine on the server.
 */
function restoreInto(ctx: ServiceContext, target: TargetRecord, backup: BackupRecord | undefined, database: string | undefined): { engine: Engine; conn: Connection } {
  const engine = engines.get(target.engine);
  const conn = connectionOf(ctx, target);
  if (backup?.runPart === 'globals') {
    // A server run's PostgreSQL globals restore into a server target: roles, not a database.
    if (!target.server || target.engine !== 'postgres')
      throw usageError(
        'GLOBALS_NEED_SERVER',
        `Backup ${backup.id} holds a PostgreSQL server's roles and tablespaces: restore it with {hint} naming a PostgreSQL server target (a URL without a database).`,
        { field: 'targetId' },
        { target: 'TARGET' },
      );
    return { engine: globalsEngine(engine), conn: withDatabase(conn, conn.database || 'postgres') };
  }
  if (!target.server) return { engine, conn };
  // Into a server target: the database of the same name (a server run's row), or the one --database names.
  const into = backup ? backup.database : database;
  if (!into)
    throw usageError(
      'SERVER_TARGET_NEEDS_DATABASE',
      `"${target.name}" is a server target: restore a file into one of its databases with {hint}.`,
      { field: 'database' },
      { database: 'NAME' },
    );
  return { engine, conn: withDatabase(conn, into) };
}

/** The restore's row, journaled `running` before the target is touched. */
async function startRun(
  ctx: ServiceContext,
  options: RunRestoreOptions,
  what: { backup: BackupRecord | undefined; target: TargetRecord; database: string; sourcePath: string | null },
): Promise<RestoreRecord> {
  const started = new Date();
  const run: RestoreRecord = {
    id: newId(started.getTime()),
    backupId: what.backup?.id ?? null,
    sourcePath: what.sourcePath,
    targetId: what.target.id,
    targetName: what.target.name,
    engine: what.target.engine,
    database: what.database,
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
  await startRestore(ctx, run, what.backup?.planId ?? null);
  options.onStarted?.(describe(run, what.backup));
  return run;
}

/** "Restored sql (age + zstd) with psql 17.2 into shop." and what the restore noted. */
function restoredMessage(result: Awaited<ReturnType<typeof streamRestore>>): string {
  const layers = [...(result.encrypted ? ['age'] : []), ...result.layers];
  const notes = result.notes?.length ? ` The restore ${result.notes.join('; ')}.` : '';
  return `Restored ${result.rawFormat}${layers.length ? ` (${layers.join(' + ')})` : ''} with ${result.tool} ${result.clientVersion} into ${redact(result.database)}.${notes}`;
}

/** The PostgreSQL engine whose restore() takes a globals script (engines/postgres-globals.ts). */
function globalsEngine(pg: Engine): Engine {
  return {
    ...pg,
    restoresServer: true,
    async restore(conn, input, _format, options) {
      if (typeof input === 'string') throw usageError('FORMAT_MISMATCH', 'The globals are a SQL script, not a folder.');
      const { restoreGlobals, describeGlobals } = await import('../engines/postgres-globals.ts');
      const outcome = await restoreGlobals(conn, input, options.signal);
      return { database: "the server's roles", tool: 'psql-globals', clientVersion: 'node-pg', serverVersion: '', notes: [describeGlobals(outcome)] };
    },
  };
}

/** Bytes of the files given (as stored, before decompression); null for a folder or standard input. */
async function inputSize(inputs: RestoreInput[]): Promise<number | null> {
  let total = 0;
  for (const input of inputs) {
    if (!('path' in input)) return null;
    const info = await stat(input.path).catch(() => undefined);
    if (!info?.isFile()) return null;
    total += info.size;
  }
  return total;
}

/**
 * Opens the artifact of a full backup from the first copy whose stored bytes hash to the journal's sha256,
 * local destinations first; each copy that is missing, unreadable or corrupt is skipped for the next. Fails
 * naming every destination tried when none is intact.
 */
export async function openVerifiedCopy(ctx: ServiceContext, backup: BackupRecord, signal?: AbortSignal): Promise<Readable> {
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
