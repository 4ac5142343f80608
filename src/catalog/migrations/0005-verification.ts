// The outcome of the latest `coffre verify` of each backup, kept on its journal row: an on-call person
// wants to see when an artifact was last proven restorable, and a failed check must not vanish with the
// terminal that printed it.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('backups').addColumn('verified_at', 'text').execute();
  await db.schema.alterTable('backups').addColumn('verify_status', 'text').execute();
  await db.schema.alterTable('backups').addColumn('verify_message', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of ['verify_message', 'verify_status', 'verified_at']) await db.schema.alterTable('backups').dropColumn(column).execute();
}
