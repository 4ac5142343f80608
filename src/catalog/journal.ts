// The journals, read side: one row per backup run (`backups`), one per upload of its artifact (`backup_copies`,
// so a run sent to several destinations can say which copies landed), one per restore (`restores`). Rows are
// inserted `running` before any byte moves and finished with their outcome, all by catalog/runs.ts (the only
// writer of a run's status); a crashed run is found later by its pid and host.

import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { BackupCopiesTable, BackupsTable, CatalogSchema, RestoresTable } from './schema.ts';
import { isIdPrefix } from './lookup.ts';
import { notFound, usageError } from '../core/errors.ts';

export type RunStatus = 'running' | 'success' | 'failed' | 'interrupted';
/**
 * A backup row may also be a scheduled tick that did not run (`skipped`, with the reason in its message),
 * or `partial`: the artifact is complete and verified on some of the plan's destinations but not on all
 * (its copies say which); it restores and verifies like a success, but is not one.
 */
export const backupStatuses = ['running', 'success', 'partial', 'failed', 'interrupted', 'skipped'] as const;
export type BackupStatus = (typeof backupStatuses)[number];
/** Statuses whose artifact is complete somewhere: what restore, verify and retention work on. */
export const restorableStatuses: readonly BackupStatus[] = ['success', 'partial'];
/** `reindex`: the row was rebuilt from a manifest found in a destination (`coffre reindex`). */
export type RunTrigger = 'cli' | 'api' | 'schedule' | 'reindex';
export type CopyStatus = 'running' | 'success' | 'failed' | 'pruned';

