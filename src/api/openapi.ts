// The OpenAPI 3.1 document, built from the same route declarations and zod schemas that check requests.
// /api/docs renders it with Swagger UI, whose assets coffre serves itself (api/web.ts; no CDN: servers
// often have no Internet).

import { z } from 'zod';
import { defineRoute, type RouteDef } from './route.ts';
import { ErrorResponse } from './schemas.ts';
import { coffreVersion } from '../pipeline/manifest.ts';

type Json = Record<string, unknown>;

const statusText: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted: the job runs in the background',
  400: 'Invalid input; `details.fields` names each bad field',
  401: 'Missing or invalid Bearer token',
  403: 'Not allowed (a role that does not reach this route, a revoked token, a missing CSRF header, a path outside RESTORE_ALLOWED_PATHS)',
  404: 'Unknown id',
  409: 'Conflict with the current state (a name taken, a plan already running)',
  503: 'Shutting down, or the catalog is unreachable; try again later',
};

function schemaOf(s: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema;
  return out;
}

function parameters(where: 'path' | 'query', s: z.ZodType | undefined): Json[] {
  if (!s) return [];
  const json = schemaOf(s, 'input');
  const props = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, schema]) => ({ name, in: where, required: where === 'path' || required.has(name), schema }));
}

/** The OpenAPI document for these routes. */
export function openApiDocument(routes: readonly RouteDef[]): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const p = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const responses: Record<string, Json> = {
      [r.status]: r.html
        ? { description: statusText[r.status] ?? 'OK', content: { 'text/html': {} } }
        : r.raw
          ? { description: 'An event stream', content: { 'text/event-stream': {} } }
          : { description: statusText[r.status] ?? 'OK', content: r.response ? { 'application/json': { schema: schemaOf(r.response, 'output') } } : undefined },
    };
    const errors = new Set([...(r.errors ?? []), ...(r.body || r.query || r.params ? [400] : []), ...(r.public ? [] : [401, 403])]);
    for (const status of [...errors].sort())
      responses[status] = { description: statusText[status] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const op: Json = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${p.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
      parameters: [...parameters('path', r.params), ...parameters('query', r.query)],
      responses,
    };
    if (r.body) op.requestBody = { required: !r.body.safeParse(undefined).success, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } };
    if (r.public) op.security = [];
    (paths[p] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'coffre',
      version: coffreVersion(),
      description: 'Backups of PostgreSQL, MySQL/MariaDB, MongoDB and SQLite databases. Errors are {"error": {"code", "message"}}. Secrets are write-only.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: "API_TOKEN, or a token from `coffre token create NAME`; the dashboard's session cookie works too (POST /api/session), with X-Coffre-CSRF on changes",
        },
      },
      schemas: { Error: schemaOf(ErrorResponse, 'output') },
    },
    paths,
  };
}

/** The route serving the document (no token needed: it holds no data). The page, /api/docs, is Swagger UI (api/web.ts). */
export function docRoutes(all: () => readonly RouteDef[]): RouteDef[] {
  let cached: Json | undefined;
  return [
    defineRoute({ method: 'GET', url: '/api/openapi.json', tag: 'docs', public: true, summary: 'This OpenAPI document', handler: () => (cached ??= openApiDocument(all())) }),
  ];
}
