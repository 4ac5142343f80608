// /api/session: the dashboard's login. POST trades a token for a session cookie (HttpOnly, SameSite=Strict,
// Secure when served over TLS, expiring with the session); GET says who is logged in, with the CSRF token
// to send as X-Coffre-CSRF; DELETE logs out, revoking the session in the catalog. A Bearer caller may GET
// too (the answer then has no csrf: it needs none).

import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { createSession, findSession, revokeSession, SESSION_COOKIE, SESSION_TTL_MS } from '../../services/sessions.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { identityOf } from '../identity.ts';

const LoginBody = z.object({ token: z.string().min(1).max(500) });
const Session = z.object({
  name: z.string().describe('the name of the token logged in with'),
  role: z.enum(['viewer', 'operator', 'admin']),
  via: z.enum(['token', 'session', 'open']),
  expiresAt: z.string().nullable(),
  csrf: z.string().nullable().describe('send back as the X-Coffre-CSRF header on POST, PATCH and DELETE made with the session cookie'),
});

function cookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

/** The session routes. */
export function sessionRoutes({ ctx }: ApiDeps): RouteDef[] {
  const tag = 'session';
  return [
    defineRoute({
      method: 'POST',
      url: '/api/session',
      tag,
      public: true,
      // A token is long and random, but guessing should still be slow: LOGIN_ATTEMPTS_PER_MINUTE per address.
      limitPerMinute: ctx.config.api.loginAttemptsPerMinute,
      summary:
        'Log in: trade a token {token} for a session cookie; answers the session with its CSRF token (LOGIN_ATTEMPTS_PER_MINUTE tries a minute per client address, then 429)',
      body: LoginBody,
      errors: [400, 401, 403, 429],
      response: Session,
      handler: async ({ body, request, reply }) => {
        const { secret, session } = await createSession(ctx, body.token);
        reply.header('set-cookie', cookie(request, secret, Math.floor(SESSION_TTL_MS / 1000)));
        reply.header('cache-control', 'no-store');
        return { name: session.name, role: session.role, via: 'session', expiresAt: session.expiresAt, csrf: session.csrf };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/session',
      tag,
      role: 'viewer',
      summary: 'Who this request acts as: name, role and, for a session, its expiry and CSRF token',
      response: Session,
      handler: async ({ request, reply }) => {
        const who = identityOf(request)!;
        reply.header('cache-control', 'no-store');
        if (who.via !== 'session') return { name: who.name, role: who.role, via: who.via, expiresAt: null, csrf: null };
        const s = await findSession(ctx, who.sessionSecret!);
        return { name: s.name, role: s.role, via: 'session', expiresAt: s.expiresAt, csrf: s.csrf };
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/api/session',
      tag,
      role: 'viewer',
      status: 204,
      summary: 'Log out: revokes the session and clears its cookie',
      handler: async ({ request, reply }) => {
        const who = identityOf(request)!;
        if (who.sessionSecret) await revokeSession(ctx, who.sessionSecret);
        reply.header('set-cookie', cookie(request, '', 0));
        return undefined;
      },
    }),
  ];
}
