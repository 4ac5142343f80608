// One backup run, step by step (BackupRun below): resolve the plan and what it names; decide the kind, the
// parent and the key (services/delta-parent.ts); journal the run `running` with one `running` copy per
// destination before any byte moves; stream the one pipeline into every destination at once; write the
// manifest beside each copy that landed, last; record each copy's outcome; finish the row. Every status
// change goes through catalog/runs.ts, which publishes the run's events.
//
// The run's status when destinations disagree: `success` only when every copy landed and checked out;
// `partial` when some did (the message says "reached 2 of 3 destinations" and names each failure, the run
// exits 1 / its job fails so that someone looks, yet the good copies are recorded and restorable);
// `failed` when none did. A failed copy leaves nothing on its destination. Any failure of the dump removes
// every artifact and manifest and journals `failed` (or `interrupted` when the caller aborted) with a
// redacted message.

import { hostname } from 'node:os';
import { newId, isoNow, fileStamp } from '../core/ids.ts';
import { asCoffreError, conflict, failure } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { Codec, CompressionName, Engine, ProgressListener } from '../core/types.ts';
import { withDatabase, type Connection } from '../core/connection.ts';
import { engines } from '../engines/index.ts';
import { codecs } from '../codecs/index.ts';
import { streamBackup, type BackupStreamResult } from '../pipeline/backup.ts';
import { buildManifest, removeArtifact, writeManifest } from '../pipeline/manifest.ts';
import type { FanTarget } from '../pipeline/fan-out.ts';
import { getBackup, runningBackupsOfPlan, type BackupRecord, type RunTrigger } from '../catalog/journal.ts';
import { finishBackup, recordCopy, startBackup, type BackupFinish } from '../catalog/runs.ts';
import type { PlanRecord } from '../catalog/plans.ts';
import type { TargetRecord } from '../catalog/targets.ts';
import { getTarget } from '../catalog/targets.ts';
import { getDestination, type DestinationRecord } from '../catalog/destinations.ts';
import type { ServiceContext } from './service-context.ts';
import { isAlive } from './recovery.ts';
import { checkCompression, checkKind, findPlanRecord } from './plans.ts';
import { connectionOf } from './targets.ts';
import { storageOf } from './destinations.ts';
import type { CopyView } from './copies.ts';
import { DELTA_EXTENSION } from './chains.ts';
import { prepareParent, type DeltaSetup } from './delta-parent.ts';
import { AGE_EXTENSION, keyringOf, planRecipients } from './keys.ts';
import type { AgeRecipient } from '../crypto/age.ts';
import { describeBackup, type BackupView, type RunOutcome } from './backup-view.ts';

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

/** One database of a server run (services/server-run.ts): which one, the group's id, what part. */
export interface ServerPart {
  runId: string;
  /** The database (for `globals`: the label of the row). */
  database: string;
  part: 'database' | 'globals';
  /** Appended to the row's message (e.g. "new database since the last run"). */
  note?: string;
}

/**
 * Refuses to start a plan whose backup is already running in another process (a `coffre backup`, another
 * server or cluster worker): a conflict naming that run. A row left `running` by a dead process of this
 * host does not count (the start-up recovery, or the sweeper, finishes it).
 */
export async function ensurePlanIdle(ctx: ServiceContext, plan: { id: string; name: string }): Promise<void> {
  const busy = (await runningBackupsOfPlan(ctx.catalog.db, plan.id)).find((r) => r.host !== hostname() || isAlive(r.pid));
  if (busy) {
    throw conflict('PLAN_RUNNING', `Plan "${plan.name}" already has a backup running: journal ${busy.id} (pid ${busy.pid ?? '?'} on ${busy.host ?? '?'}). Wait for it to finish.`, {
      journalId: busy.id,
    });
  }
}

/**
 * One database's backup: a plan's run on its target's database, or (with `part`) one database of a server
 * run, in that run's group. Bad input throws before anything is journaled; once the run is journaled, its
 * outcome, success or not, comes back as the finished journal row. services/plan-run.ts picks this or a
 * server run.
 */
