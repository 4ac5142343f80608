// POST /api/plans/:id/prune: applies a plan's retention policy now, or with {"dryRun": true} lists what
// would go and why. Same report as `coffre prune --json`.

import { z } from 'zod';
import { prunePlan } from '../../services/retention.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { IdParams } from '../schemas.ts';

const PruneBody = z.object({ dryRun: z.boolean().optional() }).strict().optional();
const Decision = z.object({ id: z.string(), startedAt: z.string(), kind: z.string(), reasons: z.array(z.string()) });
const PruneReport = z.object({
  plan: z.string(),
  planId: z.string(),
  dryRun: z.boolean(),
  policy: z.record(z.string(), z.number()).nullable(),
  rules: z.string(),
  kept: z.array(Decision),
  removed: z.array(Decision.extend({ artifact: z.string().nullable(), error: z.object({ code: z.string(), message: z.string() }).optional() })),
  failed: z.number(),
  held: z.array(Decision).describe('backups imported by reindex for this plan and not adopted: neither kept nor removed, and not counted by the rules'),
});

/** The prune route. */
export function pruneRoutes({ ctx }: ApiDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'POST',
      url: '/api/plans/:id/prune',
      role: 'operator',
      tag: 'plans',
      summary: "Apply the plan's retention policy now ({dryRun: true}: only list what would go and why)",
      params: IdParams,
      body: PruneBody,
      errors: [400, 404],
      response: PruneReport,
      handler: ({ params, body }) => prunePlan(ctx, params.id, { dryRun: body?.dryRun === true }),
    }),
  ];
}
