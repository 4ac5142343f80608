// Several destinations per plan: `plan_destinations` lists every destination a plan uploads to, in order
// (position 0 is the plan's first destination, which `plans.destination_id` keeps naming so older readers
// and the foreign key stay valid). Existing plans get their one destination copied in.

import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('plan_destinations')
    .addColumn('plan_id', 'text', (c) => c.notNull().references('plans.id').onDelete('cascade'))
    .addColumn('destination_id', 'text', (c) => c.notNull().references('destinations.id'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('plan_destinations_pk', ['plan_id', 'destination_id'])
    .execute();
  await db.schema.createIndex('plan_destinations_destination').on('plan_destinations').column('destination_id').execute();
  await sql`insert into plan_destinations (plan_id, destination_id, position) select id, destination_id, 0 from plans`.execute(db);
  await db.schema.createIndex('backup_copies_destination').on('backup_copies').column('destination_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('backup_copies_destination').ifExists().execute();
  await db.schema.dropTable('plan_destinations').ifExists().execute();
}
