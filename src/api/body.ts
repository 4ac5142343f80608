// Request bodies. A POST whose body is optional (`POST /api/plans/:id/execute`, `/:id/test`, …) sent with
// `Content-Type: application/json` and no bytes means "no options", as many HTTP clients send it; Fastify's
// own JSON parser answers 400 "Body cannot be empty" there. An empty body is therefore parsed as no body,
// and each route's schema decides: an optional body passes, a required one is refused as missing.
// Anything else goes through Fastify's default parser (prototype-poisoning checks included).

import type { FastifyInstance } from 'fastify';

export function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    return parseJson(request, text, done);
  });
}
