// The api_tokens table: API tokens, kept as their sha256 only (services/tokens.ts makes and checks them).

import type { Kysely } from 'kysely';
import type { CatalogSchema } from './schema.ts';
import { isIdPrefix } from './lookup.ts';

export interface ApiTokensTable {
  id: string;
  name: string;
  token_hash: string;
  hint: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  role: string;
}

type TokenDb = Kysely<CatalogSchema & { api_tokens: ApiTokensTable }>;

const tokens = (db: Kysely<CatalogSchema>): TokenDb => db.withTables<{ api_tokens: ApiTokensTable }>();

/** Inserts a token row; the caller checked the name and role. */
export async function insertToken(db: Kysely<CatalogSchema>, row: ApiTokensTable): Promise<void> {
  await tokens(db).insertInto('api_tokens').values(row).execute();
}

/** Every token, newest first, revoked ones included. */
export async function listTokenRows(db: Kysely<CatalogSchema>): Promise<ApiTokensTable[]> {
  return tokens(db).selectFrom('api_tokens').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
}

/** The active tokens named `ref`, or (when `ref` may be one) whose id starts with it. */
export async function activeTokensByRef(db: Kysely<CatalogSchema>, ref: string): Promise<ApiTokensTable[]> {
  return tokens(db)
    .selectFrom('api_tokens')
    .selectAll()
    .where('revoked_at', 'is', null)
    .where((eb) => (isIdPrefix(ref) ? eb.or([eb('name', '=', ref), eb('id', 'like', `${ref.toLowerCase()}%`)]) : eb('name', '=', ref)))
    .execute();
}

/** Marks tokens revoked at `at`. */
export async function revokeTokenRows(db: Kysely<CatalogSchema>, ids: readonly string[], at: string): Promise<void> {
  if (ids.length === 0) return;
  await tokens(db).updateTable('api_tokens').set({ revoked_at: at }).where('id', 'in', ids).execute();
}

/** Whether any token is not revoked. */
export async function anyActiveToken(db: Kysely<CatalogSchema>): Promise<boolean> {
  return (await tokens(db).selectFrom('api_tokens').select('id').where('revoked_at', 'is', null).limit(1).executeTakeFirst()) !== undefined;
}

/** The token whose sha256 is `tokenHash`, revoked or not. */
export async function tokenByHash(db: Kysely<CatalogSchema>, tokenHash: string): Promise<ApiTokensTable | undefined> {
  return tokens(db).selectFrom('api_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

/** A token's id and revocation, by exact id (what a session checks on every use). */
export async function tokenState(db: Kysely<CatalogSchema>, id: string): Promise<{ id: string; revoked_at: string | null } | undefined> {
  return tokens(db).selectFrom('api_tokens').select(['id', 'revoked_at']).where('id', '=', id).executeTakeFirst();
}

/** Records a token's last use. */
export async function touchToken(db: Kysely<CatalogSchema>, id: string, at: string): Promise<void> {
  await tokens(db).updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
}
