// Restoring a whole server run (issue 15) into a server target: each database's row into the database of
// the same name there, one ordinary restore each (services/restores.ts: chain checked, SQL filtered,
// journaled). Before anything is touched, every database of the run is inspected on the target: one that
// exists and holds data refuses the whole restore (COFFRE_E_TARGET_NOT_EMPTY, naming them) unless replace.
// With `globals`, the run's PostgreSQL globals are restored instead (roles missing on the target).

import { conflict, usageError, type CoffreError } from '../core/errors.ts';
import { withDatabase } from '../core/connection.ts';
import { engines } from '../engines/index.ts';
import { backupsOfRun, getServerRun, type ServerRunRecord } from '../catalog/server-runs.ts';
import { restorableStatuses, type BackupRecord } from '../catalog/journal.ts';
import type { TargetRecord } from '../catalog/targets.ts';
import type { ServiceContext } from './service-context.ts';
import { connectionOf, findTargetRecord } from './targets.ts';
import { runRestore, type RestoreView, type RunRestoreOptions } from './restores.ts';

export interface ServerRestoreOptions extends Pick<RunRestoreOptions, 'identities' | 'trigger' | 'signal' | 'onStarted' | 'onProgress'> {
  run: string;
  to: string;
  replace?: boolean;
  /** Restore the run's PostgreSQL globals (roles) rather than its databases. */
  globals?: boolean;
}

export interface ServerRestoreView {
  runId: string;
  target: string;
  status: 'success' | 'partial' | 'failed';
  restores: RestoreView[];
  message: string;
}

/** A whole-run restore checked before anything is touched: the run, the server target, the rows to restore. */
export interface CheckedServerRestore {
  run: ServerRunRecord;
  target: TargetRecord;
  rows: BackupRecord[];
}

/**
 * Checks a whole-run restore (or a globals one) before anything is touched: a server target of the run's
 * engine, rows to restore, and, without replace, no database of the run that exists there and holds data
 * (a conflict naming them all). The CLI and the API's job runner both call this first.
 */
export async function checkServerRestore(ctx: ServiceContext, options: Pick<ServerRestoreOptions, 'run' | 'to' | 'replace' | 'globals' | 'signal'>): Promise<CheckedServerRestore> {
  const run = await getServerRun(ctx.catalog.db, options.run);
  const target = await findTargetRecord(ctx, options.to);
  if (!target.server)
    throw usageError(
      'SERVER_TARGET_NEEDED',
      `Target "${target.name}" is one database: restore a whole run into a server target, or restore one of its rows into "${target.name}" by the row's journal id.`,
      { field: 'targetId' },
    );
  if (target.engine !== run.engine) throw usageError('FORMAT_MISMATCH', `Run ${run.id} is of a ${run.engine} server; "${target.name}" is ${target.engine}.`, { field: 'targetId' });
  const rows = (await backupsOfRun(ctx.catalog.db, run.id)).filter(
    (r) => restorableStatuses.includes(r.status) && (options.globals ? r.runPart === 'globals' : r.runPart !== 'globals'),
  );
  if (rows.length === 0)
    throw usageError(
      'NOTHING_TO_RESTORE',
      options.globals ? `Run ${run.id} has no restorable globals (only PostgreSQL server runs store them).` : `Run ${run.id} has no restorable database.`,
    );
  if (!options.globals && !options.replace) {
    // Checked for every database before the first is touched.
    const engine = engines.get(target.engine);
    const conn = connectionOf(ctx, target);
    const busy: string[] = [];
    for (const r of rows) {
      const state = await engine.inspect(withDatabase(conn, r.database), options.signal);
      if (state.exists && !state.empty) busy.push(r.database);
    }
    if (busy.length) {
      throw conflict(
        'TARGET_NOT_EMPTY',
        `Target "${target.name}" already holds data in ${busy.join(', ')}: nothing was restored. Add {hint} to overwrite them, or restore into another server.`,
        { databases: busy },
        { flag: 'replace' },
      );
    }
  }
  return { run, target, rows };
}

/** Restores a server run's databases (or its globals) into a server target. */
export async function restoreServerRun(ctx: ServiceContext, options: ServerRestoreOptions): Promise<{ view: ServerRestoreView; error?: CoffreError }> {
  return restoreCheckedRun(ctx, await checkServerRestore(ctx, options), options);
}

/** Restores the rows of a checked whole-run restore, one ordinary restore each; one failing never stops the others. */
export async function restoreCheckedRun(
  ctx: ServiceContext,
  { run, target, rows }: CheckedServerRestore,
  options: Omit<ServerRestoreOptions, 'run' | 'to'>,
): Promise<{ view: ServerRestoreView; error?: CoffreError }> {
  const restores: RestoreView[] = [];
  const failed: string[] = [];
  let error: CoffreError | undefined;
  for (const r of rows) {
    const outcome = await runRestore(ctx, {
      backup: r.id,
      to: target.id,
      replace: options.replace === true,
      identities: options.identities,
      trigger: options.trigger,
      signal: options.signal,
      onStarted: options.onStarted,
      onProgress: options.onProgress,
    });
    restores.push(outcome.view);
    if (outcome.error) {
      failed.push(`${r.database} (${outcome.error.message})`);
      error ??= outcome.error;
    }
  }
  const status = failed.length === 0 ? 'success' : failed.length === rows.length ? 'failed' : 'partial';
  const message = options.globals
    ? (restores[0]?.message ?? '')
    : `Restored ${rows.length - failed.length} of ${rows.length} database(s) of run ${run.id} into ${target.name}.${failed.length ? ` Failed: ${failed.join('; ')}.` : ''}`;
  return { view: { runId: run.id, target: target.name, status, restores, message }, error };
}
