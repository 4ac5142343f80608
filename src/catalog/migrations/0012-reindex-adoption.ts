// Rows imported by `coffre reindex` are held apart until a person adopts them (issue 9, finding 5): a
// manifest found in a destination is only a claim, so it must not take a live plan's retention slot, become
// its delta parent or its latest backup, nor pick the target a restore writes into. An imported row keeps
// plan_id null until adopted; import_plan_id is the plan its manifest named by id (never by name), if that
// plan exists here; adopted_at/adopted_by say when and by whom it was taken into a plan.
//
// Rows imported before this migration attached to a plan by the name in their manifest: they are detached
// here (plan_id null, not adopted), so a forged one planted earlier stops counting too; `coffre journal
// adopt ID --plan P` takes a genuine one back.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('backups').addColumn('import_plan_id', 'text').execute();
  await db.schema.alterTable('backups').addColumn('adopted_at', 'text').execute();
  await db.schema.alterTable('backups').addColumn('adopted_by', 'text').execute();
  await sql`update backups set plan_id = null where ${sql.ref('trigger')} = 'reindex'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ['adopted_by', 'adopted_at', 'import_plan_id']) await db.schema.alterTable('backups').dropColumn(column).execute();
}
