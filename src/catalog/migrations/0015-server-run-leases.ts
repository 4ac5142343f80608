// A server run's lease in cluster mode: the group row (server_runs) carries the pg-boss job it runs for and
// its worker's heartbeat, as a database's run does on its own row (backups.job_id, backups.heartbeat_at).
// Its databases' rows are covered by their group's lease: a worker that dies mid-run leaves a group whose
// heartbeat stops, and the retried job or the sweeper finishes the group and every row of it still running.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('server_runs').addColumn('job_id', 'text').execute();
  await db.schema.alterTable('server_runs').addColumn('heartbeat_at', 'text').execute();
  await db.schema.createIndex('server_runs_status').on('server_runs').column('status').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('server_runs_status').ifExists().execute();
  await db.schema.alterTable('server_runs').dropColumn('heartbeat_at').execute();
  await db.schema.alterTable('server_runs').dropColumn('job_id').execute();
}
