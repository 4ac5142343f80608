// /healthz (the process answers) and /readyz (the catalog answers and jobs are taken), without a token,
// for load balancers and orchestrators.

import { sql } from 'kysely';
import { failure } from '../../core/errors.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { Health } from '../schemas.ts';

/** The health routes. */
export function healthRoutes({ ctx, runner }: ApiDeps): RouteDef[] {
  const tag = 'health';
  return [
    defineRoute({ method: 'GET', url: '/healthz', tag, public: true, summary: 'The server is up', response: Health, handler: () => ({ status: 'ok' }) }),
    defineRoute({
      method: 'GET',
      url: '/readyz',
      tag,
      public: true,
      summary: 'The catalog is reachable and jobs are taken (503 otherwise)',
      errors: [503],
      response: Health,
      handler: async () => {
        if (!runner.accepting) throw failure('SHUTTING_DOWN', 'The server is shutting down.', { retryable: true });
        try {
          await sql`select 1`.execute(ctx.catalog.db);
        } catch (err) {
          throw failure('CATALOG_UNAVAILABLE', 'The catalog is not reachable.', { cause: err, retryable: true });
        }
        return { status: 'ready' };
      },
    }),
  ];
}
