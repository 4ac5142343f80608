// API tokens: the credentials of `coffre serve`. A token is shown once, when made; the catalog keeps only
// its sha256 (a token is 256 random bits, so no slow hash is needed) and a short hint to tell tokens apart.
// Revoking keeps the row, so the listing shows what existed and when it stopped working. API_TOKEN from the
// environment is accepted beside them and compared in constant time. Each token has a role (viewer <
// operator < admin); tokens made before roles existed, and API_TOKEN, are admin.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId, isoNow } from '../core/ids.ts';
import { CoffreError, conflict, notFound, usageError } from '../core/errors.ts';
import { activeTokensByRef, anyActiveToken, insertToken, listTokenRows, revokeTokenRows, tokenByHash, touchToken, type ApiTokensTable } from '../catalog/tokens.ts';
import type { ServiceContext } from './service-context.ts';
import { checkName } from './names.ts';

/** What a token may do: `viewer` reads, `operator` also runs backups, restores and verifies, `admin` also changes configuration and tokens. */
export type Role = 'viewer' | 'operator' | 'admin';
export const roles: readonly Role[] = ['viewer', 'operator', 'admin'];

/** Whether `have` includes everything `need` may do. */
export function roleAllows(have: Role, need: Role): boolean {
  return roles.indexOf(have) >= roles.indexOf(need);
}

/** A role name, or a usage error listing the roles. */
export function checkRole(role: unknown): Role {
  if (role === undefined) return 'admin';
  if (typeof role === 'string' && (roles as readonly string[]).includes(role)) return role as Role;
  throw usageError('BAD_ROLE', `The role must be one of ${roles.join(', ')} (got "${String(role).slice(0, 40)}").`, { field: 'role' });
}

/** A token as listed: never the token itself. */
export interface TokenView {
  id: string;
  name: string;
  /** The token's first characters, to recognise it. */
  hint: string;
  role: Role;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** A token as made: the only time its secret is shown. */
export type CreatedToken = TokenView & { token: string };

/** Who a request authenticated as. */
export interface TokenIdentity {
  /** `env` for API_TOKEN, else the token's id. */
  id: string;
  name: string;
  role: Role;
  /** sha256 of the token, to tie a session to it. */
  tokenHash: string;
}

const PREFIX = 'coffre_';

/** sha256 hex of a secret (tokens and session secrets are 256 random bits: no slow hash needed). */
export function hash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function view(r: ApiTokensTable): TokenView {
  return { id: r.id, name: r.name, hint: r.hint, role: checkRole(r.role ?? 'admin'), createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at };
}

/** Makes a new token named `name` (names may repeat: a rotated token keeps its name) with a role (default admin). */
export async function createToken(ctx: ServiceContext, name: unknown, role?: unknown): Promise<CreatedToken> {
  const checked = checkName('token', name);
  const checkedRole = checkRole(role);
  const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
  const row: ApiTokensTable = {
    id: newId(),
    name: checked,
    token_hash: hash(token),
    hint: `${token.slice(0, PREFIX.length + 4)}…`,
    created_at: isoNow(),
    last_used_at: null,
    revoked_at: null,
    role: checkedRole,
  };
  await insertToken(ctx.catalog.db, row);
  return { ...view(row), token };
}

/** Every token, newest first, revoked ones included. */
export async function listTokens(ctx: ServiceContext): Promise<TokenView[]> {
  return (await listTokenRows(ctx.catalog.db)).map(view);
}

/** Revokes the tokens named `ref` (or the one with that id or unique id prefix); returns them. */
export async function revokeToken(ctx: ServiceContext, ref: string): Promise<TokenView[]> {
  const rows = await activeTokensByRef(ctx.catalog.db, ref);
  const byName = rows.filter((r) => r.name === ref);
  const chosen = byName.length ? byName : rows.filter((r) => r.id === ref || r.id.startsWith(ref.toLowerCase()));
  if (chosen.length === 0) throw notFound('TOKEN_NOT_FOUND', `No active token named "${ref}": see {hint}.`, { see: 'tokens' });
  if (!byName.length && chosen.length > 1) throw conflict('AMBIGUOUS_ID', `The id prefix "${ref}" matches several tokens: type more characters.`);
  const now = isoNow();
  await revokeTokenRows(
    ctx.catalog.db,
    chosen.map((r) => r.id),
    now,
  );
  return chosen.map((r) => view({ ...r, revoked_at: now }));
}

/** Whether any credential exists: API_TOKEN, or a token that is not revoked. */
export async function tokensConfigured(ctx: ServiceContext): Promise<boolean> {
  if (ctx.config.api.token) return true;
  return anyActiveToken(ctx.catalog.db);
}

function sameSecret(a: string, b: string): boolean {
  // Hash both sides first: equal lengths for timingSafeEqual, and no length leak.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Checks a Bearer token: API_TOKEN, or an active catalog token (whose last use is recorded, at most once a
 * minute). Throws `unauthorized` for an unknown token and `forbidden` for a revoked one.
 */
export async function authenticate(ctx: ServiceContext, token: string): Promise<TokenIdentity> {
  if (ctx.config.api.token && sameSecret(token, ctx.config.api.token)) return { id: 'env', name: 'API_TOKEN', role: 'admin', tokenHash: hash(token) };
  const row = token.startsWith(PREFIX) && token.length < 200 ? await tokenByHash(ctx.catalog.db, hash(token)) : undefined;
  if (!row) throw new CoffreError('BAD_TOKEN', 'The Bearer token is not valid: make one with `coffre token create NAME`.', { kind: 'unauthorized' });
  if (row.revoked_at) throw new CoffreError('TOKEN_REVOKED', `This token ("${row.name}") was revoked on ${row.revoked_at}.`, { kind: 'forbidden' });
  const now = new Date();
  if (!row.last_used_at || now.getTime() - Date.parse(row.last_used_at) > 60_000) {
    await touchToken(ctx.catalog.db, row.id, isoNow(now));
  }
  return { id: row.id, name: row.name, role: checkRole(row.role ?? 'admin'), tokenHash: row.token_hash };
}
