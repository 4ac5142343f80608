// The HTTP edge of coffre (Fastify). Builds the app from the route modules, and adds what every route
// shares: CORS from CORS_ORIGINS, Bearer authentication on every route not declared public (API_TOKEN or
// catalog tokens), the Origin check of state-changing requests, the one error mapping, and a request log
// whose URLs are scrubbed of tokens. Routes stay thin: parse, one service call, answer. Without any token
// configured the API is open, so it may then only listen on loopback and answer loopback Host names.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { CoffreError, usageError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { ServiceContext } from '../services/context.ts';
import type { JobRunner } from '../services/jobs.ts';
import { authenticate, roleAllows, tokensConfigured, type Role } from '../services/tokens.ts';
import { csrfMatches, findSession, SESSION_COOKIE } from '../services/sessions.ts';
import { handleError, toHttpError } from './errors.ts';
import { mount, type ApiDeps, type RouteDef } from './route.ts';
import { setIdentity, type RequestIdentity } from './identity.ts';
import { docRoutes } from './openapi.ts';
import { acceptEmptyJsonBodies } from './body.ts';
import { healthRoutes } from './routes/health.ts';
import { targetRoutes } from './routes/targets.ts';
import { destinationRoutes } from './routes/destinations.ts';
import { planRoutes } from './routes/plans.ts';
import { journalRoutes } from './routes/journals.ts';
import { runRoutes } from './routes/runs.ts';
import { jobRoutes } from './routes/jobs.ts';
import { pruneRoutes } from './routes/prune.ts';
import { sessionRoutes } from './routes/session.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { mountWeb } from './web.ts';
import { notifierRoutes } from './routes/notifiers.ts';
import { statusRoutes } from './routes/status.ts';

export interface ServerOptions {
  ctx: ServiceContext;
  runner: JobRunner;
  /** True when listening beyond loopback: a token is then always required, even if none exists yet. */
  requireToken?: boolean;
  /** Where log lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Log one line per request. */
  logRequests?: boolean;
  /** The built dashboard (default web/dist of the checkout). */
  webDist?: string;
}

const BODY_LIMIT = 1 << 20;

/** Whether a listen address reaches only this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Refuses a non-loopback address when no token exists (API_TOKEN or an active catalog token): an API open
 * to the network without credentials would hand out every database.
 */
export async function checkBindAddress(ctx: ServiceContext, host: string): Promise<void> {
  if (isLoopback(host)) return;
  if (await tokensConfigured(ctx)) return;
  throw usageError('NO_TOKEN_FOR_PUBLIC_BIND', `Refusing to listen on ${host} without a token: set API_TOKEN or run \`coffre token create NAME\`, or listen on 127.0.0.1.`, {
    field: 'HOST',
  });
}

function scrubUrl(url: string): string {
  return redact(url.replace(/([?&]access_token=)[^&]*/gi, '$1***'));
}

function corsHook(origins: readonly string[]) {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (!origin || (!any && !allowed.has(origin))) return;
    reply.header('access-control-allow-origin', any ? '*' : origin);
    if (!any) reply.header('vary', 'Origin');
    reply.header('access-control-expose-headers', 'Location');
    if (request.method === 'OPTIONS') {
      reply.header('access-control-allow-methods', 'GET, POST, PATCH, DELETE, OPTIONS');
      reply.header('access-control-allow-headers', 'Authorization, Content-Type, Last-Event-ID');
      reply.header('access-control-max-age', '600');
    }
  };
}

/** Whether a Host header names this machine only (localhost, 127.0.0.0/8, ::1), with or without a port. */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(:\d{1,5})?$/i.exec(host.trim());
  return m !== null && isLoopback(m[1]);
}

const stateChanging = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Whether the route that will run is open without a token (health checks, the documentation, preflights). */
function isPublicRoute(request: FastifyRequest): boolean {
  return (request.routeOptions.config as { public?: boolean } | undefined)?.public === true;
}

