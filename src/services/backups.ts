// Backup runs: resolve the plan, journal the run as `running` (and one `running` copy per destination)
// before any byte moves, stream the one pipeline into every destination at once, check what each storage
// reports, write the manifest beside each copy last, record each copy's outcome, and finish the journal row.
//
// The run's status when destinations disagree: `success` only when every copy landed and checked out;
// `partial` when some did (the message says "reached 2 of 3 destinations" and names each failure, the run
// exits 1 / its job fails so that someone looks, yet the good copies are recorded and restorable);
// `failed` when none did. A failed copy leaves nothing on its destination. Any failure of the dump removes
// every artifact and manifest and journals `failed` (or `interrupted` when the caller aborted) with a
// redacted message. Also: the journal listing and verify.

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
import { getBackup, listBackups, restorableStatuses, runningBackupsOfPlan, type BackupRecord, type BackupStatus, type RunTrigger } from '../catalog/journal.ts';
import { fallBackToFull, finishBackup, recordCopy, recordVerification, startBackup, type BackupFinish } from '../catalog/runs.ts';
import { copyLocations, copyViewsOf, locateCopy, type CopyView } from './copies.ts';
import { checkStoredArtifact } from '../pipeline/restore.ts';
import type { FanTarget } from '../pipeline/fan-out.ts';
import type { DestinationRecord } from '../catalog/destinations.ts';
import { findPlan } from '../catalog/plans.ts';
import { conflict, notFound, usageError } from '../core/errors.ts';
import { isAlive, recoverInterruptedRuns } from './recovery.ts';
import type { ServiceContext } from './context.ts';
import { checkCompression, checkKind, findPlanRecord } from './plans.ts';
import { connectionOf } from './targets.ts';
import { storageOf } from './destinations.ts';
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
  /** One entry per destination the artifact was sent to, with that upload's outcome. */
  copies: CopyView[];
  /** The latest `coffre verify` of this backup: when, its outcome and message (null until verified). */
  lastVerifiedAt: string | null;
  lastVerifyStatus: 'success' | 'failed' | null;
  lastVerifyMessage: string | null;
}

/** The public view of a journal row (with its copies when given). */
export function describeBackup(r: BackupRecord, copies: CopyView[] = []): BackupView {
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
    copies,
    lastVerifiedAt: r.verifiedAt ?? null,
    lastVerifyStatus: (r.verifyStatus as 'success' | 'failed' | null | undefined) ?? null,
    lastVerifyMessage: r.verifyMessage ?? null,
  };
}