type CamelKey<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelKey<T>>}` : S;
type Camel<T> = { [K in keyof T as CamelKey<K & string>]: T[K] };

export type BackupRecord = Omit<Camel<BackupsTable>, 'status' | 'trigger'> & { status: BackupStatus; trigger: RunTrigger };
export type BackupCopyRecord = Camel<BackupCopiesTable>;
export type RestoreRecord = Omit<Camel<RestoresTable>, 'status' | 'trigger' | 'replace'> & { status: RunStatus; trigger: RunTrigger; replace: boolean };

function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function rowToRecord<T>(row: object): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[camel(k)] = v;
  return out as T;
}

export function recordToRow(rec: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (v === undefined) continue;
    out[snake(k)] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }
  return out;
}

export function toBackup(row: BackupsTable): BackupRecord {
  return rowToRecord<BackupRecord>(row);
}

export function toRestore(row: RestoresTable): RestoreRecord {
  const r = rowToRecord<RestoreRecord>(row);
  r.replace = Number(row.replace) === 1;
  return r;
}

/** A backup run by full id or unique prefix (>= 6 characters); not_found when none. */
export async function getBackup(db: Kysely<CatalogSchema>, ref: string): Promise<BackupRecord> {
  const exact = await db.selectFrom('backups').selectAll().where('id', '=', ref).executeTakeFirst();
  if (exact) return toBackup(exact);
  if (!isIdPrefix(ref)) {
    throw usageError('BAD_JOURNAL_ID', `"${ref}" is not a journal id: give the id shown by {hint} (at least 6 characters of it).`, undefined, { see: 'journal' });
  }
  const rows = await db.selectFrom('backups').selectAll().where('id', 'like', `${ref.toLowerCase()}%`).limit(2).execute();
  if (rows.length > 1) throw usageError('AMBIGUOUS_ID', `The id prefix "${ref}" matches several backups: type more characters.`);
  if (rows.length === 0) throw notFound('BACKUP_NOT_FOUND', `No backup with id ${ref} in the journal: see {hint}.`, { see: 'journal' });
  return toBackup(rows[0]);
}

export interface BackupQuery {
  planId?: string;
  planName?: string;
  status?: BackupStatus;
  kind?: string;
  /** ISO times, inclusive. */
  from?: string;
  to?: string;
  limit?: number;
  offset?: number;
  /** false: leave out server runs' PostgreSQL globals rows. */
  globals?: boolean;
}

/** A backups query narrowed by a journal query's filters; a plan's rows include those imported for it and not adopted yet. */
function whereBackups<O>(query: SelectQueryBuilder<CatalogSchema, 'backups', O>, q: BackupQuery): SelectQueryBuilder<CatalogSchema, 'backups', O> {
  const planId = q.planId;
  if (planId) query = query.where((eb) => eb.or([eb('plan_id', '=', planId), eb.and([eb('import_plan_id', '=', planId), eb('plan_id', 'is', null)])]));
  if (q.planName) query = query.where('plan_name', '=', q.planName);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.kind) query = query.where('kind', '=', q.kind);
  if (q.from) query = query.where('started_at', '>=', q.from);
  if (q.to) query = query.where('started_at', '<=', q.to);
  if (q.globals === false) query = query.where((eb) => eb(eb.fn.coalesce('run_part', sql.lit('')), '!=', 'globals'));
  return query;
}

/** Backup runs, newest first; a plan's rows include those imported for it and not adopted yet. */
export async function listBackups(db: Kysely<CatalogSchema>, q: BackupQuery = {}): Promise<BackupRecord[]> {
  let query = whereBackups(db.selectFrom('backups').selectAll(), q)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit ?? 50);
  if (q.offset) query = query.offset(q.offset);
  return (await query.execute()).map(toBackup);
}

/** One entry of the backup journal: a backup's own row, or a server run (its databases' rows beneath it). */
export interface JournalEntryRef {
  entry: 'row' | 'run';
  id: string;
}

/**
 * The backup journal's entries, newest first, paged as entries: rows of their own and server runs, each run
 * one entry whatever its number of databases, a run that backed nothing up (its server could not be listed)
 * included. The filters apply to what the entry shows: a run's status, requested kind and start.
 */
export async function listJournalEntries(db: Kysely<CatalogSchema>, q: BackupQuery = {}): Promise<JournalEntryRef[]> {
  // `coalesce(run_id, '') = ''`, not `run_id is null`: SQLite would read that through the run_id index and sort
  // every row of its own; this way each side reads its newest rows off the started_at index (0.1 ms for a
  // page of 200,000 rows, as before entries).
  const own = whereBackups(
    db
      .selectFrom('backups')
      .select(['id', 'started_at', sql<string>`'row'`.as('entry')])
      .where((eb) => eb(eb.fn.coalesce('run_id', sql.lit('')), '=', '')),
    q,
  );
  let runs = db.selectFrom('server_runs').select(['id', 'started_at', sql<string>`'run'`.as('entry')]);
  if (q.planId) runs = runs.where('plan_id', '=', q.planId);
  if (q.planName) runs = runs.where('plan_name', '=', q.planName);
  if (q.status) runs = runs.where('status', '=', q.status);
  if (q.kind) runs = runs.where('requested_kind', '=', q.kind);
  if (q.from) runs = runs.where('started_at', '>=', q.from);
  if (q.to) runs = runs.where('started_at', '<=', q.to);
  // Each side's newest offset + limit entries, then the page of their union.
  const limit = q.limit ?? 50;
  const top = (q.offset ?? 0) + limit;
  let query = db
    .selectFrom(own.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(top).as('o'))
    .selectAll()
    .unionAll(db.selectFrom(runs.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(top).as('r')).selectAll())
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit);
  if (q.offset) query = query.offset(q.offset);
  return (await query.execute()).map((r) => ({ entry: r.entry as JournalEntryRef['entry'], id: r.id }));
}

/** Backup rows by id, in no particular order. */
export async function backupsById(db: Kysely<CatalogSchema>, ids: readonly string[]): Promise<BackupRecord[]> {
  const out: BackupRecord[] = [];
  for (let i = 0; i < ids.length; i += 500)
    out.push(
      ...(
        await db
          .selectFrom('backups')
          .selectAll()
          .where('id', 'in', ids.slice(i, i + 500))
          .execute()
      ).map(toBackup),
    );
  return out;
}

/** Backup runs still marked running on the given host. */
export async function runningBackups(db: Kysely<CatalogSchema>, host: string): Promise<BackupRecord[]> {
  return (await db.selectFrom('backups').selectAll().where('status', '=', 'running').where('host', '=', host).execute()).map(toBackup);
}

/** The uploads of one backup run. */
export async function listCopies(db: Kysely<CatalogSchema>, backupId: string): Promise<BackupCopyRecord[]> {
  return (await db.selectFrom('backup_copies').selectAll().where('backup_id', '=', backupId).orderBy('created_at').orderBy('id').execute()).map((r) =>
    rowToRecord<BackupCopyRecord>(r),
  );
}

/** The uploads of several backup runs, grouped by run id. */
export async function listCopiesOf(db: Kysely<CatalogSchema>, backupIds: readonly string[]): Promise<Map<string, BackupCopyRecord[]>> {
  const out = new Map<string, BackupCopyRecord[]>();
  for (let i = 0; i < backupIds.length; i += 500) {
    const rows = await db
      .selectFrom('backup_copies')
      .selectAll()
      .where('backup_id', 'in', backupIds.slice(i, i + 500))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    for (const r of rows) {
      const rec = rowToRecord<BackupCopyRecord>(r);
      const list = out.get(rec.backupId) ?? [];
      list.push(rec);
      out.set(rec.backupId, list);
    }
  }
  return out;
}

/** A restore run by exact id. */
export async function getRestore(db: Kysely<CatalogSchema>, id: string): Promise<RestoreRecord | undefined> {
  const row = await db.selectFrom('restores').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRestore(row) : undefined;
}

/** Restore runs, newest first; `offset` skips that many rows (API pages). */
export async function listRestores(db: Kysely<CatalogSchema>, q: { limit?: number; offset?: number } = {}): Promise<RestoreRecord[]> {
  // The id (UUIDv7) breaks ties between runs started in the same millisecond, so pages never overlap.
  let query = db
    .selectFrom('restores')
    .selectAll()
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit ?? 50);
  if (q.offset) query = query.offset(q.offset);
  return (await query.execute()).map(toRestore);
}

/** Restore runs still marked running on the given host. */
export async function runningRestores(db: Kysely<CatalogSchema>, host: string): Promise<RestoreRecord[]> {
  return (await db.selectFrom('restores').selectAll().where('status', '=', 'running').where('host', '=', host).execute()).map(toRestore);
}

/**
 * The runs of a plan still marked `running` (by any process, on any host): its rows, and its server runs'
 * groups (between two databases of a server run, or while it lists them, no row of it is running).
 */
export async function runningBackupsOfPlan(
  db: Kysely<CatalogSchema>,
  planId: string,
): Promise<Array<{ id: string; host: string | null; pid: number | null; jobId: string | null }>> {
  const [rows, groups] = await Promise.all([
    db.selectFrom('backups').select(['id', 'host', 'pid', 'job_id']).where('plan_id', '=', planId).where('status', '=', 'running').execute(),
    db.selectFrom('server_runs').select(['id', 'host', 'pid', 'job_id']).where('plan_id', '=', planId).where('status', '=', 'running').execute(),
  ]);
  return [...rows, ...groups].map((r) => ({ id: r.id, host: r.host, pid: r.pid, jobId: r.job_id ?? null }));
}

/** The rows of a cluster job (its attempts) still marked `running`: its own, and those of its server runs. */
export async function runningBackupsOfJob(db: Kysely<CatalogSchema>, jobId: string): Promise<BackupRecord[]> {
  const rows = await db
    .selectFrom('backups')
    .selectAll()
    .where('status', '=', 'running')
    .where((eb) => eb.or([eb('job_id', '=', jobId), eb('run_id', 'in', eb.selectFrom('server_runs').select('id').where('job_id', '=', jobId))]))
    .execute();
  return rows.map(toBackup);
}

/**
 * Cluster rows still `running` whose lease is older than `beforeIso`: their own heartbeat, or for a
 * database of a server run, its group's.
 */
export async function staleBackups(db: Kysely<CatalogSchema>, beforeIso: string): Promise<BackupRecord[]> {
  const rows = await db
    .selectFrom('backups')
    .selectAll()
    .where('status', '=', 'running')
    .where((eb) =>
      eb.or([
        eb.and([eb('heartbeat_at', 'is not', null), eb('heartbeat_at', '<', beforeIso)]),
        eb('run_id', 'in', eb.selectFrom('server_runs').select('id').where('heartbeat_at', 'is not', null).where('heartbeat_at', '<', beforeIso)),
      ]),
    )
    .execute();
  return rows.map(toBackup);
}

/** True for a row imported by `coffre reindex` that no person has adopted yet: it counts for no plan. */
export function isPendingImport(r: Pick<BackupRecord, 'trigger' | 'adoptedAt'>): boolean {
  return r.trigger === 'reindex' && !r.adoptedAt;
}

/** Imported rows attached to a plan by id and not adopted: what a prune holds aside and names. */
export async function pendingImportsOfPlan(db: Kysely<CatalogSchema>, planId: string): Promise<BackupRecord[]> {
  const rows = await db
    .selectFrom('backups')
    .selectAll()
    .where('import_plan_id', '=', planId)
    .where('plan_id', 'is', null)
    .where('adopted_at', 'is', null)
    .where('status', 'in', [...restorableStatuses])
    .orderBy('started_at')
    .execute();
  return rows.map(toBackup);
}

/**
 * A plan's backups whose artifact is complete somewhere (success or partial): what retention works on.
 * Rows imported by reindex and not adopted have no plan_id, so they are never among them.
 */
export async function restorableBackupsOfPlan(db: Kysely<CatalogSchema>, planId: string): Promise<BackupRecord[]> {
  return (
    await db
      .selectFrom('backups')
      .selectAll()
      .where('plan_id', '=', planId)
      .where('status', 'in', [...restorableStatuses])
      .execute()
  ).map(toBackup);
}
