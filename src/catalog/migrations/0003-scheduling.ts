// Scheduling, retention and cluster mode. Plans get a missed-run policy; journal rows get the tick they
// were scheduled for, the cluster job that ran them and a heartbeat (so another worker can tell a live run
// from a dead one), and a prune mark with its reason. `schedule_ticks` holds one row per (plan, tick): its
// primary key is what makes a tick fire exactly once when several workers see it, and its latest row is
// how a restarted server knows whether it missed one.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('plans').addColumn('missed_runs', 'text').execute();
  await db.schema.alterTable('plans').addColumn('missed_grace_seconds', 'integer').execute();
  for (const column of ['scheduled_for', 'job_id', 'heartbeat_at', 'pruned_at', 'prune_reason']) {
    await db.schema.alterTable('backups').addColumn(column, 'text').execute();
  }
  await db.schema.createIndex('backups_plan_status').on('backups').columns(['plan_id', 'status']).execute();
  await db.schema.createIndex('backups_job').on('backups').column('job_id').execute();
  await db.schema
    .createTable('schedule_ticks')
    .addColumn('plan_id', 'text', (c) => c.notNull())
    .addColumn('tick_at', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('schedule_ticks_pk', ['plan_id', 'tick_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('schedule_ticks').ifExists().execute();
  await db.schema.dropIndex('backups_job').ifExists().execute();
  await db.schema.dropIndex('backups_plan_status').ifExists().execute();
  for (const column of ['scheduled_for', 'job_id', 'heartbeat_at', 'pruned_at', 'prune_reason']) {
    await db.schema.alterTable('backups').dropColumn(column).execute();
  }
  await db.schema.alterTable('plans').dropColumn('missed_grace_seconds').execute();
  await db.schema.alterTable('plans').dropColumn('missed_runs').execute();
}