/** Views of journal rows with their copies. */
async function describeWithCopies(ctx: ServiceContext, rows: BackupRecord[]): Promise<BackupView[]> {
  const copies = await copyViewsOf(ctx, rows.map((r) => r.id));
  return rows.map((r) => describeBackup(r, copies.get(r.id) ?? []));
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
 * Refuses to start a plan whose backup is already running in another process (a `coffre backup`, another
 * server or cluster worker): a conflict naming that run. A row left `running` by a dead process of this
 * host does not count: it is finished as `interrupted` there and then.
 */
export async function ensurePlanIdle(ctx: ServiceContext, plan: { id: string; name: string }): Promise<void> {
  const rows = await runningBackupsOfPlan(ctx.catalog.db, plan.id);
  const busy = rows.find((r) => r.host !== hostname() || isAlive(r.pid));
  if (busy) {
    throw conflict('PLAN_RUNNING', `Plan "${plan.name}" already has a backup running: journal ${busy.id} (pid ${busy.pid ?? '?'} on ${busy.host ?? '?'}). Wait for it to finish (coffre journal --plan ${plan.name}).`, { journalId: busy.id });
  }
  if (rows.length) await recoverInterruptedRuns(ctx);
}

/**
 * Runs one backup of a plan. Bad input (unknown plan, bad compression) throws before anything is journaled;
 * once the run is journaled, its outcome, success or not, comes back as the finished journal row.
 */
export async function runBackup(ctx: ServiceContext, options: RunBackupOptions): Promise<RunOutcome<BackupView>> {
  const db = ctx.catalog.db;
  const plan = await findPlanRecord(ctx, options.plan);
  await ensurePlanIdle(ctx, plan);
  const compression = checkCompression(options.compression ?? plan.compression ?? ctx.config.defaultCompression);
  const requestedKind = checkKind(options.kind ?? plan.kind);
  const target = await targetById(db, plan.targetId);
  const destinations = (await Promise.all(plan.destinationIds.map((d) => destinationById(db, d)))).filter((d): d is DestinationRecord => d !== undefined);
  const destination = destinations[0];
  if (!target || !destination || destinations.length !== plan.destinationIds.length) throw failure('PLAN_BROKEN', `Plan "${plan.name}" refers to a removed target or destination: remove the plan and add it again.`);
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
  // One copy row per destination, `running` until its upload settles: a crash leaves them naming every
  // place a partial object might be, for the recovery to clean.
  const copyIds = destinations.map(() => newId());
  await startBackup(
    ctx,
    run,
    destinations.map((d, i) => ({ id: copyIds[i], backupId: id, destinationId: d.id, key, sizeBytes: null, checksum: null, status: 'running', message: null, createdAt: run.startedAt })),
  );
  const copyViews = (): CopyView[] => destinations.map((d, i) => ({ destination: d.name, destinationId: d.id, type: d.type, key, status: 'running', sizeBytes: null, checksum: null, message: null, ...copyState[i] }));
  const copyState: Array<Partial<CopyView>> = destinations.map(() => ({}));
  options.onStarted?.(describeBackup(run, copyViews()));

  let targets: FanTarget[] | undefined;
  let setup: DeltaSetup | undefined;
  try {
    conn ??= connectionOf(ctx, target);
    const opened: FanTarget[] = [];
    for (const d of destinations) opened.push({ name: d.name, storage: await storageOf(ctx, d) });
    targets = opened;
    setup = await prepareDelta(ctx, choice, { backupId: id, planKind: plan.kind, signal: options.signal });
    if (setup.kind !== kind) {
      // The parent could not be rebuilt: this run is a full after all.
      kind = setup.kind;
      kindNote = setup.note;
      key = keyFor(kind);
      Object.assign(run, { kind, parentId: null, parentSha256: null, artifactKey: key, message: kindNote });
      await fallBackToFull(ctx, id, { artifactKey: key, message: kindNote });
    }
    const stream = (s: DeltaSetup) =>
      streamBackup({
        engine,
        conn: conn!,
        codec,
        storages: opened,
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
    // The manifest goes beside each copy that landed; a copy whose manifest cannot be written is failed and
    // removed (an artifact without its manifest must never look like a finished backup).
    const outcomes = result.copies.map((c) => ({ ...c }));
    await Promise.all(
      opened.map(async (t, i) => {
        if (!outcomes[i].put) return;
        try {
          await writeManifest(t.storage, manifest, options.signal);
        } catch (err) {
          outcomes[i] = { error: asCoffreError(err, 'MANIFEST_WRITE_FAILED') };
          await t.storage.delete(key).catch(() => {});
          await t.storage.delete(manifestKey(key)).catch(() => {});
        }
      }),
    );
    if (options.signal?.aborted) throw failure('INTERRUPTED', 'The backup was interrupted before it finished.');
    const landed = outcomes.filter((o) => o.put).length;
    if (landed === 0) throw failure('ALL_UPLOADS_FAILED', `No destination took the backup (${opened.map((t, i) => `${t.name}: ${outcomes[i].error?.message}`).join('; ')}).`);
    for (let i = 0; i < opened.length; i++) {
      const put = outcomes[i].put;
      const state: Partial<CopyView> = put
        ? { status: 'success', sizeBytes: put.size, checksum: put.checksum ?? (put.sha256 ? `sha256:${put.sha256}` : null), message: null }
        : { status: 'failed', message: redact(outcomes[i].error?.message ?? 'The upload failed.') };
      copyState[i] = state;
      await recordCopy(ctx, run, { id: copyIds[i], destinationId: destinations[i].id }, { status: state.status as 'success' | 'failed', sizeBytes: state.sizeBytes ?? null, checksum: state.checksum ?? null, message: state.message ?? null });
    }
    const failedCopies = opened.map((t, i) => ({ t, o: outcomes[i] })).filter((x) => !x.o.put);
    // A failed upload leaves nothing visible, but one cut off may leave unfinished parts behind (S3): clear them
    // now if that destination answers again.
    await Promise.all(failedCopies.map((x) => x.t.storage.delete(key).catch(() => {})));
    const partialNote = failedCopies.length
      ? `Reached ${landed} of ${opened.length} destinations: ${failedCopies.map((x) => `${x.t.name} failed (${redact(x.o.error?.message ?? 'unknown error')})`).join('; ')}. The other copies are complete and verified.`
      : null;
    const firstLanded = destinations[outcomes.findIndex((o) => o.put)];
    const patch: BackupFinish = {
      status: failedCopies.length ? 'partial' : 'success',
      destinationId: firstLanded.id,
      message: [partialNote, kindNote].filter(Boolean).join(' ') || null,
      rawFormat: result.rawFormat,
      finishedAt: manifest.finishedAt!,
      durationMs: finished.getTime() - started.getTime(),
      rawSizeBytes: result.rawSizeBytes,
      sizeBytes: result.sizeBytes,
      sha256: result.sha256,
      rawSha256: result.rawSha256,
      tool: result.tool,
      clientVersion: result.clientVersion,
      serverVersion: result.serverVersion,
    };
    if (!(await finishBackup(ctx, id, patch))) {
      throw failure(
        'RUN_TAKEN_OVER',
        `Another process finished the journal row of backup ${id} while it ran (a cluster worker that took the run over when this one stopped heartbeating): this run's copies were removed, and the row keeps what that process wrote.`,
      );
    }
    await setup.finish(result.rawSha256);
    const view = describeBackup({ ...run, ...patch }, copyViews());
    return partialNote ? { view, error: failure('BACKUP_PARTIAL', `Backup ${id} is partial: ${partialNote}`) } : { view };
  } catch (err) {
    await setup?.finish().catch(() => {});
    const error = asCoffreError(err, 'BACKUP_FAILED');
    for (const t of targets ?? []) {
      await t.storage.delete(key).catch(() => {});
      await t.storage.delete(manifestKey(key)).catch(() => {});
    }
    const interrupted = options.signal?.aborted === true;
    const finished = new Date();
    const reason = typeof options.signal?.reason === 'string' ? ` (${options.signal.reason})` : '';
    const message = redact(interrupted ? `The backup was interrupted${reason}; its partial files were removed.` : error.message);
    const patch: BackupFinish = {
      status: interrupted ? 'interrupted' : 'failed',
      finishedAt: isoNow(finished),
      durationMs: finished.getTime() - started.getTime(),
      message: kindNote ? `${message} ${kindNote}` : message,
    };
    // The copies first, so that whoever hears `finished` finds them final.
    for (let i = 0; i < copyIds.length; i++) {
      const message = copyState[i].status === 'success' ? 'Removed: the run failed.' : (patch.message ?? null);
      copyState[i] = { status: 'failed', message, sizeBytes: null, checksum: null };
      await recordCopy(ctx, run, { id: copyIds[i], destinationId: destinations[i].id }, { status: 'failed', message, sizeBytes: null, checksum: null }).catch(() => {});
    }
    const ours = await finishBackup(ctx, id, patch);
    const row = ours ? { ...run, ...patch } : await getBackup(db, id);
    return { view: describeBackup(row, copyViews()), error: interrupted ? failure('INTERRUPTED', message) : error };
  }
}

export interface JournalQuery {
  /** Plan name, id or id prefix; a removed plan's name still finds its rows. */
  plan?: string;
  status?: BackupStatus;
  kind?: BackupKind;
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
  const rows = await listBackups(ctx.catalog.db, { planId, planName, status: q.status, kind: q.kind, from: q.from, to: q.to, limit: q.limit, offset: q.offset });
  if (planName && rows.length === 0 && !q.offset) throw notFound('PLAN_NOT_FOUND', `No plan named "${q.plan}" and no journal rows for it: see \`coffre plan list\`.`);
  return describeWithCopies(ctx, rows);
}

/** One journal row by id or unique prefix, with its copies. */
export async function getJournalEntry(ctx: ServiceContext, ref: string): Promise<BackupView> {
  return (await describeWithCopies(ctx, [await getBackup(ctx.catalog.db, ref)]))[0];
}

/** The result of verifying a backup: the journal row's fields, with the verification's status and message. */
export type VerifyView = BackupView & { verifiedAt: string };

/**
 * Re-hashes a stored backup and decompresses it end to end against its journal row; no database is touched.
 * The copy read is the first one found intact in size, local destinations first (services/copies.ts).
 */
export async function verifyBackup(ctx: ServiceContext, ref: string, signal?: AbortSignal): Promise<RunOutcome<VerifyView>> {
  const run = await getBackup(ctx.catalog.db, ref);
  const base = (await describeWithCopies(ctx, [run]))[0];
  if (!restorableStatuses.includes(run.status) || !run.artifactKey || !run.sha256 || !run.rawSha256 || run.sizeBytes === null || run.rawSizeBytes === null) {
    throw usageError('BACKUP_NOT_VERIFIABLE', `Backup ${run.id} is ${run.status}: only successful backups can be verified.`);
  }
  let outcome;
  let from = '';
  if (run.parentId) outcome = await verifyChain(ctx, run, signal); // a delta: every link's sha256, then the rebuilt dump's
  else {
    let copy;
    try {
      copy = await locateCopy(ctx, run);
    } catch (err) {
      outcome = { status: 'failed' as const, message: asCoffreError(err).message };
    }
    if (copy) {
      from = ` (copy on destination ${copy.destination})`;
      outcome = await verifyArtifact(copy.storage, copy.key, { sha256: run.sha256, sizeBytes: run.sizeBytes, rawSha256: run.rawSha256, rawSizeBytes: run.rawSizeBytes }, signal);
      // Every other copy must hold the same bytes: one full read and hash each (same sha256, same dump).
      const others = (await copyLocations(ctx, run)).filter((l) => !(l.destinationId === copy.destinationId && l.key === copy.key));
      if (outcome.status === 'success' && others.length > 0) {
        const bad: string[] = [];
        for (const other of others) {
          try {
            await checkStoredArtifact(other.storage, other.key, { sha256: run.sha256, size: run.sizeBytes }, signal);
          } catch (err) {
            bad.push(`${other.destination}: ${asCoffreError(err).message}`);
          }
        }
        const names = [copy.destination, ...others.map((o) => o.destination)].join(', ');
        from = bad.length === 0 ? ` (all ${others.length + 1} copies checked: ${names})` : from;
        if (bad.length > 0) {
          outcome = { status: 'failed' as const, message: `${bad.length} of ${others.length + 1} copies fail verification (${bad.join('; ')}); the copy on ${copy.destination} is intact.` };
          from = '';
        }
      }
    }
  }
  outcome ??= { status: 'failed' as const, message: 'Nothing was verified.' };
  const verifiedAt = isoNow();
  const message = redact(outcome.message + from);
  await recordVerification(ctx, run.id, { verifiedAt, verifyStatus: outcome.status, verifyMessage: message });
  const view: VerifyView = { ...base, status: outcome.status, message, verifiedAt, lastVerifiedAt: verifiedAt, lastVerifyStatus: outcome.status, lastVerifyMessage: message };
  return outcome.status === 'success' ? { view } : { view, error: failure('VERIFY_FAILED', view.message ?? 'Verification failed.') };
}
