// Encrypted backups (issue 14): a plan's age recipients (public keys, JSON array; null means no
// encryption), the recipients each backup was encrypted to (so the journal and a restore without the right
// identity can name them; a plan's later change does not rewrite history), and identities an operator
// chose to keep in the catalog for unattended restores and drills, sealed with the catalog secret.

import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('plans').addColumn('encrypt_to', 'text').execute();
  await db.schema.alterTable('backups').addColumn('recipients', 'text').execute();
  await db.schema
    .createTable('age_identities')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('age_identities').execute();
  await db.schema.alterTable('backups').dropColumn('recipients').execute();
  await db.schema.alterTable('plans').dropColumn('encrypt_to').execute();
}
