// Server targets (issue 15). A target whose URL names no database (or was added with --all-databases) is a
// server: `targets.server` = 1, with its name filters (`include_globs`, `exclude_globs`: JSON arrays of
// globs) and how many databases a run dumps at once (`parallel`). A run of a plan on a server target is one
// `server_runs` row (the group: its own status, message, the databases it covered and the ones that vanished)
// and one ordinary `backups` row per database, each carrying the group's id in `backups.run_id`; the
// PostgreSQL globals (`pg_dumpall --globals-only`) are one more row of the run with `run_part` = 'globals'.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('targets')
    .addColumn('server', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('targets').addColumn('include_globs', 'text').execute();
  await db.schema.alterTable('targets').addColumn('exclude_globs', 'text').execute();
  await db.schema.alterTable('targets').addColumn('parallel', 'integer').execute();
  await db.schema.alterTable('backups').addColumn('run_id', 'text').execute();
  await db.schema.alterTable('backups').addColumn('run_part', 'text').execute();
  await db.schema.createIndex('backups_run_id').on('backups').column('run_id').execute();
  await db.schema
    .createTable('server_runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('plan_id', 'text')
    .addColumn('plan_name', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text')
    .addColumn('target_name', 'text', (c) => c.notNull())
    .addColumn('engine', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('requested_kind', 'text', (c) => c.notNull())
    .addColumn('databases', 'text')
    .addColumn('new_databases', 'text')
    .addColumn('vanished', 'text')
    .addColumn('failed', 'text')
    .addColumn('message', 'text')
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('duration_ms', 'integer')
    .addColumn('pid', 'integer')
    .addColumn('host', 'text')
    .execute();
  await db.schema.createIndex('server_runs_plan_started').on('server_runs').columns(['plan_id', 'started_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('server_runs').ifExists().execute();
  await db.schema.dropIndex('backups_run_id').ifExists().execute();
  await db.schema.alterTable('backups').dropColumn('run_part').execute();
  await db.schema.alterTable('backups').dropColumn('run_id').execute();
  for (const c of ['parallel', 'exclude_globs', 'include_globs', 'server']) await db.schema.alterTable('targets').dropColumn(c).execute();
}
