// Restore drills: a backup of a plan (its latest restorable one, or the one named; a differential or
// incremental through its chain) restored into a scratch database coffre creates for the occasion, then
// checked, then dropped. The scratch database is `coffre_drill_<plan>_<run>` (the last 8 hex digits of the plan
// id, the last 12 of the drill's: UUIDv7's random part) on the plan's target server or on the drill target's;
// SQLite: a file of that name under $DATA_DIR/drills. The source database is never named by anything a drill
// writes to: every write goes to the scratch connection, made from the server's connection with only its
// database (or file) replaced.
//
// Checks, in order, each journaled with its own result:
//   1. restore: the restore itself (checksums of every chain link, the engine's all-or-nothing restore);
//   2. row-counts: per table (collection), the scratch database's exact count against the backup's recorded
//      count (the journal row's; see pipeline/row-count.ts and the engines for how each was counted);
//   3. assertion (one per assertion): the user's own query, read-only, with a timeout (engines' DrillSupport);
//   4. rto: the time from the drill's start (after it got its slot on the server) to a checked database,
//      against the plan's --rto objective when it has one.
// A failed check fails the drill; the checks after a failed restore are `skipped`. The scratch database is
// dropped at the end whatever happened (a failed drop fails the drill and names it). It is coffre's only once
// the row says `scratch_created` (set after checking that no database of that name exists), which is what the
// recovery sweep goes by when a drill's process died (services/recovery.ts).

