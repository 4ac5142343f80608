// Read-only summaries of the journal for `coffre status`, the RPO check and /metrics: the latest run of each plan
// (or of each plan and kind) among given statuses, and run counts. One query each (window functions, which
// SQLite and PostgreSQL both have), so a scrape costs the same whatever the journal's length in round trips.

import { sql, type Kysely } from 'kysely';
import type { BackupsTable, CatalogSchema } from './schema.ts';
import type { BackupRecord } from './journal.ts';

type Db = Kysely<CatalogSchema>;

function camel(row: Record<string, unknown>): BackupRecord {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (k !== 'rn') out[k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = v;
  return out as unknown as BackupRecord;
}

/**
 * The latest backup row of each plan (by plan id, or by plan id and kind) whose status is one of `statuses`;
 * with `serverRunRows: false`, rows that are one database of a server run are left out.
 */
export async function latestBackups(
  db: Db,
  statuses: readonly string[],
  byKind = false,
  planId?: string,
  options: { serverRunRows?: boolean } = {},
): Promise<Map<string, BackupRecord>> {
  if (statuses.length === 0) return new Map();
  const partition = byKind ? sql`plan_id, kind` : sql`plan_id`;
  const onePlan = planId === undefined ? sql`` : sql`and plan_id = ${planId}`;
  const ownRows = options.serverRunRows === false ? sql`and run_id is null` : sql``;
  const r = await sql<BackupsTable & { rn: number }>`
    select * from (
      select b.*, row_number() over (partition by ${partition} order by started_at desc, id desc) as rn
      from backups b where plan_id is not null ${onePlan} ${ownRows} and status in (${sql.join(statuses.map((s) => sql`${s}`))})
    ) x where rn = 1`.execute(db);
  const out = new Map<string, BackupRecord>();
  for (const row of r.rows) {
    const rec = camel(row as unknown as Record<string, unknown>);
    out.set(byKind ? `${rec.planId}\u0000${rec.kind}` : rec.planId!, rec);
  }
  return out;
}

/** Finished backup runs counted by plan name, kind and status. */
export async function backupRunCounts(db: Db): Promise<Array<{ plan: string; kind: string; status: string; count: number }>> {
  const rows = await db
    .selectFrom('backups')
    .select(['plan_name', 'kind', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '!=', 'running')
    // An imported row not adopted counts for no plan, whatever plan name its manifest claims.
    .where((eb) => eb.or([eb('trigger', '!=', 'reindex'), eb('adopted_at', 'is not', null)]))
    .groupBy(['plan_name', 'kind', 'status'])
    .execute();
  return rows.map((r) => ({ plan: r.plan_name, kind: r.kind, status: r.status, count: Number(r.n) }));
}

/** Finished restore runs counted by status. */
export async function restoreRunCounts(db: Db): Promise<Array<{ status: string; count: number }>> {
  const rows = await db
    .selectFrom('restores')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '!=', 'running')
    .groupBy('status')
    .execute();
  return rows.map((r) => ({ status: r.status, count: Number(r.n) }));
}
