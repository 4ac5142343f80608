// The OpenAPI 3.1 document, built from the same route declarations and zod schemas that check requests, and
// a self-contained documentation page (no CDN: servers often have no Internet) that renders it.

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
  403: 'Not allowed (a revoked token, a path outside RESTORE_ALLOWED_PATHS)',
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
    for (const status of [...errors].sort()) responses[status] = { description: statusText[status] ?? 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
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
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API_TOKEN, or a token from `coffre token create NAME`' } },
      schemas: { Error: schemaOf(ErrorResponse, 'output') },
    },
    paths,
  };
}

const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>coffre API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#1d1d1f}
h1{margin-bottom:0}.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0}
summary{cursor:pointer;padding:.5rem .7rem;display:flex;gap:.7rem;align-items:baseline}
.m{font:600 12px monospace;padding:2px 6px;border-radius:4px;color:#fff;min-width:3.5rem;text-align:center}
.GET{background:#2b7bb9}.POST{background:#2f9e44}.PATCH{background:#c77d0a}.DELETE{background:#c92a2a}
code,pre{font:13px ui-monospace,monospace}pre{background:#f6f8fa;padding:.6rem;overflow:auto;margin:.3rem .7rem .7rem}
h3{margin:.4rem .7rem;font-size:13px;color:#555}.tag{margin-top:1.5rem;text-transform:capitalize}
</style></head><body>
<h1>coffre API</h1><p id="info">Loading <a href="openapi.json">openapi.json</a>…</p><div id="ops"></div>
<script>
fetch('openapi.json').then(r => r.json()).then(doc => {
  const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
  document.getElementById('info').innerHTML = esc(doc.info.description) + ' Version ' + esc(doc.info.version) + '. Raw document: <a href="openapi.json">openapi.json</a>.';
  const byTag = {};
  for (const [p, ops] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(ops)) (byTag[op.tags[0]] ??= []).push([m.toUpperCase(), p, op]);
  let html = '';
  for (const [tag, list] of Object.entries(byTag)) {
    html += '<h2 class="tag">' + esc(tag) + '</h2>';
    for (const [m, p, op] of list) {
      html += '<details class="op"><summary><span class="m ' + m + '">' + m + '</span><code>' + esc(p) + '</code><span>' + esc(op.summary) + (op.security && op.security.length === 0 ? ' (no token)' : '') + '</span></summary>';
      if (op.parameters.length) html += '<h3>Parameters</h3><pre>' + esc(op.parameters.map(x => x.in + ' ' + x.name + (x.required ? ' (required)' : '') + ': ' + JSON.stringify(x.schema)).join('\\n')) + '</pre>';
      if (op.requestBody) html += '<h3>Body</h3><pre>' + esc(JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)) + '</pre>';
      for (const [s, r] of Object.entries(op.responses)) {
        const c = r.content && (r.content['application/json'] || r.content['text/event-stream'] || r.content['text/html']);
        const schema = c && c.schema && !c.schema.$ref ? '<pre>' + esc(JSON.stringify(c.schema, null, 2)) + '</pre>' : '';
        html += '<h3>' + esc(s) + ' ' + esc(r.description) + '</h3>' + schema;
      }
      html += '</details>';
    }
  }
  document.getElementById('ops').innerHTML = html;
});
</script></body></html>
`;

/** The routes serving the document and the page (no token needed: they hold no data). */
export function docRoutes(all: () => readonly RouteDef[]): RouteDef[] {
  let cached: Json | undefined;
  return [
    defineRoute({ method: 'GET', url: '/api/openapi.json', tag: 'docs', public: true, summary: 'This OpenAPI document', handler: () => (cached ??= openApiDocument(all())) }),
    defineRoute({ method: 'GET', url: '/api/docs', tag: 'docs', public: true, html: true, summary: 'Browsable documentation', handler: () => page }),
  ];
}
