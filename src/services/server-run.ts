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
  const started = new Date();
  const runId = newId(started.getTime());
  const group: ServerRunRecord = {
    id: runId,
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
  // The job runner's journalId is the run's (GET /api/journals/:id answers with the group and its rows).
  options.onStarted?.(groupView(group, []));
  const finish = async (patch: Partial<ServerRunRecord> & { status: 'success' | 'partial' | 'failed' | 'interrupted' }) => {
    const finishedAt = isoNow();
    Object.assign(group, patch, { finishedAt, durationMs: Date.parse(finishedAt) - started.getTime() });
    await finishServerRun(ctx, runId, { ...patch, finishedAt, durationMs: group.durationMs! });
  };

  let databases: string[];
  try {
    const conn = connectionOf(ctx, target);
    databases = await serverDatabases(conn, { include: target.includeGlobs ?? [], exclude: target.excludeGlobs ?? [] }, options.signal);
  } catch (err) {
    const error = asCoffreError(err, 'SERVER_LIST_FAILED');
    await finish({ status: options.signal?.aborted ? 'interrupted' : 'failed', message: redact(`The databases of the server could not be listed: ${error.message}`) });
    return { view: await describeServerRunView(ctx, group), error };
  }
  const previous = await previousRunDatabases(ctx.catalog.db, plan.id, runId);
  const newDatabases = previous ? databases.filter((d) => !previous.includes(d)) : [];
  const vanished = previous ? previous.filter((d) => !databases.includes(d)) : [];
  Object.assign(group, { databases, newDatabases, vanished });
  await describeServerRun(ctx, runId, { databases, newDatabases, vanished });

  const parts: ServerPart[] = databases.map((database) => ({
    runId,
    database,
    part: 'database',
    note: newDatabases.includes(database) ? 'A new database since the last run of the plan: its first backup is a full.' : undefined,
  }));
  if (target.engine === 'postgres') parts.push({ runId, database: GLOBALS_LABEL, part: 'globals' });
  const failed: string[] = [];
  const failures: string[] = [];
  let partialRows = 0;
  let ok = 0;
  // Progress: the bytes of every database so far.
  let done = 0;
  const current = new Map<string, number>();
  const onProgress = options.onProgress
    ? (label: string) => (bytes: number) => {
        current.set(label, bytes);
        options.onProgress!(done + [...current.values()].reduce((a, b) => a + b, 0));
      }
    : undefined;
  await pool(parts, target.parallel ?? 1, async (part) => {
    if (options.signal?.aborted) {
      failed.push(part.database);
      return;
    }
    try {
      const { onStarted: _ignored, ...rest } = options;
      const outcome = await runDatabaseBackup(ctx, { ...rest, onProgress: onProgress?.(part.database) }, part);
      if (outcome.view.status === 'success') ok++;
      else if (outcome.view.status === 'partial') {
        ok++;
        partialRows++;
      } else {
        failed.push(part.database);
        failures.push(`${part.database} (${outcome.view.message ?? outcome.error?.message ?? 'failed'})`);
      }
      done += outcome.view.rawSizeBytes ?? 0;
    } catch (err) {
      // Refused before its row existed (a broken plan, a bad option): the group says why.
      failed.push(part.database);
      failures.push(`${part.database} (${asCoffreError(err).message})`);
    } finally {
      current.delete(part.database);
    }
  });

  const total = parts.length;
  const status = options.signal?.aborted ? 'interrupted' : total > 0 && ok === 0 ? 'failed' : failed.length || partialRows ? 'partial' : 'success';
  const message = [
    total === 0
      ? 'No database of the server matched the filters.'
      : `Backed up ${ok} of ${total} (${databases.length} database${databases.length === 1 ? '' : 's'}${target.engine === 'postgres' ? ' and the globals' : ''}).`,
    failures.length ? `Failed: ${failures.join('; ')}.` : '',
    partialRows ? `${partialRows} reached only some destinations.` : '',
    newDatabases.length ? `New database${newDatabases.length === 1 ? '' : 's'} since the last run: ${newDatabases.join(', ')}.` : '',
    vanished.length ? `Gone since the last run: ${vanished.join(', ')} (their backups are kept and restorable).` : '',
  ]
    .filter(Boolean)
    .join(' ');
  await finish({ status, message: redact(message), failed });
  const view = await describeServerRunView(ctx, group);
  if (status === 'success') return { view };
  const error =
    status === 'interrupted'
      ? failure('INTERRUPTED', 'The server run was interrupted.')
      : status === 'failed'
        ? failure('SERVER_RUN_FAILED', `Server run ${runId} failed: ${message}`)
        : failure('SERVER_RUN_PARTIAL', `Server run ${runId} is partial: ${message}`);
  return { view, error };
}
