// Dashboard login sessions. A token pasted once into the login form becomes a session: a fresh 256-bit
// secret sent back as an HttpOnly cookie, kept in the catalog only as its sha256, with the token's role and
// an expiry. A session dies when it expires, on logout (revoked_at), and with its token (revoked, or
// API_TOKEN changed): every use checks the token it came from, so revoking a token logs its sessions out.
// The CSRF token is derived from the session secret (a hash of it, so it does not reveal the secret): the
// page learns it from the login answer or GET /api/session and sends it back in a header on every
// state-changing request, which a cross-site form or image can neither read nor send.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId, isoNow } from '../core/ids.ts';
import { CoffreError } from '../core/errors.ts';
import { deleteExpiredSessions, insertSession, revokeSessionRow, sessionByHash, type ApiSessionsTable } from '../catalog/sessions.ts';
import { tokenState } from '../catalog/tokens.ts';
import type { ServiceContext } from './service-context.ts';
import { authenticate, checkRole, hash, type Role } from './tokens.ts';

/** How long a session lasts from login. */
export const SESSION_TTL_MS = 12 * 3600_000;

/** The name of the session cookie. */
export const SESSION_COOKIE = 'coffre_session';

/** Who a session belongs to. */
export interface SessionView {
  id: string;
  /** The name of the token logged in with. */
  name: string;
  role: Role;
  createdAt: string;
  expiresAt: string;
  /** Send back as the X-Coffre-CSRF header on POST, PATCH and DELETE. */
  csrf: string;
}

/** The CSRF token of a session secret. */
export function csrfOf(secret: string): string {
  return createHash('sha256').update(`coffre-csrf\0${secret}`).digest('base64url');
}

/** Whether a CSRF header matches the session secret (constant time). */
export function csrfMatches(secret: string, header: unknown): boolean {
  if (typeof header !== 'string' || header.length > 100) return false;
  const want = Buffer.from(csrfOf(secret));
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

function view(r: ApiSessionsTable, secret: string): SessionView {
  return { id: r.id, name: r.token_name, role: checkRole(r.role), createdAt: r.created_at, expiresAt: r.expires_at, csrf: csrfOf(secret) };
}

/** Logs in with a token: checks it as a Bearer token would be, then opens a session. Returns the cookie secret and the view. */
export async function createSession(ctx: ServiceContext, token: string): Promise<{ secret: string; session: SessionView }> {
  const who = await authenticate(ctx, token);
  const secret = randomBytes(32).toString('base64url');
  const now = new Date();
  const row: ApiSessionsTable = {
    id: newId(),
    secret_hash: hash(secret),
    token_id: who.id,
    token_name: who.name,
    token_hash: who.tokenHash,
    role: who.role,
    created_at: isoNow(now),
    expires_at: new Date(now.getTime() + SESSION_TTL_MS).toISOString(),
    revoked_at: null,
  };
  await insertSession(ctx.catalog.db, row);
  // Expired sessions are of no use to anyone: dropped as new ones are made, so the table stays small.
  await deleteExpiredSessions(ctx.catalog.db, isoNow(now));
  return { secret, session: view(row, secret) };
}

const ended = (message: string) => new CoffreError('SESSION_ENDED', `${message}: log in again with a token.`, { kind: 'unauthorized' });

/** The live session for a cookie secret, or `unauthorized` (expired, logged out, or its token revoked). */
export async function findSession(ctx: ServiceContext, secret: string): Promise<SessionView> {
  if (secret.length > 100) throw ended('The session cookie is not valid');
  const row = await sessionByHash(ctx.catalog.db, hash(secret));
  if (!row) throw ended('The session is unknown');
  if (row.revoked_at) throw ended('This session was logged out');
  if (Date.parse(row.expires_at) <= Date.now()) throw ended('This session expired');
  if (row.token_id === 'env') {
    const env = ctx.config.api.token;
    if (!env || hash(env) !== row.token_hash) throw ended('API_TOKEN changed since this session began');
  } else {
    const token = await tokenState(ctx.catalog.db, row.token_id);
    if (!token || token.revoked_at) throw ended('The token of this session was revoked');
  }
  return view(row, secret);
}

/** Logs a session out (idempotent). */
export async function revokeSession(ctx: ServiceContext, secret: string): Promise<void> {
  await revokeSessionRow(ctx.catalog.db, hash(secret), isoNow());
}
