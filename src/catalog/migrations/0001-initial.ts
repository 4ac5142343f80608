// The first catalog schema: targets, destinations, plans, the backup and restore journals. Written with
// Kysely's schema builder only, so the same migration runs on SQLite and PostgreSQL. Times are ISO-8601
// text (UTC, so text order is time order); sizes are bigint; booleans are integers 0/1.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('targets')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('engine', 'text', (c) => c.notNull())
    .addColumn('url_display', 'text', (c) => c.notNull())
    .addColumn('url_enc', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('destinations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('secrets_enc', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('plans')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('target_id', 'text', (c) => c.notNull().references('targets.id'))
    .addColumn('destination_id', 'text', (c) => c.notNull().references('destinations.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('compression', 'text')
    .addColumn('cron', 'text')
    .addColumn('timezone', 'text')
    .addColumn('retention', 'text')
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  // The journals keep names beside ids: a row stays readable after its plan or target is removed.
  await db.schema
    .createTable('backups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('plan_id', 'text')
    .addColumn('plan_name', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text')
    .addColumn('target_name', 'text', (c) => c.notNull())
    .addColumn('engine', 'text', (c) => c.notNull())
    .addColumn('database', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('requested_kind', 'text', (c) => c.notNull())
    .addColumn('parent_id', 'text')
    .addColumn('parent_sha256', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('compression', 'text', (c) => c.notNull())
    .addColumn('raw_format', 'text')
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('duration_ms', 'bigint')
    .addColumn('raw_size_bytes', 'bigint')
    .addColumn('size_bytes', 'bigint')
    .addColumn('sha256', 'text')
    .addColumn('raw_sha256', 'text')
    .addColumn('destination_id', 'text')
    .addColumn('artifact_key', 'text')
    .addColumn('server_version', 'text')
    .addColumn('client_version', 'text')
    .addColumn('tool', 'text')
    .addColumn('message', 'text')
    .addColumn('pid', 'integer')
    .addColumn('host', 'text')
    .execute();
  await db.schema.createIndex('backups_plan_started').on('backups').columns(['plan_id', 'started_at']).execute();
  await db.schema.createIndex('backups_status_started').on('backups').columns(['status', 'started_at']).execute();
  await db.schema.createIndex('backups_started').on('backups').column('started_at').execute();

  await db.schema
    .createTable('backup_copies')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('backup_id', 'text', (c) => c.notNull().references('backups.id').onDelete('cascade'))
    .addColumn('destination_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint')
    .addColumn('checksum', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('message', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('backup_copies_backup').on('backup_copies').column('backup_id').execute();

  await db.schema
    .createTable('restores')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('backup_id', 'text')
    .addColumn('source_path', 'text')
    .addColumn('target_id', 'text')
    .addColumn('target_name', 'text', (c) => c.notNull())
    .addColumn('engine', 'text', (c) => c.notNull())
    .addColumn('database', 'text', (c) => c.notNull())
    .addColumn('replace', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('duration_ms', 'bigint')
    .addColumn('size_bytes', 'bigint')
    .addColumn('raw_size_bytes', 'bigint')
    .addColumn('message', 'text')
    .addColumn('pid', 'integer')
    .addColumn('host', 'text')
    .execute();
  await db.schema.createIndex('restores_status_started').on('restores').columns(['status', 'started_at']).execute();
  await db.schema.createIndex('restores_started').on('restores').column('started_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['restores', 'backup_copies', 'backups', 'plans', 'destinations', 'targets', 'settings']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
