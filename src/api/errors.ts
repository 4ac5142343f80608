// The one place where an error becomes an HTTP answer. A CoffreError's kind picks the status; anything else
// a client can cause inside Fastify (bad JSON, a body too large, a wrong content type) keeps its 4xx status
// under a coffre code; anything unexpected is a 500 whose body says only that, while the server's log gets
// the redacted detail. Bodies are always {"error": {"code", "message", "details"?}}, never a stack trace.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { CoffreError, asCoffreError, usageError, type ErrorKind, type HintWords, type Listing } from '../core/errors.ts';
import { redact } from '../core/redact.ts';

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const statusByKind: Record<ErrorKind, number> = {
  usage: 400,
  not_found: 404,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  failed: 500,
};

/** The HTTP status of a coded error: its kind's, and 503 for a failure worth retrying later. */
export function statusOf(err: CoffreError): number {
  if (err.kind === 'failed') return err.retryable || err.code === 'COFFRE_E_CATALOG_UNAVAILABLE' ? 503 : 500;
  return statusByKind[err.kind];
}

const routeOf: Record<Listing, string> = {
  plans: '/api/plans',
  targets: '/api/sgbd-targets',
  destinations: '/api/destinations',
  journal: '/api/journals',
  drills: '/api/drills',
  notifiers: '/api/notifiers',
  tokens: '/api/tokens',
};

/** How the API words an error's hint: as the JSON field to set or the route to call (the CLI's flags are the messages' default). */
export const fieldWords: HintWords = (hint) => {
  if ('flag' in hint) return `"${hint.flag}": true`;
  if ('kind' in hint) return `"kind": "${hint.kind}"`;
  if ('database' in hint) return 'options.database';
  if ('target' in hint) return 'targetId';
  if ('see' in hint) return `GET ${routeOf[hint.see]}`;
  if ('adopt' in hint) {
    const body = hint.plan ? ` with {"planId": "${hint.plan}"}` : '';
    return hint.adopt.map((id) => `POST /api/journals/${id}/adopt${body}`).join(', then ');
  }
  if ('backup' in hint) return `POST /api/plans/${encodeURIComponent(hint.backup)}/execute`;
  if ('drillTarget' in hint) return 'drillTargetId';
  if ('option' in hint) return `"${hint.field ?? hint.option}"`;
  return 'an identity stored in the catalog (an operator runs `coffre key import` on the server; the API opens with stored identities only)';
};

/** The JSON body for an error (message redacted, its hint worded as JSON fields). */
export function errorBody(err: CoffreError): ErrorBody {
  const body: ErrorBody = { error: { code: err.code, message: redact(err.worded(fieldWords)) } };
  if (err.details) body.error.details = JSON.parse(redact(JSON.stringify(err.details))) as Record<string, unknown>;
  return body;
}

/** Turns a zod failure on one part of a request into a 400 naming each bad field. */
export function validationError(part: 'body' | 'query' | 'params', error: z.ZodError): CoffreError {
  const fields = error.issues.slice(0, 20).map((i) => ({ field: i.path.length ? i.path.join('.') : part, message: i.message }));
  const summary = fields
    .slice(0, 3)
    .map((f) => `${f.field}: ${f.message}`)
    .join('; ');
  return usageError('VALIDATION', `Invalid request ${part}: ${summary}${fields.length > 3 ? '; …' : ''}.`, { in: part, fields });
}

const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_CONTENT_LENGTH',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'EMPTY_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_JSON',
};

/** Maps anything thrown by a route or by Fastify to a status and a body. */
export function toHttpError(thrown: unknown): { status: number; body: ErrorBody; unexpected: boolean } {
  if (thrown instanceof CoffreError) return { status: statusOf(thrown), body: errorBody(thrown), unexpected: false };
  const fe = thrown as Partial<FastifyError> | undefined;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fastifyCodes[fe.code ?? ''] ?? (fe instanceof SyntaxError ? 'BAD_JSON' : 'BAD_REQUEST');
    const message = code === 'BAD_JSON' ? 'The body is not valid JSON.' : redact(String(fe.message ?? 'Bad request.'));
    return { status: fe.statusCode, body: { error: { code: `COFFRE_E_${code}`, message } }, unexpected: false };
  }
  const err = asCoffreError(thrown);
  if (err.code !== 'COFFRE_E_INTERNAL') return { status: statusOf(err), body: errorBody(err), unexpected: false };
  return { status: 500, body: { error: { code: 'COFFRE_E_INTERNAL', message: 'Unexpected server error; the server log has the details.' } }, unexpected: true };
}

/** Fastify's error handler: answers with the mapped error and logs unexpected ones (redacted). */
export function handleError(log: (line: string) => void) {
  return (thrown: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, unexpected } = toHttpError(thrown);
    if (unexpected || status >= 500) {
      const detail = thrown instanceof Error ? (thrown.stack ?? thrown.message) : String(thrown);
      log(`error ${request.method} ${request.routeOptions.url ?? '?'}: ${redact(detail)}`);
    }
    return reply.status(status).type('application/json; charset=utf-8').send(body);
  };
}
