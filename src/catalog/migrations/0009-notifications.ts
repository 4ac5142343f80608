// Notifications (issue 12). `notifiers` holds the channels (settings in clear, URLs with tokens and passwords
// sealed in `secrets_enc`); `plan_notifiers` the per-plan rules (which channels, on which events); `plan_alerting`
// a plan's RPO and dead man's switch URL (kept beside `plans` rather than in it, so the plan table stays the
// plans' own); `plan_alert_state` what has been announced about a plan (failing since, stale since), changed only
// by compare-and-set on its version. `notify_events` has one row per announced event: its unique `event_key`
// (the run's id, or the plan and the moment an RPO breach began) is the atomic claim that makes an event fire
// once across a cluster. `notify_deliveries` is the notification journal: one row per event and channel, with
// its attempts and last error, claimed by lease so that a dead sender's delivery is taken up by another process.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('notifiers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('secrets_enc', 'text')
    .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('default_events', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('plan_notifiers')
    .addColumn('plan_id', 'text', (c) => c.notNull().references('plans.id').onDelete('cascade'))
    .addColumn('notifier_id', 'text', (c) => c.notNull().references('notifiers.id').onDelete('cascade'))
    .addColumn('events', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('plan_notifiers_pk', ['plan_id', 'notifier_id'])
    .execute();
  await db.schema
    .createTable('plan_alerting')
    .addColumn('plan_id', 'text', (c) => c.primaryKey().references('plans.id').onDelete('cascade'))
    .addColumn('rpo_seconds', 'integer')
    .addColumn('ping_url_enc', 'text')
    .addColumn('ping_url_display', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('plan_alert_state')
    .addColumn('plan_id', 'text', (c) => c.primaryKey())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('failing_since', 'text')
    .addColumn('failing_status', 'text')
    .addColumn('failing_alert_at', 'text')
    .addColumn('stale_since', 'text')
    .addColumn('stale_alert_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('notify_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event_key', 'text', (c) => c.notNull().unique())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('plan_id', 'text')
    .addColumn('plan_name', 'text')
    .addColumn('run_id', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('notify_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull().references('notify_events.id').onDelete('cascade'))
    .addColumn('channel_key', 'text', (c) => c.notNull())
    .addColumn('notifier_id', 'text')
    .addColumn('notifier_name', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('response', 'text')
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .addUniqueConstraint('notify_deliveries_event_channel', ['event_id', 'channel_key'])
    .execute();
  await db.schema.createIndex('notify_deliveries_status').on('notify_deliveries').columns(['status', 'next_attempt_at']).execute();
  await db.schema.createIndex('notify_deliveries_created').on('notify_deliveries').column('created_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['notify_deliveries', 'notify_events', 'plan_alert_state', 'plan_alerting', 'plan_notifiers', 'notifiers']) await db.schema.dropTable(t).ifExists().execute();
}
