// Who a request acts as: set once by the auth hook in server.ts, read by the routes that need to know
// (GET /api/session, logout).

import type { FastifyRequest } from 'fastify';
import type { Role } from '../services/tokens.ts';

/** Who a request acts as, set by the auth hook for the routes that need to know (GET /api/session). */
export interface RequestIdentity {
  name: string;
  role: Role;
  /** How it authenticated: a Bearer token, a session cookie, or nothing (no token configured, loopback only). */
  via: 'token' | 'session' | 'open';
  /** The session's cookie secret, when via is `session`. */
  sessionSecret?: string;
}

const identities = new WeakMap<FastifyRequest, RequestIdentity>();

/** The identity the auth hook found for this request (undefined on public routes). */
export function identityOf(request: FastifyRequest): RequestIdentity | undefined {
  return identities.get(request);
}

/** Records the identity of a request (the auth hook only). */
export function setIdentity(request: FastifyRequest, identity: RequestIdentity): void {
  identities.set(request, identity);
}
