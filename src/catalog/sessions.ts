// The api_sessions table: dashboard login sessions, kept as the sha256 of their secret (services/sessions.ts
// opens and checks them).

import type { Kysely } from 'kysely';
import type { CatalogSchema } from './schema.ts';

export interface ApiSessionsTable {
  id: string;
  secret_hash: string;
  token_id: string;
  token_name: string;
  token_hash: string;
  role: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

const sessions = (db: Kysely<CatalogSchema>) => db.withTables<{ api_sessions: ApiSessionsTable }>();

/** Inserts a session row. */
export async function insertSession(db: Kysely<CatalogSchema>, row: ApiSessionsTable): Promise<void> {
  await sessions(db).insertInto('api_sessions').values(row).execute();
}

/** Removes the sessions that expired before `now`. */
export async function deleteExpiredSessions(db: Kysely<CatalogSchema>, now: string): Promise<void> {
  await sessions(db).deleteFrom('api_sessions').where('expires_at', '<', now).execute();
}

/** The session whose secret's sha256 is `secretHash`. */
export async function sessionByHash(db: Kysely<CatalogSchema>, secretHash: string): Promise<ApiSessionsTable | undefined> {
  return sessions(db).selectFrom('api_sessions').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
}

/** Marks a live session revoked at `at` (idempotent). */
export async function revokeSessionRow(db: Kysely<CatalogSchema>, secretHash: string, at: string): Promise<void> {
  await sessions(db).updateTable('api_sessions').set({ revoked_at: at }).where('secret_hash', '=', secretHash).where('revoked_at', 'is', null).execute();
}