import { hostname } from 'node:os';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { newId, isoNow } from '../core/ids.ts';
import { asCoffreError, failure, usageError, type CoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { withDatabase, type Connection } from '../core/connection.ts';
import type { Engine, EngineName, RowCounts } from '../core/types.ts';
import { engines } from '../engines/index.ts';
import { streamRestore } from '../pipeline/restore.ts';
import { getBackup, listBackups, restorableStatuses, type BackupRecord, type RunStatus, type RunTrigger } from '../catalog/journal.ts';
import { getDrill, getPlanDrill, listDrills, runningOnTarget, type DrillRecord } from '../catalog/drills.ts';
import { finishDrill, markDrillScratch, startDrill, type DrillFinish } from '../catalog/runs.ts';
import { getTarget, type TargetRecord } from '../catalog/targets.ts';
import type { ServiceContext } from './service-context.ts';
import type { RunOutcome } from './backup-view.ts';
import { findPlanRecord } from './plans.ts';
import { connectionOf, findTargetRecord } from './targets.ts';
import { openChainForRestore } from './chains.ts';
import { openVerifiedCopy } from './restores.ts';
import { checkKeyringOpens, keyringOf, recordedRecipients, type IdentitySources } from './keys.ts';
import { DEFAULT_ASSERT_TIMEOUT_SECONDS } from './drill-settings.ts';

export type DrillCheckName = 'restore' | 'row-counts' | 'assertion' | 'rto';
export type DrillCheckStatus = 'passed' | 'failed' | 'skipped';

/** One check of a drill, as journaled. */
export interface DrillCheck {
  name: DrillCheckName;
  status: DrillCheckStatus;
  message: string;
  durationMs: number | null;
  /** assertion: its text and the value it gave. */
  assertion?: string;
  value?: string;
  /** row-counts: how the backup counted, and the tables whose counts differ (expected, found; null: missing). */
  method?: RowCounts['method'];
  tables?: number;
  mismatches?: Array<{ table: string; expected: number; found: number | null }>;
}

/** A drill as shown to users (`coffre drill --json`, `coffre journal --drills --json`, GET /api/drills). */
export interface DrillView {
  id: string;
  status: RunStatus;
  plan: string;
  planId: string | null;
  backupId: string | null;
  target: string;
  engine: EngineName;
  /** The scratch database (SQLite: file) the drill restored into; dropped at the end. */
  scratch: string;
  /** Whether coffre made it (a drill that failed before that made none), and dropped it. */
  scratchCreated: boolean;
  scratchDropped: boolean;
  checks: DrillCheck[];
  /** Time from start to a checked database, in ms (null when the drill did not get that far). */
  rtoMs: number | null;
  rtoObjectiveSeconds: number | null;
  trigger: RunTrigger;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  message: string | null;
}

export function describeDrill(r: DrillRecord): DrillView {
  return {
    id: r.id,
    status: r.status,
    plan: r.planName,
    planId: r.planId,
    backupId: r.backupId,
    target: r.targetName,
    engine: r.engine as EngineName,
    scratch: r.scratch,
    scratchCreated: r.scratchCreated,
    scratchDropped: r.scratchDropped,
    checks: r.checks ? (JSON.parse(r.checks) as DrillCheck[]) : [],
    rtoMs: r.rtoMs,
    rtoObjectiveSeconds: r.rtoLimitSeconds,
    trigger: r.trigger,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    message: r.message,
  };
}

export interface RunDrillOptions {
  /** Plan name, id or id prefix. */
  plan: string;
  /** A backup of the plan (id or prefix); default: its latest restorable one. */
  backup?: string;
  /** Restore on this target's server instead of the plan's (or the plan's --drill-target). */
  drillTarget?: string;
  /** Identity files and variables for an encrypted backup (those kept in the catalog are tried too). */
  identities?: IdentitySources;
  trigger?: RunTrigger;
  /** The cron tick a scheduled drill is for. */
  scheduledFor?: string;
  signal?: AbortSignal;
  onStarted?: (view: DrillView) => void;
  /** Called after each check (progress for the CLI). */
  onCheck?: (check: DrillCheck) => void;
  /** Called once the scratch database holds the restore, before the counts (tests use it to stop a drill mid-way). */
  onRestored?: (scratch: string) => void | Promise<void>;
}

/** The scratch database's name for a plan and a drill id: coffre_drill_<last 8 hex of the plan>_<last 12 of the drill>. */
export function scratchName(planId: string, drillId: string): string {
  const hex = (id: string) => id.replace(/-/g, '').toLowerCase();
  return `coffre_drill_${hex(planId).slice(-8)}_${hex(drillId).slice(-12)}`;
}

/** The connection a drill writes to: the server's, with its database (SQLite: its file) replaced by the scratch's. */
export function scratchConnection(server: Connection, scratch: string): Connection {
  return withDatabase(server, scratch);
}

/** The SQLite scratch file for a name. */
function scratchFile(ctx: ServiceContext, name: string): string {
  return path.join(ctx.config.dataDir, 'drills', `${name}.sqlite`);
}

/**
 * The backup a drill restores: the one named (of this plan), else the plan's latest restorable one. A
 * server run's PostgreSQL globals are never drilled: roles and tablespaces belong to the server, not to a
 * scratch database, and restoring them would write outside it; of a server plan, a database is drilled.
 */
async function backupToDrill(ctx: ServiceContext, plan: { id: string; name: string }, ref?: string): Promise<BackupRecord> {
  if (ref) {
    const b = await getBackup(ctx.catalog.db, ref);
    if (b.planId !== plan.id)
      throw usageError('DRILL_BACKUP_OTHER_PLAN', `Backup ${b.id} belongs to plan "${b.planName}", not "${plan.name}": drill that plan, or name one of this plan's backups.`);
    if (!restorableStatuses.includes(b.status) || !b.sha256) throw usageError('BACKUP_NOT_RESTORABLE', `Backup ${b.id} is ${b.status}: only successful backups can be drilled.`);
    if (b.runPart === 'globals')
      throw usageError(
        'DRILL_GLOBALS',
        `Backup ${b.id} is a server run's PostgreSQL globals (roles and tablespaces), which belong to the server, not to a database: a drill restores into a scratch database only. Drill one of the run's databases.`,
      );
    return b;
  }
  const rows: BackupRecord[] = [];
  for (const status of restorableStatuses) rows.push(...(await listBackups(ctx.catalog.db, { planId: plan.id, status, limit: 1, globals: false })).filter((b) => b.sha256));
  const latest = rows.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))[0];
  if (!latest) throw usageError('DRILL_NO_BACKUP', `Plan "${plan.name}" has no successful backup to drill: run {hint} first.`, undefined, { backup: plan.name });
  return latest;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(failure('INTERRUPTED', 'The drill was interrupted.'));
      },
      { once: true },
    );
  });

/** Waits until the server's target runs fewer than MAX_CONCURRENT_PER_TARGET other runs (backups, restores, drills). */
async function waitForSlot(ctx: ServiceContext, targetId: string, drillId: string, signal?: AbortSignal): Promise<number> {
  const limit = Math.max(1, ctx.config.scheduler.maxConcurrentPerTarget);
  const started = Date.now();
  for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
    if ((await runningOnTarget(ctx.catalog.db, targetId, drillId)) < limit) return Date.now() - started;
    await sleep(delay, signal);
  }
}

/**
 * Runs one drill of a plan. Bad input (unknown plan, no backup, no identity that opens it, a drill target of
 * another engine) throws before anything is journaled; once journaled, the outcome is the finished row, with
 * an error naming the failed checks when it did not pass.
 */
