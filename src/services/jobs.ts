// Background runs for the server: the API (and the scheduler) submit backups, restores and drills here and get a job
// back at once, while the work goes on behind with at most MAX_CONCURRENT_JOBS at a time. One run per plan
// (and one restore per target) at a time: a second submission is a conflict naming the running job, which the
// scheduler journals as a skipped tick. Every change of a job is published on the context's bus (ctx.events,
// its job channel: queued, started, progress with bytes and rate, finished with the journal row), where the
// Server-Sent Events route listens; a run's progress is published there too, as a run `progress` event. On shutdown, queued
// jobs are dropped, running ones get a grace period, then are aborted so their rows end `interrupted`.
// Jobs live in memory: the journal rows are what lasts.

import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { newId, isoNow } from '../core/ids.ts';
import { asCoffreError, CoffreError, conflict, failure, notFound, usageError, type HintWords } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { JobEvent as BusJobEvent, JobEventType } from '../core/run-events.ts';
import type { RunTrigger } from '../catalog/journal.ts';
import type { ServiceContext } from './service-context.ts';
import { ensurePlanIdle, runBackup, runBackupThenPrune, type BackupView, type RunBackupOptions, type RunOutcome } from './backups.ts';
import { checkRestore, runRestore, type RestoreView } from './restores.ts';
import { checkServerRestore, restoreCheckedRun, type ServerRestoreView } from './server-restore.ts';
import { findServerRun } from '../catalog/server-runs.ts';
import { runDrill, type DrillView } from './drills.ts';
import { checkCompression, checkKind, findPlanRecord } from './plans.ts';
import { checkTargetWritable } from './targets.ts';

export type JobType = 'backup' | 'restore' | 'drill';
export type JobStatus = 'queued' | 'running' | 'success' | 'failed' | 'interrupted';

/** A job as shown to users. `journalId` is set once the run is journaled (when it leaves the queue). */
export interface JobView {
  id: string;
  type: JobType;
  status: JobStatus;
  planId: string | null;
  plan: string | null;
  targetId: string | null;
  journalId: string | null;
  trigger: RunTrigger;
  /** Raw bytes dumped (backup) or read (restore) so far. */
  bytes: number;
  /** Average bytes per second since the run started. */
  rateBytesPerSecond: number;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The finished journal row (same fields as the CLI's --json output); for a whole server run's restore, its rows. */
  result: JobResult | null;
  error: { code: string; message: string } | null;
}

type JobResult = BackupView | RestoreView | DrillView | ServerRestoreView;

export type { JobEventType } from '../core/run-events.ts';

/** A job's change on the bus; `seq` increases, usable as the SSE event id. */
export type JobEvent = BusJobEvent<JobView>;

export interface BackupRequest {
  /** Plan name, id or id prefix. */
  plan: string;
  kind?: string;
  compression?: string;
  trigger?: RunTrigger;
}

export interface RestoreRequest {
  /** Journal id of a backup, or of a server run (all its databases into a server target); or give `path`. */
  journalId?: string;
  /** A dump file or folder; it must resolve (symlinks included) under one of `allowedPaths`. */
  path?: string;
  /** Target name or id; default: the backup's plan target. */
  target?: string;
  replace?: boolean;
  /** SQL dumps holding several databases: the one to restore. */
  database?: string;
  /** SQL dumps: let COPY ... FROM/TO PROGRAM run. */
  allowProgram?: boolean;
  /** A PostgreSQL server run: restore its globals (roles missing on the target) rather than its databases. */
  globals?: boolean;
  trigger?: RunTrigger;
}

export interface DrillRequest {
  /** Plan name, id or id prefix. */
  plan: string;
  /** A backup of the plan (id or prefix); default: its latest restorable one. */
  backup?: string;
  /** Restore on this target's server instead of the plan's drill target. */
  drillTarget?: string;
  trigger?: RunTrigger;
}

export interface JobRunnerOptions {
  maxConcurrent: number;
  /** Folders a restore `path` may resolve under. */
  allowedPaths: string[];
  /** Finished jobs kept in memory for GET /api/jobs/:id (oldest dropped first). */
  keepFinished?: number;
  /** Least time between two progress events of one job. */
  progressIntervalMs?: number;
  /** When given, a backup job applies its plan's retention after it succeeded (runBackupThenPrune), reporting here. */
  pruneLog?: (line: string) => void;
  /** How a failed job's error words its hint (the API's JSON fields); default the message as it is. */
  hintWords?: HintWords;
}

export interface ShutdownSummary {
  finished: number;
  interrupted: number;
  dropped: number;
}

interface Job {
  view: JobView;
  lock: string;
  lockLabel: string;
  controller: AbortController;
  work: (job: Job) => Promise<RunOutcome<JobResult>>;
  /** Settles when the run is journaled, or fails before that. */
  journaled: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void };
  done: Promise<void>;
  startedMs: number;
  lastProgressMs: number;
}

