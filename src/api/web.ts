// The dashboard's static files (web/dist, built by `npm run build:web`) and the assets of /api/docs (Swagger
// UI from the swagger-ui-dist package), all served by coffre itself: the browser loads nothing from anywhere
// else, and the Content-Security-Policy set on every answer says so (no inline scripts, no other origins).
// The dashboard routes with the URL's hash (#/plans/…), so only `/` and its hashed assets are needed here.

import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the built dashboard lives in a checkout. */
export const WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');

/** The policy of every answer: scripts, styles and data only from coffre; no frames, no plugins, no inline script. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

async function listFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(root, full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

function send(reply: FastifyReply, file: string, immutable: boolean) {
  reply.type(types[path.extname(file)] ?? 'application/octet-stream');
  reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  return reply.send(createReadStream(file));
}

const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>coffre API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/assets/init.js"></script>
</body></html>
`;

// "Try it out" under the dashboard's login: the session cookie goes along (same origin), and requests that
// change something carry the session's CSRF token, read once from GET /api/session. A Bearer token given in
// "Authorize" works as well.
const docsInit = `(function () {
  var csrf = null;
  fetch('/api/session', { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; })
    .then(function (s) { csrf = s && s.csrf; }).catch(function () {});
  window.ui = SwaggerUIBundle({
    url: '/api/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis],
    requestInterceptor: function (req) {
      if (csrf && req.method && req.method.toUpperCase() !== 'GET') req.headers['X-Coffre-CSRF'] = csrf;
      return req;
    },
  });
})();
`;

/** Registers `/`, the dashboard's assets and the /api/docs page with its assets; sets the security headers on every answer. */
export async function mountWeb(app: FastifyInstance, options: { dist?: string } = {}): Promise<void> {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    return payload;
  });

  const dist = options.dist ?? WEB_DIST;
  const files = new Map<string, string>();
  try {
    if ((await stat(path.join(dist, 'index.html'))).isFile()) for (const f of await listFiles(dist)) files.set(`/${path.relative(dist, f).split(path.sep).join('/')}`, f);
  } catch {
    // Not built: `/` says how to build it.
  }
  const index = files.get('/index.html');
  app.get('/', { config: { public: true } }, (_request, reply) => {
    if (!index) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build:web` (npm start and npm run demo do it), then restart coffre.\n');
    }
    return send(reply, index, false);
  });
  app.get('/assets/*', { config: { public: true } }, (request, reply) => {
    const file = files.get(request.url.split('?')[0]);
    if (!file) return reply.status(404).send({ error: { code: 'COFFRE_E_ROUTE_NOT_FOUND', message: 'No such dashboard asset: rebuild with `npm run build:web`.' } });
    return send(reply, file, true);
  });
  for (const [url, file] of files)
    if (!url.startsWith('/assets/') && url !== '/index.html') app.get(url, { config: { public: true } }, (_request, reply) => send(reply, file, false));

  const swagger = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const docAssets: Record<string, string> = { 'swagger-ui.css': path.join(swagger, 'swagger-ui.css'), 'swagger-ui-bundle.js': path.join(swagger, 'swagger-ui-bundle.js') };
  app.get('/api/docs', { config: { public: true } }, (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(docsPage));
  app.get('/api/docs/assets/init.js', { config: { public: true } }, (_request, reply) => reply.type('text/javascript; charset=utf-8').send(docsInit));
  app.get<{ Params: { name: string } }>('/api/docs/assets/:name', { config: { public: true } }, (request, reply) => {
    const file = docAssets[request.params.name];
    if (!file) return reply.status(404).send({ error: { code: 'COFFRE_E_ROUTE_NOT_FOUND', message: 'No such documentation asset.' } });
    return send(reply, file, false);
  });
}
