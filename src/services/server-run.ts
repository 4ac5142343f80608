// One run of a plan on a server target (issue 15): the group. It lists the server's databases through the
// engine and applies the target's filters (services/server-databases.ts), then backs each database up as
// its own ordinary run (services/backup-run.ts: its own row, artifact, manifest, chain, copies, events),
// `parallel` at a time, each row carrying the group's id. A PostgreSQL server also gets one more row: its
// globals (pg_dumpall --globals-only). One database failing never stops the others.
//
// The group's row (server_runs) is its own status: `success` when every row succeeded, `failed` when none
// did, `partial` otherwise (naming each database that failed; a row `partial` across destinations makes the
// group partial too). Databases new since the previous run are named (each row says so, and being new it
// has no parent: a full); those gone since are named in the group's message, their rows untouched.

import { hostname } from 'node:os';
import { newId, isoNow } from '../core/ids.ts';
import { asCoffreError, failure } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { describeServerRun, finishServerRun, startServerRun } from '../catalog/runs.ts';
import { previousRunDatabases, type ServerRunRecord } from '../catalog/server-runs.ts';
import type { PlanRecord } from '../catalog/plans.ts';
import type { TargetRecord } from '../catalog/targets.ts';
import type { ServiceContext } from './service-context.ts';
import { ensurePlanIdle, runDatabaseBackup, type RunBackupOptions, type ServerPart } from './backup-run.ts';
import { connectionOf } from './targets.ts';
import { serverDatabases } from './server-databases.ts';
import { checkKind } from './plans.ts';
import { describeServerRunView, groupView } from './server-view.ts';
import type { BackupView, RunOutcome } from './backup-view.ts';

/** The label of a run's globals row (its `database` column). */
export const GLOBALS_LABEL = '(globals)';

/** Runs `fn` over `items`, at most `limit` at once, in order of start. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** A plan's run on a server target, from listing its databases to the group's finished row. */
export async function runServerBackup(ctx: ServiceContext, options: RunBackupOptions, plan: PlanRecord, target: TargetRecord): Promise<RunOutcome<BackupView>> {
  await ensurePlanIdle(ctx, plan);
  const group = await startGroup(ctx, options, plan, target);
  const finish = async (patch: Partial<ServerRunRecord> & { status: 'success' | 'partial' | 'failed' | 'interrupted' }) => {
    const finishedAt = isoNow();
    Object.assign(group, patch, { finishedAt, durationMs: Date.parse(finishedAt) - Date.parse(group.startedAt) });
    await finishServerRun(ctx, group.id, { ...patch, finishedAt, durationMs: group.durationMs! });
  };

  let parts: ServerPart[];
  try {
    parts = await listParts(ctx, group, plan.id, target, options.signal);
  } catch (err) {
    const error = asCoffreError(err, 'SERVER_LIST_FAILED');
    await finish({ status: options.signal?.aborted ? 'interrupted' : 'failed', message: redact(`The databases of the server could not be listed: ${error.message}`) });
    return { view: await describeServerRunView(ctx, group), error };
  }
  const tally = await backUpParts(ctx, options, parts, target.parallel ?? 1);

  const total = parts.length;
  const { ok, failed, partialRows } = tally;
  const status = options.signal?.aborted ? 'interrupted' : total > 0 && ok === 0 ? 'failed' : failed.length || partialRows ? 'partial' : 'success';
  const message = summary(group, target, tally, total);
  await finish({ status, message: redact(message), failed });
  const view = await describeServerRunView(ctx, group);
  if (status === 'success') return { view };
  const error =
    status === 'interrupted'
      ? failure('INTERRUPTED', 'The server run was interrupted.')
      : status === 'failed'
        ? failure('SERVER_RUN_FAILED', `Server run ${group.id} failed: ${message}`)
        : failure('SERVER_RUN_PARTIAL', `Server run ${group.id} is partial: ${message}`);
  return { view, error };
}

/** The group's row, journaled `running` (the job runner's journalId is the group's id). */
async function startGroup(ctx: ServiceContext, options: RunBackupOptions, plan: PlanRecord, target: TargetRecord): Promise<ServerRunRecord> {
  const started = new Date();
  const group: ServerRunRecord = {
    id: newId(started.getTime()),
    planId: plan.id,
    planName: plan.name,
    targetId: target.id,
    targetName: target.name,
    engine: target.engine,
    status: 'running',
    trigger: options.trigger ?? 'cli',
    requestedKind: checkKind(options.kind ?? plan.kind),
    databases: [],
    newDatabases: [],
    vanished: [],
    failed: [],
    message: null,
    startedAt: isoNow(started),
    finishedAt: null,
    durationMs: null,
    pid: process.pid,
    host: hostname(),
  };
  await startServerRun(ctx, group);
  // GET /api/journals/:id answers with the group and its rows.
  options.onStarted?.(groupView(group, []));
  return group;
}

