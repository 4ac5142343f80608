// The age_identities table: age identities kept in the catalog, sealed (services/keys.ts seals and opens them).

import type { Kysely } from 'kysely';
import type { AgeIdentitiesTable, CatalogSchema } from './schema.ts';

/** Every stored identity, oldest first. */
export async function listIdentityRows(db: Kysely<CatalogSchema>): Promise<AgeIdentitiesTable[]> {
  return db.selectFrom('age_identities').selectAll().orderBy('created_at').execute();
}

/** Whether an identity named `name` is stored. */
export async function identityNameTaken(db: Kysely<CatalogSchema>, name: string): Promise<boolean> {
  return (await db.selectFrom('age_identities').select('id').where('name', '=', name).executeTakeFirst()) !== undefined;
}

/** Inserts a sealed identity; the caller checked the name is free. */
export async function insertIdentity(db: Kysely<CatalogSchema>, row: AgeIdentitiesTable): Promise<void> {
  await db.insertInto('age_identities').values(row).execute();
}

/** Every stored identity's public part, by name. */
export async function listIdentityViews(db: Kysely<CatalogSchema>): Promise<Omit<AgeIdentitiesTable, 'secret'>[]> {
  return db.selectFrom('age_identities').select(['id', 'name', 'recipient', 'created_at']).orderBy('name').execute();
}

/** A stored identity's public part, by name. */
export async function identityByName(db: Kysely<CatalogSchema>, name: string): Promise<Omit<AgeIdentitiesTable, 'secret'> | undefined> {
  return db.selectFrom('age_identities').select(['id', 'name', 'recipient', 'created_at']).where('name', '=', name).executeTakeFirst();
}

/** Removes a stored identity by id. */
export async function deleteIdentity(db: Kysely<CatalogSchema>, id: string): Promise<void> {
  await db.deleteFrom('age_identities').where('id', '=', id).execute();
}