export async function runDrill(ctx: ServiceContext, options: RunDrillOptions): Promise<RunOutcome<DrillView>> {
  const db = ctx.catalog.db;
  const plan = await findPlanRecord(ctx, options.plan);
  const settings = await getPlanDrill(db, plan.id);
  const backup = await backupToDrill(ctx, plan, options.backup);
  let server: TargetRecord | undefined;
  if (options.drillTarget) server = await findTargetRecord(ctx, options.drillTarget);
  else if (settings?.targetId) server = await getTarget(db, settings.targetId);
  else server = await getTarget(db, plan.targetId);
  if (!server) throw usageError('MISSING_TARGET', `The server plan "${plan.name}" drills on was removed: give {hint}.`, undefined, { drillTarget: 'TARGET' });
  if (server.engine !== backup.engine) {
    throw usageError(
      'FORMAT_MISMATCH',
      `Backup ${backup.id} is a ${backup.engine} dump, which the ${server.engine} target "${server.name}" cannot restore: drill on a ${backup.engine} target ({hint}).`,
      undefined,
      { drillTarget: 'TARGET' },
    );
  }
  const keyring = await keyringOf(ctx, options.identities);
  const recipients = recordedRecipients(backup);
  if (recipients.length) checkKeyringOpens(`Backup ${backup.id}`, recipients, keyring);
  const engine = engines.get(server.engine);
  const serverConn = connectionOf(ctx, server);

  const started = new Date();
  const id = newId(started.getTime());
  const name = scratchName(plan.id, id);
  const scratch = server.engine === 'sqlite' ? scratchFile(ctx, name) : name;
  const run: DrillRecord = {
    id,
    planId: plan.id,
    planName: plan.name,
    backupId: backup.id,
    targetId: server.id,
    targetName: server.name,
    engine: server.engine,
    scratch,
    scratchCreated: false,
    scratchDropped: false,
    status: 'running',
    trigger: options.trigger ?? 'cli',
    checks: null,
    rtoMs: null,
    rtoLimitSeconds: settings?.rtoSeconds ?? null,
    startedAt: isoNow(started),
    finishedAt: null,
    durationMs: null,
    message: null,
    scheduledFor: options.scheduledFor ?? null,
    pid: process.pid,
    host: hostname(),
  };
  await startDrill(ctx, run);
  options.onStarted?.(describeDrill(run));
  const drill = new Drill(ctx, options, { run, plan, settings, backup, engine, conn: scratchConnection(serverConn, scratch), keyring, recipients });
  return drill.execute(started);
}

interface DrillParts {
  run: DrillRecord;
  plan: { id: string; name: string };
  settings: Awaited<ReturnType<typeof getPlanDrill>>;
  backup: BackupRecord;
  engine: Engine;
  conn: Connection;
  keyring: Awaited<ReturnType<typeof keyringOf>>;
  recipients: string[];
}

/** One journaled drill, from its slot to its finished row. */
class Drill {
  readonly #ctx: ServiceContext;
  readonly #options: RunDrillOptions;
  readonly #p: DrillParts;
  readonly #checks: DrillCheck[] = [];
  #created = false;

  constructor(ctx: ServiceContext, options: RunDrillOptions, parts: DrillParts) {
    this.#ctx = ctx;
    this.#options = options;
    this.#p = parts;
  }