/**
 * Refuses a state-changing request whose Origin is present and not allowed: a page of another site may send
 * a body-less POST (no preflight) even when it cannot read the answer. Allowed: the origins of CORS_ORIGINS
 * ("*" only while a token is required, since then the page would need one), and the server's own origin (the
 * Host the request was sent to; in open mode the Host check below keeps that loopback).
 */
function originHook(ctx: ServiceContext, origins: readonly string[], requireToken: boolean) {
  const listed = new Set(origins.filter((o) => o !== '*'));
  const any = origins.includes('*');
  return async (request: FastifyRequest) => {
    const origin = request.headers.origin;
    if (origin === undefined || !stateChanging.has(request.method)) return;
    if (listed.has(origin)) return;
    let own = false;
    try {
      const u = new URL(origin);
      own = (u.protocol === 'http:' || u.protocol === 'https:') && u.host === request.headers.host?.toLowerCase();
    } catch {
      own = false; // "null" and other opaque origins are never ours
    }
    if (own) return;
    if (any && (requireToken || (await tokensConfigured(ctx)))) return;
    throw new CoffreError('ORIGIN_FORBIDDEN', `Requests from the web origin ${origin.slice(0, 100)} may not change anything here: add it to CORS_ORIGINS if it is yours.`, {
      kind: 'forbidden',
      details: { header: 'Origin' },
    });
  };
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Bearer authentication, decided on the route that will run (request.routeOptions, set once the router has
 * matched the decoded path), never on the raw URL: "/%61pi/plans" is the route /api/plans and needs the
 * same token. Every route needs one but those declared public. With no token configured (open mode) the
 * API answers only requests whose Host is a loopback name, so a DNS-rebound page cannot reach it.
 *
 * It then checks the matched route's declared role. A Bearer token (or ?access_token= on /api/events, for
 * EventSource) wins over a session cookie. A cookie-authenticated request that changes state must carry the
 * session's CSRF token in X-Coffre-CSRF: SameSite=Strict already keeps the cookie off cross-site requests,
 * and the header is a second lock a cross-site page cannot open (it can neither read the token nor set a
 * custom header without a CORS preflight, which never carries the cookie).
 */
function authHook(ctx: ServiceContext, requireToken: boolean) {
  const unauthorized = (code: string, message: string) => new CoffreError(code, message, { kind: 'unauthorized' });
  return async (request: FastifyRequest) => {
    if (isPublicRoute(request)) return;
    // No route matched: the not-found handler answers, nothing else runs.
    if (request.routeOptions.url === undefined) return;
    const config = request.routeOptions.config as { role?: Role } | undefined;
    const header = request.headers.authorization;
    let token: string | undefined;
    if (header !== undefined) {
      const m = /^Bearer +(\S+) *$/i.exec(header);
      if (!m) throw unauthorized('BAD_AUTH_HEADER', 'The Authorization header must be "Bearer <token>".');
      token = m[1];
    } else if (request.routeOptions.url === '/api/events') {
      const q = (request.query as Record<string, unknown> | undefined)?.access_token;
      if (typeof q === 'string' && q) token = q;
    }
    let identity: RequestIdentity;
    const cookie = token === undefined ? cookieValue(request.headers.cookie, SESSION_COOKIE) : undefined;
    if (token !== undefined) {
      const who = await authenticate(ctx, token);
      identity = { name: who.name, role: who.role, via: 'token' };
    } else if (cookie) {
      const session = await findSession(ctx, cookie);
      if (!SAFE_METHODS.has(request.method) && !csrfMatches(cookie, request.headers['x-coffre-csrf'])) {
        throw new CoffreError('CSRF_TOKEN', 'A request made with the session cookie that changes something needs the X-Coffre-CSRF header from GET /api/session.', {
          kind: 'forbidden',
        });
      }
      identity = { name: session.name, role: session.role, via: 'session', sessionSecret: cookie };
    } else {
      if (requireToken || (await tokensConfigured(ctx)))
        throw unauthorized('MISSING_TOKEN', 'This API needs "Authorization: Bearer <token>" (API_TOKEN, or a token from `coffre token create NAME`).');
      if (!isLoopbackHostHeader(request.headers.host)) {
        throw new CoffreError(
          'HOST_FORBIDDEN',
          'Without a token this API answers only requests sent to localhost, 127.0.0.1 or [::1]: set API_TOKEN or run `coffre token create NAME` to serve other names.',
          {
            kind: 'forbidden',
            details: { header: 'Host' },
          },
        );
      }
      identity = { name: 'open', role: 'admin', via: 'open' };
    }
    setIdentity(request, identity);
    const need = config?.role ?? 'admin';
    if (!roleAllows(identity.role, need)) {
      throw new CoffreError('ROLE_REQUIRED', `This needs the ${need} role; "${identity.name}" has the ${identity.role} role (see \`coffre token create NAME --role ${need}\`).`, {
        kind: 'forbidden',
        details: { need, role: identity.role },
      });
    }
  };
}

