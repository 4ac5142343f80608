// Restore drills (issue 13). `backups.row_counts` holds the per-table (collection) row counts a backup
// recorded from its own dump stream (JSON: {method, tables}); `plan_drills` a plan's drill settings (cron,
// RTO objective, the server drills restore on, the user's assertions and their timeout), beside `plans` as
// `plan_alerting` is; `drills` is the drill journal: one row per drill, with the scratch database (or SQLite
// file) it created, whether it was created yet, each check's result and the RTO measured. The recovery sweep
// drops a dead drill's scratch database by this row, never by a name alone.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('backups').addColumn('row_counts', 'text').execute();
  await db.schema
    .createTable('plan_drills')
    .addColumn('plan_id', 'text', (c) => c.primaryKey().references('plans.id').onDelete('cascade'))
    .addColumn('cron', 'text')
    .addColumn('rto_seconds', 'integer')
    .addColumn('target_id', 'text')
    .addColumn('assertions', 'text')
    .addColumn('assert_timeout_seconds', 'integer')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('drills')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('plan_id', 'text')
    .addColumn('plan_name', 'text', (c) => c.notNull())
    .addColumn('backup_id', 'text')
    .addColumn('target_id', 'text')
    .addColumn('target_name', 'text', (c) => c.notNull())
    .addColumn('engine', 'text', (c) => c.notNull())
    .addColumn('scratch', 'text', (c) => c.notNull())
    .addColumn('scratch_created', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('scratch_dropped', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('checks', 'text')
    .addColumn('rto_ms', 'integer')
    .addColumn('rto_limit_seconds', 'integer')
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('duration_ms', 'integer')
    .addColumn('message', 'text')
    .addColumn('scheduled_for', 'text')
    .addColumn('pid', 'integer')
    .addColumn('host', 'text')
    .execute();
  await db.schema.createIndex('drills_plan_started').on('drills').columns(['plan_id', 'started_at']).execute();
  await db.schema.createIndex('drills_status').on('drills').column('status').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('drills').ifExists().execute();
  await db.schema.dropTable('plan_drills').ifExists().execute();
  await db.schema.alterTable('backups').dropColumn('row_counts').execute();
}
