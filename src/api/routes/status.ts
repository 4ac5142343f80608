// GET /api/status (every plan's health, as `coffre status --json`) and GET /metrics (Prometheus text format,
// from the catalog, so any worker answers for the whole cluster). /metrics sits outside /api for scrapers' sake
// and checks its own token: METRICS_TOKEN (which opens nothing else) or any API token.

import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { CoffreError } from '../../core/errors.ts';
import { planStatuses, metricsText } from '../../services/status.ts';
import { authenticate, tokensConfigured } from '../../services/tokens.ts';
import type { ServiceContext } from '../../services/context.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { StatusReport } from '../schemas.ts';

function same(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Lets a scrape in with METRICS_TOKEN or an API token; open only when no token of either kind exists. */
async function checkMetricsAuth(ctx: ServiceContext, request: FastifyRequest): Promise<void> {
  const unauthorized = (code: string, message: string) => new CoffreError(code, message, { kind: 'unauthorized' });
  const header = request.headers.authorization;
  const metricsToken = ctx.config.notify.metricsToken;
  if (header === undefined) {
    if (metricsToken || (await tokensConfigured(ctx))) throw unauthorized('MISSING_TOKEN', '/metrics needs "Authorization: Bearer <token>" (METRICS_TOKEN or an API token).');
    return;
  }
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (!m) throw unauthorized('BAD_AUTH_HEADER', 'The Authorization header must be "Bearer <token>".');
  if (metricsToken && same(m[1], metricsToken)) return;
  await authenticate(ctx, m[1]);
}

/** The status and metrics routes. */
export function statusRoutes({ ctx }: ApiDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/api/status',
      role: 'viewer',
      tag: 'status',
      summary: "Every plan's health (ok, failing, stale, never); ok is true when all are ok",
      response: StatusReport,
      handler: () => planStatuses(ctx),
    }),
    defineRoute({
      method: 'GET',
      url: '/metrics',
      tag: 'status',
      public: true,
      raw: true,
      summary: 'Prometheus metrics (text format) from the catalog; Bearer METRICS_TOKEN or an API token',
      errors: [401],
      handler: async ({ request, reply }) => {
        await checkMetricsAuth(ctx, request);
        const { contentType, body } = await metricsText(ctx);
        await reply.status(200).type(contentType).send(body);
      },
    }),
  ];
}