  #add(check: DrillCheck): DrillCheck {
    this.#checks.push(check);
    this.#options.onCheck?.(check);
    return check;
  }

  async execute(started: Date): Promise<RunOutcome<DrillView>> {
    const { run } = this.#p;
    const signal = this.#options.signal;
    let rtoMs: number | null = null;
    let fatal: CoffreError | undefined;
    let dropNote: string | null = null;
    try {
      // A drill counts against its server's concurrency limit; the RTO clock starts once it has its slot.
      const waited = await waitForSlot(this.#ctx, run.targetId!, run.id, signal);
      const clock = started.getTime() + waited;
      if (await this.#restore()) {
        await this.#options.onRestored?.(run.scratch);
        await this.#rowCounts();
        await this.#assertions();
        rtoMs = Date.now() - clock;
        this.#rto(rtoMs);
      } else {
        for (const name of ['row-counts', 'assertion', 'rto'] as const) {
          if (name === 'assertion' && !this.#p.settings?.assertions.length) continue;
          this.#add({ name, status: 'skipped', message: 'Not run: the restore failed.', durationMs: null });
        }
      }
    } catch (err) {
      fatal = signal?.aborted ? failure('INTERRUPTED', 'The drill was interrupted before it finished.') : asCoffreError(err, 'DRILL_FAILED');
    } finally {
      dropNote = await this.#drop();
    }
    const failed = this.#checks.filter((c) => c.status === 'failed');
    const finished = new Date();
    const interrupted = signal?.aborted === true;
    const status: DrillFinish['status'] = interrupted ? 'interrupted' : failed.length || fatal || dropNote ? 'failed' : 'success';
    const parts: string[] = [];
    if (status === 'success')
      parts.push(`Passed ${this.#checks.filter((c) => c.status === 'passed').length} check(s)${rtoMs !== null ? ` in ${(rtoMs / 1000).toFixed(1)} s` : ''}.`);
    if (failed.length) parts.push(`Failed: ${failed.map((c) => `${c.name}${c.assertion ? ` (${c.assertion.slice(0, 60)})` : ''}: ${c.message}`).join('; ')}`);
    if (fatal) parts.push(fatal.message);
    if (dropNote) parts.push(dropNote);
    const patch: DrillFinish = {
      status,
      finishedAt: isoNow(finished),
      durationMs: finished.getTime() - started.getTime(),
      checks: JSON.stringify(this.#checks),
      rtoMs,
      message: redact(parts.join(' ')),
    };
    await finishDrill(this.#ctx, run.id, patch);
    const row = await getDrill(this.#ctx.catalog.db, run.id);
    const view = describeDrill(row);
    if (status === 'success') return { view };
    const error = interrupted
      ? failure('INTERRUPTED', view.message ?? 'The drill was interrupted.')
      : failure('DRILL_FAILED', `Drill ${run.id} of plan "${run.planName}" did not pass. ${view.message}`);
    return { view, error };
  }

  /** Check 1: the backup restored into the new scratch database. */
  async #restore(): Promise<boolean> {
    const { run, engine, conn, backup, keyring, recipients } = this.#p;
    const signal = this.#options.signal;
    const t0 = Date.now();
    let source: Readable | undefined;
    try {
      if (conn.engine === 'sqlite') await mkdir(path.dirname(conn.database), { recursive: true, mode: 0o700 });
      const state = await engine.inspect(conn, signal);
      if (state.exists) throw failure('DRILL_SCRATCH_EXISTS', `A database named ${run.scratch} already exists on the drill's server: coffre did not make it and leaves it alone.`);
      await markDrillScratch(this.#ctx, run.id, 'created');
      this.#created = true;
      source = backup.parentId ? await openChainForRestore(this.#ctx, backup, signal, keyring) : await openVerifiedCopy(this.#ctx, backup, signal);
      const result = await streamRestore({
        engine,
        conn,
        source,
        replace: false,
        signal,
        sql: {},
        identities: keyring,
        recipients: recipients.length ? recipients : undefined,
        what: `The artifact of backup ${backup.id}`,
      });
      this.#add({
        name: 'restore',
        status: 'passed',
        message: `Restored backup ${backup.id} (${backup.kind}${backup.parentId ? ', through its chain' : ''}) with ${result.tool} into ${redact(run.scratch)}.`,
        durationMs: Date.now() - t0,
      });
      return true;
    } catch (err) {
      source?.destroy();
      if (signal?.aborted) throw err;
      this.#add({ name: 'restore', status: 'failed', message: redact(asCoffreError(err, 'RESTORE_FAILED').message), durationMs: Date.now() - t0 });
      return false;
    }
  }

  /** Check 2: per table (collection), the scratch database's rows against the backup's recorded counts. */
  async #rowCounts(): Promise<void> {
    const t0 = Date.now();
    const recorded = this.#p.backup.rowCounts ? (JSON.parse(this.#p.backup.rowCounts) as RowCounts) : undefined;
    if (!recorded) {
      this.#add({
        name: 'row-counts',
        status: 'skipped',
        message: 'The backup recorded no row counts (it was made before coffre counted rows): only the assertions check the data.',
        durationMs: null,
      });
      return;
    }
    const tables = Object.keys(recorded.tables);
    try {
      const found = await this.#p.engine.drill.countRows(this.#p.conn, tables, this.#options.signal);
      const mismatches = tables.filter((t) => found[t] !== recorded.tables[t]).map((t) => ({ table: t, expected: recorded.tables[t], found: found[t] ?? null }));
      const total = tables.reduce((n, t) => n + recorded.tables[t], 0);
      if (mismatches.length === 0) {
        this.#add({
          name: 'row-counts',
          status: 'passed',
          message: `${tables.length} table(s), ${total} row(s), as recorded at backup time (${recorded.method}).`,
          durationMs: Date.now() - t0,
          method: recorded.method,
          tables: tables.length,
        });
      } else {
        const shown = mismatches
          .slice(0, 5)
          .map((m) => `${m.table}: ${m.found === null ? 'missing' : m.found} instead of ${m.expected}`)
          .join(', ');
        this.#add({
          name: 'row-counts',
          status: 'failed',
          message: `${mismatches.length} of ${tables.length} table(s) differ from the backup's counts: ${shown}${mismatches.length > 5 ? ', …' : ''}.`,
          durationMs: Date.now() - t0,
          method: recorded.method,
          tables: tables.length,
          mismatches,
        });
      }
    } catch (err) {
      if (this.#options.signal?.aborted) throw err;
      this.#add({ name: 'row-counts', status: 'failed', message: `The rows could not be counted: ${redact(asCoffreError(err).message)}`, durationMs: Date.now() - t0 });
    }
  }

  /** Check 3: each of the plan's assertions, read-only, with its timeout. */
  async #assertions(): Promise<void> {
    const s = this.#p.settings;
    const timeoutMs = (s?.assertTimeoutSeconds ?? DEFAULT_ASSERT_TIMEOUT_SECONDS) * 1000;
    for (const assertion of s?.assertions ?? []) {
      const t0 = Date.now();
      try {
        const r = await this.#p.engine.drill.assert(this.#p.conn, assertion, timeoutMs, this.#options.signal);
        this.#add({
          name: 'assertion',
          status: r.ok ? 'passed' : 'failed',
          message: r.ok ? `Holds (${r.value}).` : `Does not hold: it gave ${r.value}.`,
          durationMs: Date.now() - t0,
          assertion,
          value: r.value,
        });
      } catch (err) {
        if (this.#options.signal?.aborted) throw err;
        this.#add({ name: 'assertion', status: 'failed', message: redact(asCoffreError(err).message), durationMs: Date.now() - t0, assertion });
      }
    }
  }

  /** Check 4: the RTO against the plan's objective. */
  #rto(rtoMs: number): void {
    const limit = this.#p.settings?.rtoSeconds ?? null;
    const secs = (rtoMs / 1000).toFixed(1);
    if (limit === null) this.#add({ name: 'rto', status: 'passed', message: `Recovered and checked in ${secs} s (the plan sets no RTO objective).`, durationMs: rtoMs });
    else if (rtoMs <= limit * 1000)
      this.#add({ name: 'rto', status: 'passed', message: `Recovered and checked in ${secs} s, within the ${limit} s objective.`, durationMs: rtoMs });
    else this.#add({ name: 'rto', status: 'failed', message: `Recovered and checked in ${secs} s, over the ${limit} s objective (the plan's RTO).`, durationMs: rtoMs });
  }

  /** Drops the scratch database if this drill created it; a note when that failed (the drill then fails). */
  async #drop(): Promise<string | null> {
    if (!this.#created) return null;
    const { run, engine, conn } = this.#p;
    try {
      await engine.drill.drop(conn);
      await markDrillScratch(this.#ctx, run.id, 'dropped');
      return null;
    } catch (err) {
      return `The scratch database ${run.scratch} could not be dropped (${redact(asCoffreError(err).message)}): drop it by hand; the next start of coffre tries again.`;
    }
  }
}