export async function runDatabaseBackup(ctx: ServiceContext, options: RunBackupOptions, part?: ServerPart): Promise<RunOutcome<BackupView>> {
  const run = await BackupRun.prepare(ctx, options, part);
  return run.execute();
}

type CopyOutcome = BackupStreamResult['copies'][number];

/** One run of a plan, from its decided shape to its finished row. */
class BackupRun {
  readonly #ctx: ServiceContext;
  readonly #options: RunBackupOptions;
  readonly #destinations: DestinationRecord[];
  readonly #engine: Engine;
  readonly #codec: Codec;
  readonly #target: TargetRecord;
  readonly #started: Date;
  readonly #row: BackupRecord;
  readonly #copyIds: string[];
  readonly #copyState: Array<Partial<CopyView>>;
  /** The plan's age recipients: compressed, then encrypted, then hashed and uploaded (undefined: not encrypted). */
  readonly #encryptTo: AgeRecipient[] | undefined;
  #setup: DeltaSetup;
  readonly #part: ServerPart | undefined;
  #conn: Connection | undefined;
  #storages: FanTarget[] = [];

  private constructor(
    ctx: ServiceContext,
    options: RunBackupOptions,
    parts: {
      plan: PlanRecord;
      target: TargetRecord;
      destinations: DestinationRecord[];
      compression: CompressionName;
      setup: DeltaSetup;
      id: string;
      started: Date;
      part?: ServerPart;
    },
  ) {
    this.#ctx = ctx;
    this.#part = parts.part;
    this.#options = options;
    this.#destinations = parts.destinations;
    this.#target = parts.target;
    this.#engine = engines.get(parts.target.engine);
    this.#codec = codecs.get(parts.compression);
    this.#started = parts.started;
    this.#setup = parts.setup;
    const { plan, target, setup, id } = parts;
    this.#encryptTo = planRecipients(plan);
    const kind = setup.kind;
    // A server run's rows sit in one folder per database of the plan's folder.
    const folder = parts.part ? `${plan.name}/${parts.part.part === 'globals' ? '_globals' : parts.part.database.replace(/[^A-Za-z0-9._-]/g, '_')}` : plan.name;
    const key = `${folder}/${fileStamp(parts.started)}-${kind}-${id}.${this.#engine.extension}${kind === 'full' ? '' : DELTA_EXTENSION}${this.#codec.extension}${this.#encryptTo ? AGE_EXTENSION : ''}`;
    this.#row = {
      id,
      planId: plan.id,
      planName: plan.name,
      targetId: target.id,
      targetName: target.name,
      engine: target.engine,
      database: '?',
      kind,
      requestedKind: checkKind(options.kind ?? plan.kind),
      parentId: setup.parent?.id ?? null,
      parentSha256: setup.parent?.sha256 ?? null,
      status: 'running',
      trigger: options.trigger ?? 'cli',
      compression: parts.compression,
      rawFormat: null,
      startedAt: isoNow(parts.started),
      finishedAt: null,
      durationMs: null,
      rawSizeBytes: null,
      sizeBytes: null,
      sha256: null,
      rawSha256: null,
      artifactKey: key,
      serverVersion: null,
      clientVersion: null,
      tool: null,
      message: [setup.note, parts.part?.note].filter(Boolean).join(' ') || null,
      pid: process.pid,
      host: hostname(),
      recipients: this.#encryptTo ? JSON.stringify(this.#encryptTo.map((r) => r.recipient)) : null,
      runId: parts.part?.runId ?? null,
      runPart: parts.part?.part ?? null,
    };
    this.#copyIds = parts.destinations.map(() => newId());
    this.#copyState = parts.destinations.map(() => ({}));
  }

  /** Step 1: the plan, its target and destinations, the kind, parent and key. Throws for bad input; journals nothing. */
  static async prepare(ctx: ServiceContext, options: RunBackupOptions, part?: ServerPart): Promise<BackupRun> {
    const db = ctx.catalog.db;
    const plan = await findPlanRecord(ctx, options.plan);
    // A server run checked its plan once, before its first database's row.
    if (!part) await ensurePlanIdle(ctx, plan);
    const compression = checkCompression(options.compression ?? plan.compression ?? ctx.config.defaultCompression);
    // The globals are always a full: they are small and have no chain.
    const requestedKind = part?.part === 'globals' ? 'full' : checkKind(options.kind ?? plan.kind);
    const target = await getTarget(db, plan.targetId);
    const destinations = (await Promise.all(plan.destinationIds.map((d) => getDestination(db, d)))).filter((d): d is DestinationRecord => d !== undefined);
    if (!target || destinations.length === 0 || destinations.length !== plan.destinationIds.length) {
      throw failure('PLAN_BROKEN', `Plan "${plan.name}" refers to a removed target or destination: remove the plan and add it again.`);
    }
    engines.get(target.engine);
    codecs.get(compression);
    const started = new Date();
    const id = newId(started.getTime());
    // A differential or incremental is a delta against a parent chosen from the journal; with none usable
    // (or one that cannot be rebuilt) it is a full, and its message says why.
    // A parent rebuilt from storage may be encrypted: only identities kept in the catalog can open it here.
    // Each database of a server run has its own chain: its parent is that database's latest row.
    const setup = await prepareParent(ctx, plan, requestedKind, engines.get(target.engine).name, {
      backupId: id,
      signal: options.signal,
      identities: await keyringOf(ctx),
      database: part?.part === 'database' ? part.database : undefined,
    });
    return new BackupRun(ctx, options, { plan, target, destinations, compression, setup, id, started, part });
  }

  /** Steps 2 to 6; the outcome is the finished row, whatever happened. */
  async execute(): Promise<RunOutcome<BackupView>> {
    try {
      await this.#journal();
    } catch (err) {
      await this.#setup.finish().catch(() => {});
      throw err;
    }
    try {
      await this.#openDestinations();
      const result = await this.#stream();
      const outcomes = await this.#writeManifests(result);
      return await this.#finish(result, outcomes);
    } catch (err) {
      return this.#fail(err);
    }
  }

  get #key(): string {
    return this.#row.artifactKey!;
  }

  #views(): CopyView[] {
    return this.#destinations.map((d, i) => ({
      destination: d.name,
      destinationId: d.id,
      type: d.type,
      key: this.#key,
      status: 'running',
      sizeBytes: null,
      checksum: null,
      message: null,
      ...this.#copyState[i],
    }));
  }

  /** Step 2: the row and its copies, `running`. The database name is only known once the URL is opened, which may fail: journal first, then open. */
  async #journal(): Promise<void> {
    try {
      this.#conn = this.#connection();
      this.#row.database = this.#part?.part === 'globals' ? this.#part.database : this.#conn.database;
    } catch {
      this.#row.database = '?';
    }
    // One copy row per destination, `running` until its upload settles: a crash leaves them naming every
    // place a partial object might be, for the recovery to clean.
    const copies = this.#destinations.map((d, i) => ({
      id: this.#copyIds[i],
      backupId: this.#row.id,
      destinationId: d.id,
      key: this.#key,
      sizeBytes: null,
      checksum: null,
      status: 'running',
      message: null,
      createdAt: this.#row.startedAt,
    }));
    await startBackup(this.#ctx, this.#row, copies);
    this.#options.onStarted?.(describeBackup(this.#row, this.#views()));
  }

  /** Step 3: the connection (when the URL failed to open before, its error now fails the run) and every storage. */
  async #openDestinations(): Promise<void> {
    this.#conn ??= this.#connection();
    for (const d of this.#destinations) this.#storages.push({ name: d.name, storage: await storageOf(this.#ctx, d) });
  }

  /** The target's connection; for a server run's database, pointed at that database. */
  #connection(): Connection {
    const conn = connectionOf(this.#ctx, this.#target);
    return this.#part?.part === 'database' ? withDatabase(conn, this.#part.database) : conn;
  }

  /** The engine the pipeline dumps with: the globals of a PostgreSQL server are pg_dumpall's, not pg_dump's. */
  #dumper(): Engine {
    if (this.#part?.part !== 'globals') return this.#engine;
    const pg = this.#engine as Engine & { dumpGlobals?: Engine['dump'] };
    if (!pg.dumpGlobals) throw failure('NO_GLOBALS', `A ${this.#engine.name} server has no globals to dump.`);
    return { ...this.#engine, dump: (conn, o) => pg.dumpGlobals!(conn, o) };
  }

  /** Step 4: the pipeline into every destination; a cached parent whose bytes changed is dropped and rebuilt from storage, once. */
  async #stream(): Promise<BackupStreamResult> {
    const conn = this.#conn!;
    const kind = this.#row.kind;
    const attempt = (s: DeltaSetup) =>
      streamBackup({
        engine: this.#dumper(),
        conn,
        codec: this.#codec,
        storages: this.#storages,
        key: this.#key,
        entryName:
          `${conn.engine === 'sqlite' ? 'database' : this.#part?.part === 'globals' ? 'globals' : conn.database}.${this.#engine.extension}${kind === 'full' ? '' : DELTA_EXTENSION}`.replace(
            /[/\\]/g,
            '_',
          ),
        signal: this.#options.signal,
        onProgress: this.#options.onProgress,
        delta: s.delta,
        rawTap: s.tee?.stream,
        encryptTo: this.#encryptTo,
      });
    try {
      return await attempt(this.#setup);
    } catch (err) {
      const again = this.#options.signal?.aborted ? undefined : await this.#setup.retry(err);
      // The kind was journaled: a retry that could only make a full is no retry.
      if (!again || again.kind !== this.#setup.kind) {
        if (again) await again.finish().catch(() => {});
        throw err;
      }
      this.#setup = again;
      return attempt(again);
    }
  }

  /** Step 5: the manifest beside each copy that landed; a copy whose manifest cannot be written is failed and removed. */
  async #writeManifests(result: BackupStreamResult): Promise<CopyOutcome[]> {
    const parent = this.#setup.parent;
    const manifest = buildManifest(
      { ...this.#row, engine: this.#engine.name, database: this.#row.database, finishedAt: isoNow(), parent, recipients: this.#encryptTo?.map((r) => r.recipient) },
      result,
    );
    this.#row.finishedAt = manifest.finishedAt;
    // An artifact without its manifest must never look like a finished backup.
    const outcomes = result.copies.map((c) => ({ ...c }));
    await Promise.all(
      this.#storages.map(async (t, i) => {
        if (!outcomes[i].put) return;
        try {
          await writeManifest(t.storage, manifest, this.#options.signal);
        } catch (err) {
          outcomes[i] = { error: asCoffreError(err, 'MANIFEST_WRITE_FAILED') };
          await removeArtifact(t.storage, this.#key).catch(() => {});
        }
      }),
    );
    return outcomes;
  }

  /** Step 6: each copy's outcome, then the row: success, or partial naming the destinations that failed. */
  async #finish(result: BackupStreamResult, outcomes: CopyOutcome[]): Promise<RunOutcome<BackupView>> {
    if (this.#options.signal?.aborted) throw failure('INTERRUPTED', 'The backup was interrupted before it finished.');
    const storages = this.#storages;
    const landed = outcomes.filter((o) => o.put).length;
    if (landed === 0) throw failure('ALL_UPLOADS_FAILED', `No destination took the backup (${storages.map((t, i) => `${t.name}: ${outcomes[i].error?.message}`).join('; ')}).`);
    for (let i = 0; i < storages.length; i++) {
      const put = outcomes[i].put;
      const state = put
        ? { status: 'success' as const, sizeBytes: put.size, checksum: put.checksum ?? (put.sha256 ? `sha256:${put.sha256}` : null), message: null }
        : { status: 'failed' as const, sizeBytes: null, checksum: null, message: redact(outcomes[i].error?.message ?? 'The upload failed.') };
      this.#copyState[i] = state;
      await recordCopy(this.#ctx, this.#row, { id: this.#copyIds[i], destinationId: this.#destinations[i].id }, state);
    }
    const failedCopies = storages.map((t, i) => ({ t, o: outcomes[i] })).filter((x) => !x.o.put);
    // A failed upload leaves nothing visible, but one cut off may leave unfinished parts behind (S3): clear them
    // now if that destination answers again.
    await Promise.all(failedCopies.map((x) => removeArtifact(x.t.storage, this.#key).catch(() => {})));
    const partialNote = failedCopies.length
      ? `Reached ${landed} of ${storages.length} destinations: ${failedCopies.map((x) => `${x.t.name} failed (${redact(x.o.error?.message ?? 'unknown error')})`).join('; ')}. The other copies are complete and verified.`
      : null;
    const patch: BackupFinish = {
      status: failedCopies.length ? 'partial' : 'success',
      message: [partialNote, this.#row.message].filter(Boolean).join(' ') || null,
      rawFormat: result.rawFormat,
      finishedAt: this.#row.finishedAt!,
      durationMs: Date.parse(this.#row.finishedAt!) - this.#started.getTime(),
      rawSizeBytes: result.rawSizeBytes,
      sizeBytes: result.sizeBytes,
      sha256: result.sha256,
      rawSha256: result.rawSha256,
      tool: result.tool,
      clientVersion: result.clientVersion,
      serverVersion: result.serverVersion,
      rowCounts: result.rowCounts ? JSON.stringify(result.rowCounts) : null,
    };
    if (!(await finishBackup(this.#ctx, this.#row.id, patch))) {
      throw failure(
        'RUN_TAKEN_OVER',
        `Another process finished the journal row of backup ${this.#row.id} while it ran (a cluster worker that took the run over when this one stopped heartbeating): this run's copies were removed, and the row keeps what that process wrote.`,
      );
    }
    await this.#setup.finish(result.rawSha256);
    const view = describeBackup({ ...this.#row, ...patch }, this.#views());
    return partialNote ? { view, error: failure('BACKUP_PARTIAL', `Backup ${this.#row.id} is partial: ${partialNote}`) } : { view };
  }

  /** The run failed (or was interrupted): its files go from every destination, its copies and row say why. */
  async #fail(err: unknown): Promise<RunOutcome<BackupView>> {
    await this.#setup.finish().catch(() => {});
    const error = asCoffreError(err, 'BACKUP_FAILED');
    for (const t of this.#storages) await removeArtifact(t.storage, this.#key).catch(() => {});
    const signal = this.#options.signal;
    const interrupted = signal?.aborted === true;
    const finished = new Date();
    const reason = typeof signal?.reason === 'string' ? ` (${signal.reason})` : '';
    const message = redact(interrupted ? `The backup was interrupted${reason}; its partial files were removed.` : error.message);
    const kindNote = this.#row.message;
    const patch: BackupFinish = {
      status: interrupted ? 'interrupted' : 'failed',
      finishedAt: isoNow(finished),
      durationMs: finished.getTime() - this.#started.getTime(),
      message: kindNote ? `${message} ${kindNote}` : message,
    };
    // The copies first, so that whoever hears `finished` finds them final.
    for (let i = 0; i < this.#copyIds.length; i++) {
      const copyMessage = this.#copyState[i].status === 'success' ? 'Removed: the run failed.' : (patch.message ?? null);
      this.#copyState[i] = { status: 'failed', message: copyMessage, sizeBytes: null, checksum: null };
      await recordCopy(
        this.#ctx,
        this.#row,
        { id: this.#copyIds[i], destinationId: this.#destinations[i].id },
        { status: 'failed', message: copyMessage, sizeBytes: null, checksum: null },
      ).catch(() => {});
    }
    const ours = await finishBackup(this.#ctx, this.#row.id, patch);
    const row = ours ? { ...this.#row, ...patch } : await getBackup(this.#ctx.catalog.db, this.#row.id);
    return { view: describeBackup(row, this.#views()), error: interrupted ? failure('INTERRUPTED', message) : error };
  }
}
