// The destinations table: where artifacts go. Plain settings as JSON text, secrets (cloud keys) sealed apart.

import type { Kysely } from 'kysely';
import type { CatalogSchema, DestinationsTable } from './schema.ts';
import { isIdPrefix, pickByRef } from './lookup.ts';

export interface DestinationRecord {
  id: string;
  name: string;
  type: string;
  config: Record<string, unknown>;
  secretsEnc: string | null;
  createdAt: string;
  updatedAt: string;
}

function toRecord(r: DestinationsTable): DestinationRecord {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    config: JSON.parse(r.config) as Record<string, unknown>,
    secretsEnc: r.secrets_enc,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Inserts a destination; the caller validated its settings. */
export async function insertDestination(db: Kysely<CatalogSchema>, d: DestinationRecord): Promise<void> {
  await db
    .insertInto('destinations')
    .values({ id: d.id, name: d.name, type: d.type, config: JSON.stringify(d.config), secrets_enc: d.secretsEnc, created_at: d.createdAt, updated_at: d.updatedAt })
    .execute();
}

/** Every destination, by name. */
export async function listDestinations(db: Kysely<CatalogSchema>): Promise<DestinationRecord[]> {
  return (await db.selectFrom('destinations').selectAll().orderBy('name').execute()).map(toRecord);
}

/** The destination named `ref`, or with that id or unique id prefix. */
export async function findDestination(db: Kysely<CatalogSchema>, ref: string): Promise<DestinationRecord | undefined> {
  const rows = await db
    .selectFrom('destinations')
    .selectAll()
    .where((eb) => (isIdPrefix(ref) ? eb.or([eb('name', '=', ref), eb('id', 'like', `${ref.toLowerCase()}%`)]) : eb('name', '=', ref)))
    .limit(10)
    .execute();
  return pickByRef(rows.map(toRecord), ref, 'destination');
}

/** A destination by exact id. */
export async function getDestination(db: Kysely<CatalogSchema>, id: string): Promise<DestinationRecord | undefined> {
  const row = await db.selectFrom('destinations').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRecord(row) : undefined;
}

/** Removes a destination by id. */
export async function deleteDestination(db: Kysely<CatalogSchema>, id: string): Promise<void> {
  await db.deleteFrom('destinations').where('id', '=', id).execute();
}

/** Changes a destination's name and/or settings (added for the API's PATCH). */
export async function updateDestination(
  db: Kysely<CatalogSchema>,
  id: string,
  patch: Partial<Pick<DestinationRecord, 'name' | 'config' | 'secretsEnc'>> & { updatedAt: string },
): Promise<void> {
  await db
    .updateTable('destinations')
    .set({ name: patch.name, config: patch.config === undefined ? undefined : JSON.stringify(patch.config), secrets_enc: patch.secretsEnc, updated_at: patch.updatedAt })
    .where('id', '=', id)
    .execute();
}
