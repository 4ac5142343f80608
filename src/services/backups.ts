// Backup runs: resolve the plan, journal the run as `running` before any byte moves, stream the one
// pipeline into the destination, check what the storage reports, write the manifest last, record the copy,
// and finish the journal row. Any failure removes the artifact and manifest and journals `failed` (or
// `interrupted` when the caller aborted) with a redacted message. Also: the journal listing and verify.

import { hostname } from 'node:os';
import { newId, isoNow, fileStamp } from '../core/ids.ts';
import { asCoffreError, failure, type CoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { BackupKind, CompressionName, Manifest, ProgressListener, RawFormat, EngineName } from '../core/types.ts';
import { engines } from '../engines/index.ts';
import { codecs } from '../codecs/index.ts';
import { streamBackup } from '../pipeline/backup.ts';
import { coffreVersion, manifestKey, writeManifest } from '../pipeline/manifest.ts';
import { verifyArtifact } from '../pipeline/verify.ts';
import { getBackup, insertBackup, insertCopy, listBackups, updateBackup, type BackupRecord, type BackupStatus, type RunTrigger } from '../catalog/journal.ts';
import { findPlan } from '../catalog/plans.ts';
import { notFound, usageError } from '../core/errors.ts';
import type { ServiceContext } from './context.ts';
import { checkCompression, checkKind, findPlanRecord } from './plans.ts';
import { connectionOf } from './targets.ts';
import { storageById, storageOf } from './destinations.ts';
import { getTarget as targetById } from '../catalog/targets.ts';
import { getDestination as destinationById } from '../catalog/destinations.ts';
import { chooseParent, DELTA_EXTENSION, prepareDelta, verifyChain, type DeltaSetup } from './chains.ts';

/** A backup run as shown to users (CLI --json, API): the field names of issue 2, item 9. */
export interface BackupView {
  id: string;
  status: BackupStatus;
  kind: BackupKind;
  requestedKind: BackupKind;
  plan: string;
  target: string;
  engine: EngineName;
  database: string;
  compression: CompressionName;
  rawFormat: RawFormat | null;
  sizeBytes: number | null;
  rawSizeBytes: number | null;
  sha256: string | null;
  rawSha256: string | null;
  artifact: string | null;
  parentId: string | null;
  trigger: RunTrigger;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  tool: string | null;
  clientVersion: string | null;
  serverVersion: string | null;
  message: string | null;
}

/** The public view of a journal row. */
export function describeBackup(r: BackupRecord): BackupView {
  return {
    id: r.id,
    status: r.status,
    kind: r.kind as BackupKind,
    requestedKind: r.requestedKind as BackupKind,
    plan: r.planName,
    target: r.targetName,
    engine: r.engine as EngineName,
    database: r.database,
    compression: r.compression as CompressionName,
    rawFormat: r.rawFormat as RawFormat | null,
    sizeBytes: r.sizeBytes,
    rawSizeBytes: r.rawSizeBytes,
    sha256: r.sha256,
    rawSha256: r.rawSha256,
    artifact: r.artifactKey,
    parentId: r.parentId,
    trigger: r.trigger,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    tool: r.tool,
    clientVersion: r.clientVersion,
    serverVersion: r.serverVersion,
    message: r.message,
  };
}

export interface RunBackupOptions {
  /** Plan name, id or id prefix. */
  plan: string;
  /** Overrides the plan's compression for this run. */
  compression?: string;
  /** Overrides the plan's kind for this run. */
  kind?: string;
  trigger?: RunTrigger;
  /** Aborting it stops the run; the row becomes `interrupted`. */
  signal?: AbortSignal;
  /** Raw dump bytes so far. */
  onProgress?: ProgressListener;
  /** Called once the journal row exists (the API answers 202 with its id). */
  onStarted?: (run: BackupView) => void;
}

export interface RunOutcome<V> {
  view: V;
  /** Set when the run did not succeed. */
  error?: CoffreError;
}

/**
 * Runs one backup of a plan. Bad input (unknown plan, bad compression) throws before anything is journaled;
 * once the run is journaled, its outcome, success or not, comes back as the finished journal row.
 */
export async function runBackup(ctx: ServiceContext, options: RunBackupOptions): Promise<RunOutcome<BackupView>> {
  const db = ctx.catalog.db;
  const plan = await findPlanRecord(ctx, options.plan);
  const compression = checkCompression(options.compression ?? plan.compression ?? ctx.config.defaultCompression);
  const requestedKind = checkKind(options.kind ?? plan.kind);
  const target = await targetById(db, plan.targetId);
  const destination = await destinationById(db, plan.destinationId);
  if (!target || !destination) throw failure('PLAN_BROKEN', `Plan "${plan.name}" refers to a removed target or destination: remove the plan and add it again.`);
  const engine = engines.get(target.engine);
  const codec = codecs.get(compression);

  // A differential or incremental run is a delta against a parent chosen from the journal; with none
  // usable it is a full, and its message says why (services/chains.ts).
  const choice = await chooseParent(ctx, plan, requestedKind, engine.name);
  let kind: BackupKind = choice.kind;
  let kindNote = choice.note;

  const started = new Date();
  const id = newId(started.getTime());
  const keyFor = (k: BackupKind) => `${plan.name}/${fileStamp(started)}-${k}-${id}.${engine.extension}${k === 'full' ? '' : DELTA_EXTENSION}${codec.extension}`;
  let key = keyFor(kind);
  const run: BackupRecord = {
    id,
    planId: plan.id,
    planName: plan.name,
    targetId: target.id,
    targetName: target.name,
    engine: target.engine,
    database: '',
    kind,
    requestedKind,
    parentId: choice.links?.at(-1)?.id ?? null,
    parentSha256: choice.links?.at(-1)?.sha256 ?? null,
    status: 'running',
    trigger: options.trigger ?? 'cli',
    compression,
    rawFormat: null,
    startedAt: isoNow(started),
    finishedAt: null,
    durationMs: null,
    rawSizeBytes: null,
    sizeBytes: null,
    sha256: null,
    rawSha256: null,
    destinationId: destination.id,
    artifactKey: key,
    serverVersion: null,
    clientVersion: null,
    tool: null,
    message: kindNote,
    pid: process.pid,
    host: hostname(),
  };
  // The database name is only known once the URL is opened, which may fail: journal first, then open.
  let conn;
  try {
    conn = connectionOf(ctx, target);
    run.database = conn.database;
  } catch {
    run.database = '?';
  }
  await insertBackup(db, run);
  options.onStarted?.(describeBackup(run));

  let storage;
  let setup: DeltaSetup | undefined;
  try {
    conn ??= connectionOf(ctx, target);
    storage = await storageOf(ctx, destination);
    setup = await prepareDelta(ctx, choice, { backupId: id, planKind: plan.kind, signal: options.signal });
    if (setup.kind !== kind) {
      // The parent could not be rebuilt: this run is a full after all.
      kind = setup.kind;
      kindNote = setup.note;
      key = keyFor(kind);
      Object.assign(run, { kind, parentId: null, parentSha256: null, artifactKey: key, message: kindNote });
      await updateBackup(db, id, { kind, parentId: null, parentSha256: null, artifactKey: key, message: kindNote });
    }
    const stream = (s: DeltaSetup) =>
      streamBackup({
        engine,
        conn: conn!,
        codec,
        storage: storage!,
        key,
        entryName: `${conn!.engine === 'sqlite' ? 'database' : conn!.database}.${engine.extension}${kind === 'full' ? '' : DELTA_EXTENSION}`.replace(/[/\\]/g, '_'),
        signal: options.signal,
        onProgress: options.onProgress,
        delta: s.delta,
        rawTap: s.tee?.stream,
      });
    let result;
    try {
      result = await stream(setup);
    } catch (err) {
      // A cached parent whose bytes changed is dropped and rebuilt from storage, once.
      const again = options.signal?.aborted ? undefined : await setup.retry(err);
      if (!again) throw err;
      setup = again;
      result = await stream(setup);
    }
    const finished = new Date();
    const manifest: Manifest = {
      format: 'coffre-manifest',
      version: 1,
      id,
      plan: plan.name,
      target: target.name,
      engine: engine.name,
      database: conn.database,
      kind,
      ...(setup.parent ? { parent: { id: setup.parent.id, sha256: setup.parent.sha256, artifact: setup.parent.key } } : {}),
      compression,
      rawFormat: result.rawFormat,
      artifact: key,
      sizeBytes: result.sizeBytes,
      rawSizeBytes: result.rawSizeBytes,
      sha256: result.sha256,
      rawSha256: result.rawSha256,
      tool: result.tool,
      clientVersion: result.clientVersion,
      serverVersion: result.serverVersion,
      startedAt: run.startedAt,
      finishedAt: isoNow(finished),
      coffreVersion: coffreVersion(),
    };
    await writeManifest(storage, manifest, options.signal);
    await insertCopy(db, {
      id: newId(),
      backupId: id,
      destinationId: destination.id,
      key,
      sizeBytes: result.put.size,
      checksum: result.put.checksum ?? (result.put.sha256 ? `sha256:${result.put.sha256}` : null),
      status: 'success',
      message: null,
      createdAt: isoNow(finished),
    });
    const patch: Partial<BackupRecord> = {
      status: 'success',
      rawFormat: result.rawFormat,
      finishedAt: manifest.finishedAt,
      durationMs: finished.getTime() - started.getTime(),
      rawSizeBytes: result.rawSizeBytes,
      sizeBytes: result.sizeBytes,
      sha256: result.sha256,
      rawSha256: result.rawSha256,
      tool: result.tool,
      clientVersion: result.clientVersion,
      serverVersion: result.serverVersion,
    };
    await updateBackup(db, id, patch);
    await setup.finish(result.rawSha256);
    return { view: describeBackup({ ...run, ...patch }) };
  } catch (err) {
    await setup?.finish().catch(() => {});
    const error = asCoffreError(err, 'BACKUP_FAILED');
    if (storage) {
      await storage.delete(key).catch(() => {});
      await storage.delete(manifestKey(key)).catch(() => {});
    }
    const interrupted = options.signal?.aborted === true;
    const finished = new Date();
    const reason = typeof options.signal?.reason === 'string' ? ` (${options.signal.reason})` : '';
    const message = redact(interrupted ? `The backup was interrupted${reason}; its partial files were removed.` : error.message);
    const patch: Partial<BackupRecord> = {
      status: interrupted ? 'interrupted' : 'failed',
      finishedAt: isoNow(finished),
      durationMs: finished.getTime() - started.getTime(),
      message: kindNote ? `${message} ${kindNote}` : message,
    };
    await updateBackup(db, id, patch);
    return { view: describeBackup({ ...run, ...patch }), error: interrupted ? failure('INTERRUPTED', message) : error };
  }
}

export interface JournalQuery {
  /** Plan name, id or id prefix; a removed plan's name still finds its rows. */
  plan?: string;
  status?: BackupStatus;
  from?: string;
  to?: string;
  limit?: number;
  offset?: number;
}

/** Backup journal rows, newest first. */
export async function listJournal(ctx: ServiceContext, q: JournalQuery = {}): Promise<BackupView[]> {
  if (q.limit !== undefined && (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 10000)) {
    throw usageError('BAD_LIMIT', 'The limit must be a whole number between 1 and 10000.', { field: 'limit' });
  }
  let planId: string | undefined;
  let planName: string | undefined;
  if (q.plan) {
    const plan = await findPlan(ctx.catalog.db, q.plan);
    if (plan) planId = plan.id;
    else planName = q.plan;
  }
  const rows = await listBackups(ctx.catalog.db, { planId, planName, status: q.status, from: q.from, to: q.to, limit: q.limit, offset: q.offset });
  if (planName && rows.length === 0 && !q.offset) throw notFound('PLAN_NOT_FOUND', `No plan named "${q.plan}" and no journal rows for it: see \`coffre plan list\`.`);
  return rows.map(describeBackup);
}

/** One journal row by id or unique prefix. */
export async function getJournalEntry(ctx: ServiceContext, ref: string): Promise<BackupView> {
  return describeBackup(await getBackup(ctx.catalog.db, ref));
}

/** The result of verifying a backup: the journal row's fields, with the verification's status and message. */
export type VerifyView = BackupView & { verifiedAt: string };

/** Re-hashes a stored backup and decompresses it end to end against its journal row; no database is touched. */
export async function verifyBackup(ctx: ServiceContext, ref: string, signal?: AbortSignal): Promise<RunOutcome<VerifyView>> {
  const run = await getBackup(ctx.catalog.db, ref);
  const base = describeBackup(run);
  if (run.status !== 'success' || !run.artifactKey || !run.sha256 || !run.rawSha256 || run.sizeBytes === null || run.rawSizeBytes === null) {
    throw usageError('BACKUP_NOT_VERIFIABLE', `Backup ${run.id} is ${run.status}: only successful backups can be verified.`);
  }
  const storage = run.destinationId ? await storageById(ctx, run.destinationId) : undefined;
  if (!storage) throw failure('DESTINATION_GONE', `The destination of backup ${run.id} was removed from the catalog: its artifact ${run.artifactKey} cannot be reached.`);
  const outcome = run.parentId
    ? await verifyChain(ctx, run, signal) // a delta: every link's sha256, then the rebuilt dump's
    : await verifyArtifact(storage, run.artifactKey, { sha256: run.sha256, sizeBytes: run.sizeBytes, rawSha256: run.rawSha256, rawSizeBytes: run.rawSizeBytes }, signal);
  const view: VerifyView = { ...base, status: outcome.status, message: redact(outcome.message), verifiedAt: isoNow() };
  return outcome.status === 'success' ? { view } : { view, error: failure('VERIFY_FAILED', view.message ?? 'Verification failed.') };
}
