// The old single-destination columns go: `plans.destination_id` (every plan's destinations are in
// `plan_destinations` since 0004) and `backups.destination_id` (every upload is a `backup_copies` row). Rows
// made before copies were journaled get the copy row their column stood for first, so nothing reads two truths.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    insert into backup_copies (id, backup_id, destination_id, key, size_bytes, checksum, status, message, created_at)
    select b.id, b.id, b.destination_id, b.artifact_key, b.size_bytes,
           case when b.sha256 is null then null else 'sha256:' || b.sha256 end,
           case b.status when 'success' then 'success' when 'partial' then 'success' when 'pruned' then 'pruned' when 'running' then 'running' else 'failed' end,
           null, b.started_at
    from backups b
    where b.destination_id is not null and b.artifact_key is not null
      and not exists (select 1 from backup_copies c where c.backup_id = b.id)`.execute(db);
  await sql`
    insert into plan_destinations (plan_id, destination_id, position)
    select p.id, p.destination_id, 0 from plans p
    where not exists (select 1 from plan_destinations d where d.plan_id = p.id)`.execute(db);
  await db.schema.alterTable('plans').dropColumn('destination_id').execute();
  await db.schema.alterTable('backups').dropColumn('destination_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('backups').addColumn('destination_id', 'text').execute();
  await db.schema.alterTable('plans').addColumn('destination_id', 'text').execute();
  await sql`update plans set destination_id = (select d.destination_id from plan_destinations d where d.plan_id = plans.id order by d.position limit 1)`.execute(db);
  await sql`update backups set destination_id = (select c.destination_id from backup_copies c where c.backup_id = backups.id order by c.created_at limit 1)`.execute(db);
}
