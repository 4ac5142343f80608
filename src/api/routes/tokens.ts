// /api/tokens: the API's tokens and their roles, for admins (the dashboard's Tokens page; the same as
// `coffre token create|list|revoke`). A token's secret is in the creation answer only, never again.

import { z } from 'zod';
import { createToken, listTokens, revokeToken, roles } from '../../services/tokens.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { IdParams } from '../schemas.ts';

const role = z.enum(roles as unknown as ['viewer', 'operator', 'admin']);
const Token = z.object({ id: z.string(), name: z.string(), hint: z.string(), role, createdAt: z.string(), lastUsedAt: z.string().nullable(), revokedAt: z.string().nullable() });
const TokenCreate = z.object({ name: z.string().min(1).max(63), role: role.optional().describe('default admin') });

/** The token routes. */
export function tokenRoutes({ ctx }: ApiDeps): RouteDef[] {
  const tag = 'tokens';
  return [
    defineRoute({
      method: 'GET',
      url: '/api/tokens',
      tag,
      role: 'admin',
      summary: 'List tokens (never their secret), newest first',
      response: z.array(Token),
      handler: () => listTokens(ctx),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/tokens',
      tag,
      role: 'admin',
      summary: 'Make a token {name, role}: the answer holds the token, shown this once',
      body: TokenCreate,
      status: 201,
      errors: [400],
      response: Token.extend({ token: z.string() }),
      handler: ({ body, reply }) => {
        reply.header('cache-control', 'no-store');
        return createToken(ctx, body.name, body.role);
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/api/tokens/:id',
      tag,
      role: 'admin',
      summary: 'Revoke a token (by id, or every active token of that name); its sessions end with it',
      params: IdParams,
      errors: [404, 409],
      response: z.array(Token),
      handler: ({ params }) => revokeToken(ctx, params.id),
    }),
  ];
}
