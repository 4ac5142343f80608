// How a route is declared: its method and path, zod schemas for params, query and body, and one handler
// that calls one service. The same declarations feed Fastify and the OpenAPI document, so the published
// contract and the checks made on each request cannot drift apart.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { ServiceContext } from '../services/context.ts';
import type { JobRunner } from '../services/jobs.ts';
import type { Role } from '../services/tokens.ts';
import { validationError } from './errors.ts';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

declare module 'fastify' {
  // What mount() puts in each route's config, read back by the server's hooks on the matched route.
  interface FastifyContextConfig {
    public?: boolean;
    role?: Role;
  }
}

/** What every route module receives. */
export interface ApiDeps {
  ctx: ServiceContext;
  runner: JobRunner;
  /** Closers of open event streams, ended when the server closes. */
  streams: Set<() => void>;
}

export interface HandlerInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  request: FastifyRequest;
  reply: FastifyReply;
}

/** A declared route, with its schemas erased to z.ZodType for the OpenAPI builder. */
export interface RouteDef {
  method: Method;
  /** Fastify path, e.g. /api/plans/:id. */
  url: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Schema of the success body, for the documentation only. */
  response?: z.ZodType;
  /** Success status (default 200). */
  status: number;
  /** Other statuses the route may answer, with what they mean (documentation). */
  errors?: number[];
  /** Open without a token (health checks, the documentation). */
  public?: boolean;
  /**
   * The least role a caller needs (viewer < operator < admin). Undeclared means admin, so a route someone
   * forgets to declare is closed rather than open. Checked on the matched route, never on the URL string.
   */
  role?: Role;
  /** The handler writes the reply itself (Server-Sent Events). */
  raw?: boolean;
  /** At most this many requests per client address per window (@fastify/rate-limit); the window is a minute. */
  limitPerMinute?: number;
  /** Produces text/html instead of JSON. */
  html?: boolean;
  handler: (input: HandlerInput<any, any, any>) => unknown;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/** Declares a route; the handler's params, query and body are typed from the schemas. */
export function defineRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(spec: {
  method: Method;
  url: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  response?: z.ZodType;
  status?: number;
  errors?: number[];
  public?: boolean;
  role?: Role;
  raw?: boolean;
  limitPerMinute?: number;
  html?: boolean;
  handler: (input: HandlerInput<Out<P>, Out<Q>, Out<B>>) => unknown;
}): RouteDef {
  return { ...spec, status: spec.status ?? 200 } as RouteDef;
}

function check(part: 'params' | 'query' | 'body', schema: z.ZodType | undefined, value: unknown): unknown {
  if (!schema) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(part, parsed.error);
  return parsed.data;
}

/** Registers declared routes on a Fastify instance. */
export function mount(app: FastifyInstance, routes: readonly RouteDef[]): void {
  for (const def of routes) {
    app.route({
      method: def.method,
      url: def.url,
      config: {
        public: def.public === true,
        role: def.role ?? 'admin',
        ...(def.limitPerMinute === undefined ? {} : { rateLimit: { max: def.limitPerMinute, timeWindow: 60_000 } }),
      },
      handler: async (request, reply) => {
        const params = check('params', def.params, request.params);
        const query = check('query', def.query, request.query);
        const body = check('body', def.body, request.body);
        const result = await def.handler({ params, query, body, request, reply });
        if (def.raw) return reply;
        if (def.html) return reply.status(def.status).type('text/html; charset=utf-8').send(result);
        return reply.status(def.status).send(result);
      },
    });
  }
}