function deferred(): Job['journaled'] {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a rejection nobody waits for is not an unhandled one
  return { promise, resolve, reject };
}

/**
 * Checks that a restore source path resolves, symlinks included, under one of the allowed folders, and
 * returns its real path (the one to open). A path outside is refused whether or not it exists, so the
 * answer never tells what exists elsewhere on the server.
 */
export async function checkRestorePath(given: string, allowed: readonly string[]): Promise<string> {
  if (typeof given !== 'string' || !path.isAbsolute(given) || given.includes('\0')) {
    throw usageError('BAD_PATH', 'The restore path must be an absolute path on the server.', { field: 'path' });
  }
  const roots = await Promise.all(allowed.map((r) => realpath(r).catch(() => path.resolve(r))));
  const inside = (p: string) => roots.some((root) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep));
  const refuse = () =>
    new CoffreError('RESTORE_PATH_FORBIDDEN', 'The restore path is outside the folders this server may name (ALLOWED_PATHS).', { kind: 'forbidden', details: { field: 'path' } });
  let real: string;
  try {
    real = await realpath(given);
  } catch (err) {
    if (!inside(path.resolve(given))) throw refuse();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound('RESTORE_PATH_NOT_FOUND', `Nothing exists at ${given}.`);
    throw asCoffreError(err, 'RESTORE_PATH_UNREADABLE');
  }
  if (!inside(real)) throw refuse();
  return real;
}

/** Runs backups and restores in the background; see the module header. */
export class JobRunner {
  readonly #ctx: ServiceContext;
  readonly #options: Required<Omit<JobRunnerOptions, 'pruneLog' | 'hintWords'>> & Pick<JobRunnerOptions, 'pruneLog' | 'hintWords'>;
  readonly #jobs = new Map<string, Job>();
  readonly #queue: Job[] = [];
  readonly #running = new Set<Job>();
  /** The last events, replayed to an event stream that reconnects with Last-Event-ID. */
  readonly #recent: JobEvent[] = [];
  #seq = 0;
  #accepting = true;

  constructor(ctx: ServiceContext, options: JobRunnerOptions) {
    this.#ctx = ctx;
    this.#options = { keepFinished: 1000, progressIntervalMs: 250, ...options };
  }