/** Builds the Fastify app (not listening yet). */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { ctx, runner } = options;
  const log = options.log ?? (() => {});
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 500 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    frameworkErrors: (err, _request, reply) => {
      const { status, body } = toHttpError(err);
      void (reply as FastifyReply).status(status < 500 ? status : 400).send(body);
    },
  });
  acceptEmptyJsonBodies(app);
  // Per-route limits (a route's limitPerMinute), counted per client address in this process's memory. The
  // answer is a coded 429 with Retry-After; the plugin adds the X-RateLimit-* headers.
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new CoffreError('TOO_MANY_ATTEMPTS', `Too many attempts from this address (at most ${context.max} a minute): try again in ${context.after}.`, {
        kind: 'rate_limited',
        details: { max: context.max, retryAfterSeconds: Math.ceil(context.ttl / 1000) },
      }),
  });
  const deps: ApiDeps = { ctx, runner, streams: new Set() };
  const routes: RouteDef[] = [];
  routes.push(
    ...healthRoutes(deps),
    ...targetRoutes(deps),
    ...destinationRoutes(deps),
    ...planRoutes(deps),
    ...journalRoutes(deps),
    ...runRoutes(deps),
    ...jobRoutes(deps),
    ...pruneRoutes(deps),
    ...sessionRoutes(deps),
    ...tokenRoutes(deps),
    ...dashboardRoutes(deps),
    ...notifierRoutes(deps),
    ...statusRoutes(deps),
    ...docRoutes(() => routes),
  );

  app.addHook('onRequest', corsHook(ctx.config.api.corsOrigins));
  app.addHook('onRequest', originHook(ctx, ctx.config.api.corsOrigins, options.requireToken === true));
  app.addHook('onRequest', authHook(ctx, options.requireToken === true));
  app.setErrorHandler((err, request, reply) => {
    if ((err as CoffreError).kind === 'unauthorized') reply.header('www-authenticate', 'Bearer');
    return handleError(log)(err, request, reply);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'COFFRE_E_ROUTE_NOT_FOUND', message: `No route ${request.method} ${scrubUrl(request.url.split('?')[0]).slice(0, 200)}: see /api/docs.` } }),
  );
  // Preflight requests: the CORS hook has set the headers (or not, for an origin not allowed).
  app.options('/*', { config: { public: true } }, (_request, reply) => reply.status(204).send());
  if (options.logRequests) {
    app.addHook('onResponse', async (request, reply) => {
      log(`${request.method} ${scrubUrl(request.url)} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`);
    });
  }
  app.addHook('preClose', async () => {
    for (const close of [...deps.streams]) close();
  });
  mount(app, routes);
  await mountWeb(app, { dist: options.webDist });
  return app;
}
