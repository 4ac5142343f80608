// The restore wizard's pre-flight: what a restore of this backup into this target would meet, without
// writing anything. It reads the journal row (format, versions, chain), connects to the target (reachable?
// server version) and inspects it (does the database exist, does it hold data?), and lists the problems that
// would refuse or fail the restore. A non-empty target is not a problem but needs `replace`, which the
// dashboard asks the user to confirm by typing the target's name.

import { asCoffreError, usageError } from '../core/errors.ts';
import { engines } from '../engines/index.ts';
import { getBackup, restorableStatuses } from '../catalog/journal.ts';
import { getTarget as targetById } from '../catalog/targets.ts';
import type { ServiceContext } from './service-context.ts';
import { connectionOf, findTargetRecord } from './targets.ts';
import { chainOf } from './chains.ts';
import { checkImplicitTarget } from './restores.ts';

export interface Preflight {
  backup: {
    id: string;
    plan: string;
    status: string;
    kind: string;
    engine: string;
    database: string;
    rawFormat: string | null;
    compression: string;
    sizeBytes: number | null;
    rawSizeBytes: number | null;
    serverVersion: string | null;
    tool: string | null;
    startedAt: string;
    /** The ids from the full to this backup (one for a full). */
    chain: string[];
  };
  target: {
    id: string;
    name: string;
    engine: string;
    database: string;
    reachable: boolean;
    serverVersion: string | null;
    exists: boolean | null;
    empty: boolean | null;
    error: { code: string; message: string } | null;
  };
  /** Whatever would refuse or fail the restore; empty when it can go. */
  problems: string[];
  /** The target holds data: the restore needs replace (the dashboard asks for the name typed again). */
  needsReplace: boolean;
  ok: boolean;
}

/** Checks a restore of backup `journalId` into `targetRef` (default: the backup's own target), changing nothing. */
export async function restorePreflight(ctx: ServiceContext, journalId: string, targetRef?: string, signal?: AbortSignal): Promise<Preflight> {
  const db = ctx.catalog.db;
  const backup = await getBackup(db, journalId);
  const problems: string[] = [];
  if (!restorableStatuses.includes(backup.status) || !backup.artifactKey) problems.push(`Backup ${backup.id} is ${backup.status}: only successful backups can be restored.`);
  let chain = [backup.id];
  if (backup.kind !== 'full' && problems.length === 0) {
    try {
      chain = (await chainOf(ctx, backup)).map((l) => l.id);
    } catch (err) {
      problems.push(asCoffreError(err).message);
    }
  }
  if (!targetRef) checkImplicitTarget(backup);
  const target = targetRef ? await findTargetRecord(ctx, targetRef) : backup.targetId ? await targetById(db, backup.targetId) : undefined;
  if (!target) throw usageError('MISSING_TARGET', `The target of backup ${backup.id} ("${backup.targetName}") was removed: choose a target.`, { field: 'targetId' });
  if (target.engine !== backup.engine) problems.push(`Backup ${backup.id} is a ${backup.engine} dump, which the ${target.engine} target "${target.name}" cannot restore.`);
  const conn = connectionOf(ctx, target);
  const engine = engines.get(target.engine);
  const t: Preflight['target'] = {
    id: target.id,
    name: target.name,
    engine: target.engine,
    database: conn.database,
    reachable: false,
    serverVersion: null,
    exists: null,
    empty: null,
    error: null,
  };
  // Inspect first: a database (or SQLite file) that does not exist yet is fine, the restore creates it,
  // but the probe would fail on it; the server version is asked only of one that exists.
  try {
    const state = await engine.inspect(conn, signal);
    t.exists = state.exists;
    t.empty = state.empty;
    t.reachable = true;
    if (state.exists) t.serverVersion = (await engine.probe(conn, signal)).serverVersion ?? null;
  } catch (err) {
    const e = asCoffreError(err);
    t.error = { code: e.code, message: e.message };
    problems.push(`The target "${target.name}" cannot be reached: ${e.message}`);
  }
  const needsReplace = t.empty === false;
  return {
    backup: {
      id: backup.id,
      plan: backup.planName,
      status: backup.status,
      kind: backup.kind,
      engine: backup.engine,
      database: backup.database,
      rawFormat: backup.rawFormat,
      compression: backup.compression,
      sizeBytes: backup.sizeBytes,
      rawSizeBytes: backup.rawSizeBytes,
      serverVersion: backup.serverVersion,
      tool: backup.tool,
      startedAt: backup.startedAt,
      chain,
    },
    target: t,
    problems,
    needsReplace,
    ok: problems.length === 0,
  };
}