/**
 * The server's databases through the target's filters, recorded on the group with those new and gone since
 * the plan's previous run; one part per database (a new one is told its first backup is a full), and the
 * globals for PostgreSQL.
 */
async function listParts(ctx: ServiceContext, group: ServerRunRecord, planId: string, target: TargetRecord, signal: AbortSignal | undefined): Promise<ServerPart[]> {
  const conn = connectionOf(ctx, target);
  const databases = await serverDatabases(conn, { include: target.includeGlobs ?? [], exclude: target.excludeGlobs ?? [] }, signal);
  const previous = await previousRunDatabases(ctx.catalog.db, planId, group.id);
  const newDatabases = previous ? databases.filter((d) => !previous.includes(d)) : [];
  const vanished = previous ? previous.filter((d) => !databases.includes(d)) : [];
  Object.assign(group, { databases, newDatabases, vanished });
  await describeServerRun(ctx, group.id, { databases, newDatabases, vanished });
  const parts: ServerPart[] = databases.map((database) => ({
    runId: group.id,
    database,
    part: 'database',
    note: newDatabases.includes(database) ? 'A new database since the last run of the plan: its first backup is a full.' : undefined,
  }));
  if (target.engine === 'postgres') parts.push({ runId: group.id, database: GLOBALS_LABEL, part: 'globals' });
  return parts;
}

interface Tally {
  /** Rows that succeeded or reached some destinations. */
  ok: number;
  /** Rows `partial` across destinations. */
  partialRows: number;
  /** The databases whose row failed, was refused, or never started (aborted). */
  failed: string[];
  /** Each failure with its reason, for the group's message. */
  failures: string[];
}

/** Backs up each part as its own run, `parallel` at a time; progress is the bytes of every part so far. */
async function backUpParts(ctx: ServiceContext, options: RunBackupOptions, parts: ServerPart[], parallel: number): Promise<Tally> {
  const tally: Tally = { ok: 0, partialRows: 0, failed: [], failures: [] };
  let done = 0;
  const current = new Map<string, number>();
  const onProgress = options.onProgress
    ? (label: string) => (bytes: number) => {
        current.set(label, bytes);
        options.onProgress!(done + [...current.values()].reduce((a, b) => a + b, 0));
      }
    : undefined;
  const { onStarted: _ignored, ...rest } = options;
  await pool(parts, parallel, async (part) => {
    if (options.signal?.aborted) {
      tally.failed.push(part.database);
      return;
    }
    try {
      const outcome = await runDatabaseBackup(ctx, { ...rest, onProgress: onProgress?.(part.database) }, part);
      if (outcome.view.status === 'success') tally.ok++;
      else if (outcome.view.status === 'partial') {
        tally.ok++;
        tally.partialRows++;
      } else {
        tally.failed.push(part.database);
        tally.failures.push(`${part.database} (${outcome.view.message ?? outcome.error?.message ?? 'failed'})`);
      }
      done += outcome.view.rawSizeBytes ?? 0;
    } catch (err) {
      // Refused before its row existed (a broken plan, a bad option): the group says why.
      tally.failed.push(part.database);
      tally.failures.push(`${part.database} (${asCoffreError(err).message})`);
    } finally {
      current.delete(part.database);
    }
  });
  return tally;
}

/** The group's message: how many made it, each failure, the databases new and gone since the last run. */
function summary(group: ServerRunRecord, target: TargetRecord, tally: Tally, total: number): string {
  const { databases, newDatabases, vanished } = group;
  return [
    total === 0
      ? 'No database of the server matched the filters.'
      : `Backed up ${tally.ok} of ${total} (${databases.length} database${databases.length === 1 ? '' : 's'}${target.engine === 'postgres' ? ' and the globals' : ''}).`,
    tally.failures.length ? `Failed: ${tally.failures.join('; ')}.` : '',
    tally.partialRows ? `${tally.partialRows} reached only some destinations.` : '',
    newDatabases.length ? `New database${newDatabases.length === 1 ? '' : 's'} since the last run: ${newDatabases.join(', ')}.` : '',
    vanished.length ? `Gone since the last run: ${vanished.join(', ')} (their backups are kept and restorable).` : '',
  ]
    .filter(Boolean)
    .join(' ');
}