  /** Whether new jobs are taken (false once shutdown began). */
  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * Submits a backup of a plan. Throws at once for bad input (unknown plan, kind or compression) and for a
   * plan that already has a job (conflict, naming it). When a slot is free the run starts and this resolves
   * once it is journaled (the view carries `journalId`); otherwise it resolves with the job `queued`.
   */
  async submitBackup(request: BackupRequest): Promise<JobView> {
    this.#checkAccepting();
    const plan = await findPlanRecord(this.#ctx, request.plan);
    const kind = request.kind === undefined ? undefined : checkKind(request.kind);
    const compression = request.compression === undefined ? undefined : checkCompression(request.compression);
    const trigger = request.trigger ?? 'api';
    if (!this.#active(`plan:${plan.id}`)) await ensurePlanIdle(this.#ctx, plan); // running in another process: 409 now
    const pruneLog = this.#options.pruneLog;
    return this.#submit({ type: 'backup', planId: plan.id, plan: plan.name, targetId: plan.targetId, trigger }, `plan:${plan.id}`, `plan "${plan.name}"`, (job) => {
      const run: RunBackupOptions = {
        plan: plan.id,
        kind,
        compression,
        trigger,
        signal: job.controller.signal,
        onStarted: (view) => this.#started(job, view.id),
        onProgress: (bytes) => this.#progress(job, bytes),
      };
      return pruneLog ? runBackupThenPrune(this.#ctx, run, pruneLog) : runBackup(this.#ctx, run);
    });
  }

  /**
   * Submits a restore from a journal id or a path (checked against the allowed folders). Throws at once for
   * bad input and for a target that already has a restore job (conflict, naming it); resolves as submitBackup.
   */
  async submitRestore(request: RestoreRequest): Promise<JobView> {
    this.#checkAccepting();
    if (!request.journalId === !request.path) throw usageError('RESTORE_SOURCE', 'Give either a journalId or a path to restore from (not both).', { field: 'journalId' });
    if (request.globals && !request.journalId)
      throw usageError('BAD_OPTION', "options.globals restores a PostgreSQL server run's roles: give the run's id as journalId.", { field: 'options.globals' });
    if (request.journalId && (request.globals || (await findServerRun(this.#ctx.catalog.db, request.journalId)))) return this.#submitRunRestore(request, request.journalId);
    let file: string | undefined;
    // A path must lie under the allowed folders; the rest is the CLI's own check (services/restores.ts).
    if (request.path) file = await checkRestorePath(request.path, this.#options.allowedPaths);
    // An API restore of an encrypted backup can only use identities kept in the catalog: refused (400) here when none opens it.
    const { backup, target } = await checkRestore(this.#ctx, { backup: request.journalId, files: file ? [file] : [], to: request.target });
    // An imported row not adopted belongs to no plan, whatever name its manifest gave.
    const planId = backup?.planId ?? null;
    const planName = planId ? backup!.planName : null;
    const targetId = target.id;
    // The API restores only into files it could have named: not into a SQLite target the CLI made elsewhere.
    checkTargetWritable(this.#ctx, target);
    const trigger = request.trigger ?? 'api';
    return this.#submit({ type: 'restore', planId, plan: planName, targetId, trigger }, `target:${targetId}`, 'its target', (job) =>
      runRestore(this.#ctx, {
        backup: request.journalId,
        file,
        to: targetId,
        replace: request.replace === true,
        database: request.database,
        allowProgram: request.allowProgram === true,
        trigger,
        signal: job.controller.signal,
        onStarted: (run) => this.#started(job, run.id),
        onProgress: (bytes) => this.#progress(job, bytes),
      }),
    );
  }

  /**
   * A whole server run (its databases, or with `globals` its PostgreSQL roles) into a server target: checked
   * at once as the CLI checks it (a target holding data in any of the run's databases is a conflict naming
   * them all, unless replace), and each row as any API restore (an encrypted one needs a stored identity);
   * then one restore per row in one job, whose journalId is the row being restored and whose result lists them.
   */
  async #submitRunRestore(request: RestoreRequest, runRef: string): Promise<JobView> {
    if (!request.target) throw usageError('MISSING_TARGET', `A server run restores into a server target: give targetId.`, { field: 'targetId' });
    if (request.database !== undefined)
      throw usageError('BAD_OPTION', 'options.database picks one database of a dump file; to restore one database of a server run, restore its row by its journal id.', {
        field: 'options.database',
      });
    const checked = await checkServerRestore(this.#ctx, { run: runRef, to: request.target, replace: request.replace === true, globals: request.globals === true });
    for (const row of checked.rows) await checkRestore(this.#ctx, { backup: row.id, files: [], to: checked.target.id });
    checkTargetWritable(this.#ctx, checked.target);
    const { run, target } = checked;
    const trigger = request.trigger ?? 'api';
    return this.#submit({ type: 'restore', planId: run.planId, plan: run.planName, targetId: target.id, trigger }, `target:${target.id}`, 'its target', (job) => {
      let done = 0; // bytes of the rows already restored
      let current = 0;
      return restoreCheckedRun(this.#ctx, checked, {
        replace: request.replace === true,
        globals: request.globals === true,
        trigger,
        signal: job.controller.signal,
        onStarted: (row) => {
          done += current;
          current = 0;
          if (job.view.journalId === null) return this.#started(job, row.id);
          job.view.journalId = row.id;
          this.#emit('job.progress', job);
        },
        onProgress: (bytes) => {
          current = bytes;
          this.#progress(job, done + bytes);
        },
      });
    });
  }

  /**
   * Submits a restore drill of a plan (its latest restorable backup, or the one named). Bad input (unknown
   * plan or backup, no identity that opens it) reaches the caller before anything is journaled; one drill
   * per plan at a time (a second is a conflict naming the first). Backups of the plan are not held back.
   */
  async submitDrill(request: DrillRequest): Promise<JobView> {
    this.#checkAccepting();
    const plan = await findPlanRecord(this.#ctx, request.plan);
    const trigger = request.trigger ?? 'api';
    return this.#submit({ type: 'drill', planId: plan.id, plan: plan.name, targetId: plan.targetId, trigger }, `drill:${plan.id}`, `plan "${plan.name}"`, (job) =>
      runDrill(this.#ctx, {
        plan: plan.id,
        backup: request.backup,
        drillTarget: request.drillTarget,
        trigger,
        signal: job.controller.signal,
        onStarted: (view) => this.#started(job, view.id),
      }),
    );
  }

  /** A job by id; not_found when unknown (or long finished). */
  get(id: string): JobView {
    const job = this.#jobs.get(id);
    if (!job) throw notFound('JOB_NOT_FOUND', `No job ${id} on this server (jobs are kept in memory; finished runs stay in the journal).`);
    return { ...job.view };
  }

  /** Every job in memory, newest first. */
  list(): JobView[] {
    return [...this.#jobs.values()].map((j) => ({ ...j.view })).reverse();
  }

  /** The unfinished job holding a plan, if any (the scheduler checks it before a tick). */
  activeForPlan(planId: string): JobView | undefined {
    const job = this.#active(`plan:${planId}`);
    return job ? { ...job.view } : undefined;
  }

  /** Events kept in memory whose seq is greater than `afterSeq`, oldest first. */
  eventsAfter(afterSeq: number): JobEvent[] {
    return this.#recent.filter((e) => e.seq > afterSeq);
  }

  /** Listens to this runner's job events (on ctx.events); returns the function that stops listening. */
  subscribe(listener: (event: JobEvent) => void): () => void {
    return this.#ctx.events.subscribeJobs<JobView>((e) => {
      if (this.#jobs.has(e.job.id)) listener(e); // another runner's jobs may share the bus
    });
  }

  /**
   * Stops taking jobs, drops the queued ones, lets running ones finish within `graceMs`, then aborts the
   * rest (their journal rows become `interrupted`) and waits for them to record it.
   */
  async shutdown(graceMs: number): Promise<ShutdownSummary> {
    this.#accepting = false;
    const dropped = this.#queue.splice(0);
    for (const job of dropped) {
      const err = failure('SHUTTING_DOWN', 'The server stopped before this job started; submit it again.');
      job.journaled.reject(err);
      this.#finish(job, 'interrupted', null, err);
    }
    const running = [...this.#running];
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.all(running.map((j) => j.done)), graceOver]);
    clearTimeout(timer);
    const late = [...this.#running];
    for (const job of late) job.controller.abort('the server is shutting down');
    await Promise.all(late.map((j) => j.done));
    return { finished: running.length - late.length, interrupted: late.length + dropped.length, dropped: dropped.length };
  }

  #checkAccepting(): void {
    if (!this.#accepting) throw failure('SHUTTING_DOWN', 'The server is shutting down and takes no new jobs.', { retryable: true });
  }

  #active(lock: string): Job | undefined {
    for (const job of this.#jobs.values()) if (job.lock === lock && (job.view.status === 'queued' || job.view.status === 'running')) return job;
    return undefined;
  }

  async #submit(base: Pick<JobView, 'type' | 'planId' | 'plan' | 'targetId' | 'trigger'>, lock: string, lockLabel: string, work: Job['work']): Promise<JobView> {
    this.#checkAccepting();
    const busy = this.#active(lock);
    if (busy) {
      const what = `a ${busy.view.type}`;
      throw conflict(
        'JOB_RUNNING',
        `${lockLabel[0].toUpperCase()}${lockLabel.slice(1)} already has ${what} ${busy.view.status}: job ${busy.view.id}${busy.view.journalId ? ` (journal ${busy.view.journalId})` : ''}.`,
        {
          jobId: busy.view.id,
          journalId: busy.view.journalId,
        },
      );
    }
    const job: Job = {
      view: {
        id: newId(),
        ...base,
        status: 'queued',
        journalId: null,
        bytes: 0,
        rateBytesPerSecond: 0,
        queuedAt: isoNow(),
        startedAt: null,
        finishedAt: null,
        result: null,
        error: null,
      },
      lock,
      lockLabel,
      controller: new AbortController(),
      work,
      journaled: deferred(),
      done: Promise.resolve(),
      startedMs: 0,
      lastProgressMs: 0,
    };
    this.#jobs.set(job.view.id, job);
    this.#emit('job.queued', job);
    if (this.#running.size < this.#options.maxConcurrent) {
      this.#start(job);
      await job.journaled.promise; // a refusal before journaling (a non-empty target, ...) reaches the caller
    } else {
      this.#queue.push(job);
    }
    return { ...job.view };
  }

  #start(job: Job): void {
    this.#running.add(job);
    job.view.status = 'running';
    job.startedMs = Date.now();
    job.view.startedAt = isoNow();
    job.done = (async () => {
      try {
        const outcome = await job.work(job);
        // A run the job itself started ends success, failed or interrupted; anything else is reported failed.
        const s = outcome.view.status;
        const status = s === 'success' || s === 'interrupted' ? s : 'failed';
        job.journaled.resolve(); // normally already resolved by onStarted
        this.#finish(job, status, outcome.view, outcome.error);
      } catch (err) {
        // Thrown before the run was journaled: bad input found late, or an unreachable catalog.
        const error = asCoffreError(err);
        job.journaled.reject(error);
        this.#finish(job, job.controller.signal.aborted ? 'interrupted' : 'failed', null, error);
      } finally {
        this.#running.delete(job);
        this.#pump();
      }
    })();
  }

  #pump(): void {
    while (this.#accepting && this.#queue.length && this.#running.size < this.#options.maxConcurrent) this.#start(this.#queue.shift()!);
  }

  #started(job: Job, journalId: string): void {
    job.view.journalId = journalId;
    this.#emit('job.started', job);
    job.journaled.resolve();
  }

  #progress(job: Job, bytes: number): void {
    job.view.bytes = bytes;
    const now = Date.now();
    job.view.rateBytesPerSecond = Math.round(bytes / Math.max((now - job.startedMs) / 1000, 0.001));
    if (now - job.lastProgressMs < this.#options.progressIntervalMs) return;
    job.lastProgressMs = now;
    const v = job.view;
    if (v.journalId) this.#ctx.events.publish({ type: 'progress', runType: v.type, runId: v.journalId, planId: v.planId, targetId: v.targetId, at: isoNow(new Date(now)), bytes });
    this.#emit('job.progress', job);
  }

  #finish(job: Job, status: JobStatus, result: JobView['result'], error?: CoffreError): void {
    job.view.status = status;
    job.view.finishedAt = isoNow();
    job.view.result = result;
    if (result && 'rawSizeBytes' in result && result.rawSizeBytes) job.view.bytes = result.rawSizeBytes;
    job.view.error = error ? { code: error.code, message: redact(this.#options.hintWords ? error.worded(this.#options.hintWords) : error.message) } : null;
    this.#emit('job.finished', job);
    this.#trim();
  }

  #trim(): void {
    let extra = this.#jobs.size - this.#options.keepFinished;
    for (const [id, job] of this.#jobs) {
      if (extra <= 0) break;
      if (job.view.finishedAt) {
        this.#jobs.delete(id);
        extra--;
      }
    }
  }

  #emit(type: JobEventType, job: Job): void {
    const event: JobEvent = { seq: ++this.#seq, type, job: { ...job.view } };
    this.#recent.push(event);
    if (this.#recent.length > 500) this.#recent.shift();
    this.#ctx.events.publishJob(event);
  }
}
