// Read-only queries for the dashboard: a plan's recent runs as chart points (no copies, no manifests: a
// few columns per row, so a chart of hundreds of runs stays one small query), and its latest success.

import type { Kysely } from 'kysely';
import type { CatalogSchema } from './schema.ts';

/** One run as a chart point. */
export interface RunPoint {
  id: string;
  kind: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  sizeBytes: number | null;
  rawSizeBytes: number | null;
}

const columns = ['id', 'kind', 'status', 'started_at', 'finished_at', 'duration_ms', 'size_bytes', 'raw_size_bytes'] as const;

function point(r: {
  id: string;
  kind: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  size_bytes: number | null;
  raw_size_bytes: number | null;
}): RunPoint {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.duration_ms,
    sizeBytes: r.size_bytes,
    rawSizeBytes: r.raw_size_bytes,
  };
}

/** The plan's latest `limit` runs (skipped ticks left out), newest first; `from` bounds startedAt below. */
export async function recentRuns(db: Kysely<CatalogSchema>, planId: string, limit: number, from?: string): Promise<RunPoint[]> {
  let q = db.selectFrom('backups').select(columns).where('plan_id', '=', planId).where('status', '!=', 'skipped');
  if (from) q = q.where('started_at', '>=', from);
  return (await q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(limit).execute()).map(point);
}

/** The plan's latest successful (or partial) run, or undefined. */
export async function lastSuccess(db: Kysely<CatalogSchema>, planId: string): Promise<RunPoint | undefined> {
  const r = await db
    .selectFrom('backups')
    .select(columns)
    .where('plan_id', '=', planId)
    .where('status', 'in', ['success', 'partial'])
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r ? point(r) : undefined;
}
