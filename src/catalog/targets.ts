// The targets table: databases to back up. The URL is stored sealed whole (it carries the password) with
// a masked copy for display; decrypting is the services' business, not this file's.

import type { Kysely } from 'kysely';
import type { CatalogSchema, TargetsTable } from './schema.ts';
import { isIdPrefix, pickByRef } from './lookup.ts';

export interface TargetRecord {
  id: string;
  name: string;
  engine: string;
  urlDisplay: string;
  urlEnc: string;
  createdAt: string;
  updatedAt: string;
  /** A server target (migration 0014): every database of the server that passes the filters. */
  server?: boolean;
  includeGlobs?: string[];
  excludeGlobs?: string[];
  /** Databases dumped at once by a server run (null: 1). */
  parallel?: number | null;
}

function globs(text: string | null | undefined): string[] {
  return text ? (JSON.parse(text) as string[]) : [];
}

function toRecord(r: TargetsTable): TargetRecord {
  return {
    id: r.id,
    name: r.name,
    engine: r.engine,
    urlDisplay: r.url_display,
    urlEnc: r.url_enc,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    server: Number(r.server ?? 0) === 1,
    includeGlobs: globs(r.include_globs),
    excludeGlobs: globs(r.exclude_globs),
    parallel: r.parallel ?? null,
  };
}

function serverColumns(t: Partial<TargetRecord>): Partial<TargetsTable> {
  const out: Partial<TargetsTable> = {};
  if (t.server !== undefined) out.server = t.server ? 1 : 0;
  if (t.includeGlobs !== undefined) out.include_globs = t.includeGlobs.length ? JSON.stringify(t.includeGlobs) : null;
  if (t.excludeGlobs !== undefined) out.exclude_globs = t.excludeGlobs.length ? JSON.stringify(t.excludeGlobs) : null;
  if (t.parallel !== undefined) out.parallel = t.parallel;
  return out;
}

/** Inserts a target; the caller checked the name. */
export async function insertTarget(db: Kysely<CatalogSchema>, t: TargetRecord): Promise<void> {
  await db
    .insertInto('targets')
    .values({ id: t.id, name: t.name, engine: t.engine, url_display: t.urlDisplay, url_enc: t.urlEnc, created_at: t.createdAt, updated_at: t.updatedAt, ...serverColumns(t) })
    .execute();
}

/** Every target, by name. */
export async function listTargets(db: Kysely<CatalogSchema>): Promise<TargetRecord[]> {
  return (await db.selectFrom('targets').selectAll().orderBy('name').execute()).map(toRecord);
}

/** The target named `ref`, or with that id or unique id prefix. */
export async function findTarget(db: Kysely<CatalogSchema>, ref: string): Promise<TargetRecord | undefined> {
  const rows = await db
    .selectFrom('targets')
    .selectAll()
    .where((eb) => (isIdPrefix(ref) ? eb.or([eb('name', '=', ref), eb('id', 'like', `${ref.toLowerCase()}%`)]) : eb('name', '=', ref)))
    .limit(10)
    .execute();
  return pickByRef(rows.map(toRecord), ref, 'target');
}

/** Removes a target by id. */
export async function deleteTarget(db: Kysely<CatalogSchema>, id: string): Promise<void> {
  await db.deleteFrom('targets').where('id', '=', id).execute();
}

/** A target by exact id. */
export async function getTarget(db: Kysely<CatalogSchema>, id: string): Promise<TargetRecord | undefined> {
  const row = await db.selectFrom('targets').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRecord(row) : undefined;
}

/** Changes a target's name and/or URL (added for the API's PATCH). */
export async function updateTarget(
  db: Kysely<CatalogSchema>,
  id: string,
  patch: Partial<Pick<TargetRecord, 'name' | 'engine' | 'urlDisplay' | 'urlEnc' | 'server' | 'includeGlobs' | 'excludeGlobs' | 'parallel'>> & { updatedAt: string },
): Promise<void> {
  await db
    .updateTable('targets')
    .set({ name: patch.name, engine: patch.engine, url_display: patch.urlDisplay, url_enc: patch.urlEnc, updated_at: patch.updatedAt, ...serverColumns(patch) })
    .where('id', '=', id)
    .execute();
}
