// Journal queries for differential and incremental backups: which earlier run of a plan a new one may be
// a delta against. Kept beside journal.ts so the catalog stays the only place that writes SQL.

import type { Kysely } from 'kysely';
import type { CatalogSchema } from './schema.ts';
import { getBackup, type BackupRecord } from './journal.ts';

/** The latest successful backup of a plan (of the given kind, or of any kind), or undefined. */
export async function latestSuccessfulBackup(db: Kysely<CatalogSchema>, planId: string, kind?: string, database?: string): Promise<BackupRecord | undefined> {
  let query = db.selectFrom('backups').select('id').where('plan_id', '=', planId).where('status', '=', 'success');
  // A server target's databases each have their own chain (and the globals none).
  if (database !== undefined) query = query.where('database', '=', database).where('run_part', '=', 'database');
  if (kind) query = query.where('kind', '=', kind);
  const row = await query.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row ? getBackup(db, row.id) : undefined;
}
