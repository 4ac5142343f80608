// The server runs table (migration 0014): one row per run of a plan on a server target, grouping that run's
// per-database `backups` rows (backups.run_id). Its status is written by catalog/runs.ts; this file reads.

import type { Kysely } from 'kysely';
import type { CatalogSchema, ServerRunsTable } from './schema.ts';
import { rowToRecord, toBackup, type BackupRecord, type RunTrigger } from './journal.ts';
import { notFound } from '../core/errors.ts';

export type ServerRunStatus = 'running' | 'success' | 'partial' | 'failed' | 'interrupted';

export interface ServerRunRecord {
  id: string;
  planId: string | null;
  planName: string;
  targetId: string | null;
  targetName: string;
  engine: string;
  status: ServerRunStatus;
  trigger: RunTrigger;
  requestedKind: string;
  databases: string[];
  newDatabases: string[];
  vanished: string[];
  failed: string[];
  message: string | null;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  pid: number | null;
  host: string | null;
  /** Cluster mode: the pg-boss job and the last heartbeat (migration 0015), null otherwise. */
  jobId?: string | null;
  heartbeatAt?: string | null;
}

const listColumns = ['databases', 'new_databases', 'vanished', 'failed'] as const;

export function toServerRun(row: ServerRunsTable): ServerRunRecord {
  const r = rowToRecord<Record<string, unknown>>(row);
  for (const c of listColumns) {
    const key = c.replace(/_([a-z])/g, (_, x: string) => x.toUpperCase());
    r[key] = row[c] ? JSON.parse(row[c]!) : [];
  }
  return r as unknown as ServerRunRecord;
}

export function serverRunToRow(r: Partial<ServerRunRecord>): Partial<ServerRunsTable> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) continue;
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = Array.isArray(v) ? JSON.stringify(v) : v;
  }
  return out as Partial<ServerRunsTable>;
}

/** A server run by exact id, or undefined. */
export async function findServerRun(db: Kysely<CatalogSchema>, id: string): Promise<ServerRunRecord | undefined> {
  const row = await db.selectFrom('server_runs').selectAll().where('id', '=', id).executeTakeFirst();
  if (row) return toServerRun(row);
  if (id.length >= 6) {
    const rows = await db.selectFrom('server_runs').selectAll().where('id', 'like', `${id.toLowerCase()}%`).limit(2).execute();
    if (rows.length === 1) return toServerRun(rows[0]);
  }
  return undefined;
}

/** A server run by id or unique prefix; not_found otherwise. */
export async function getServerRun(db: Kysely<CatalogSchema>, id: string): Promise<ServerRunRecord> {
  const run = await findServerRun(db, id);
  if (!run) throw notFound('RUN_NOT_FOUND', `No server run ${id}: see {hint}.`, { see: 'journal' });
  return run;
}

/** The backup rows of a server run (each database, the globals), by database name. */
export async function backupsOfRun(db: Kysely<CatalogSchema>, runId: string): Promise<BackupRecord[]> {
  return (await db.selectFrom('backups').selectAll().where('run_id', '=', runId).orderBy('database').execute()).map(toBackup);
}

/** The backup rows of several server runs, grouped by run id. */
export async function backupsOfRuns(db: Kysely<CatalogSchema>, runIds: readonly string[]): Promise<Map<string, BackupRecord[]>> {
  const out = new Map<string, BackupRecord[]>();
  if (runIds.length === 0) return out;
  const rows = await db
    .selectFrom('backups')
    .selectAll()
    .where('run_id', 'in', [...runIds])
    .orderBy('database')
    .execute();
  for (const r of rows.map(toBackup)) {
    const list = out.get(r.runId!) ?? [];
    list.push(r);
    out.set(r.runId!, list);
  }
  return out;
}

/** Server runs by id. */
export async function serverRunsById(db: Kysely<CatalogSchema>, ids: readonly string[]): Promise<Map<string, ServerRunRecord>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('server_runs')
    .selectAll()
    .where('id', 'in', [...ids])
    .execute();
  return new Map(rows.map((r) => [r.id, toServerRun(r)]));
}

/** The latest finished server run of each plan that has one (for /api/status and metrics). */
export async function latestServerRuns(db: Kysely<CatalogSchema>): Promise<ServerRunRecord[]> {
  const rows = await db.selectFrom('server_runs').selectAll().where('status', '!=', 'running').orderBy('started_at', 'desc').limit(1000).execute();
  const seen = new Set<string>();
  const out: ServerRunRecord[] = [];
  for (const r of rows) {
    const key = r.plan_id ?? r.plan_name;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(toServerRun(r));
  }
  return out;
}

/** The database names backed up (successfully or not) by the latest earlier finished run of a plan. */
export async function previousRunDatabases(db: Kysely<CatalogSchema>, planId: string, beforeId: string): Promise<string[] | undefined> {
  const row = await db
    .selectFrom('server_runs')
    .selectAll()
    .where('plan_id', '=', planId)
    .where('id', '!=', beforeId)
    .where('status', '!=', 'running')
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? toServerRun(row).databases : undefined;
}

/** Server runs still marked running on the given host (for the recovery sweep). */
export async function runningServerRuns(db: Kysely<CatalogSchema>, host: string): Promise<ServerRunRecord[]> {
  return (await db.selectFrom('server_runs').selectAll().where('status', '=', 'running').where('host', '=', host).execute()).map(toServerRun);
}

/** The server runs of a cluster job (its attempts) still marked running. */
export async function runningServerRunsOfJob(db: Kysely<CatalogSchema>, jobId: string): Promise<ServerRunRecord[]> {
  return (await db.selectFrom('server_runs').selectAll().where('status', '=', 'running').where('job_id', '=', jobId).execute()).map(toServerRun);
}

/** Cluster server runs still marked running whose heartbeat is older than `beforeIso`. */
export async function staleServerRuns(db: Kysely<CatalogSchema>, beforeIso: string): Promise<ServerRunRecord[]> {
  return (await db.selectFrom('server_runs').selectAll().where('status', '=', 'running').where('heartbeat_at', 'is not', null).where('heartbeat_at', '<', beforeIso).execute()).map(
    toServerRun,
  );
}

/** The latest finished server run of a plan, if it has one (the notifications' view of its health). */
export async function latestServerRunOf(db: Kysely<CatalogSchema>, planId: string): Promise<ServerRunRecord | undefined> {
  const row = await db
    .selectFrom('server_runs')
    .selectAll()
    .where('plan_id', '=', planId)
    .where('status', '!=', 'running')
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? toServerRun(row) : undefined;
}