/** Drill journal rows, newest first. */
export async function listDrillJournal(ctx: ServiceContext, q: { plan?: string; status?: string; limit?: number; offset?: number } = {}): Promise<DrillView[]> {
  const planId = q.plan ? (await findPlanRecord(ctx, q.plan)).id : undefined;
  return (await listDrills(ctx.catalog.db, { planId, status: q.status, limit: q.limit, offset: q.offset })).map(describeDrill);
}

/** One drill by id or prefix. */
export async function getDrillView(ctx: ServiceContext, ref: string): Promise<DrillView> {
  return describeDrill(await getDrill(ctx.catalog.db, ref));
}

/**
 * Drops the scratch database of a drill whose process died (by its journal row: only when the row says coffre
 * created it and has not dropped it yet). Returns a note for the row's message.
 */
export async function dropDeadDrillScratch(ctx: ServiceContext, row: DrillRecord): Promise<string> {
  if (!row.scratchCreated || row.scratchDropped) return 'it had not created its scratch database yet';
  const server = row.targetId ? await getTarget(ctx.catalog.db, row.targetId) : undefined;
  if (!server) return `its scratch database ${row.scratch} is on a target that was removed: drop it by hand`;
  try {
    const conn = scratchConnection(connectionOf(ctx, server), row.scratch);
    await engines.get(server.engine).drill.drop(conn);
    await markDrillScratch(ctx, row.id, 'dropped');
    return `its scratch database ${row.scratch} was dropped`;
  } catch (err) {
    return `its scratch database ${row.scratch} could not be dropped (${redact(asCoffreError(err).message)}): drop it by hand`;
  }
}
