// /api/plans: what to back up, where and how; /api/plans/:id/execute, a backup now in the background; and
// /api/plans/:id/drill, a restore drill now in the background.

import { z } from 'zod';
import { addPlan, getPlan, listPlans, removePlan, updatePlan } from '../../services/plans.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { Accepted, DrillBody, ExecuteBody, IdParams, Plan, PlanCreate, PlanPatch } from '../schemas.ts';
import { accepted } from './runs.ts';

/** The alerting fields of a plan body (issue 12), as the service takes them. */
function alertingOf(b: { notify?: string[]; notifyOn?: string[]; rpo?: string | number | null; pingUrl?: string | null }) {
  return { notify: b.notify, notifyOn: b.notifyOn, rpo: b.rpo, pingUrl: b.pingUrl };
}

/** The plan routes. */
export function planRoutes({ ctx, runner }: ApiDeps): RouteDef[] {
  const tag = 'plans';
  return [
    defineRoute({ method: 'GET', url: '/api/plans', role: 'viewer', tag, summary: 'List plans', response: z.array(Plan), handler: () => listPlans(ctx) }),
    defineRoute({
      method: 'POST',
      url: '/api/plans',
      role: 'admin',
      tag,
      summary: 'Add a plan {name, targetId, destinationId | destinationIds, kind, compression, cron}',
      body: PlanCreate,
      status: 201,
      errors: [400, 404, 409],
      response: Plan,
      handler: ({ body }) =>
        addPlan(ctx, {
          name: body.name,
          target: body.targetId,
          destination: body.destinationIds ?? body.destinationId,
          kind: body.kind,
          compression: body.compression,
          cron: body.cron,
          timezone: body.timezone,
          retention: body.retention,
          missedRuns: body.missedRuns,
          missedGraceSeconds: body.missedGraceSeconds,
          alerting: alertingOf(body),
          encryptTo: body.encryptTo,
          drill: body.drill,
        }),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/plans/:id',
      role: 'viewer',
      tag,
      summary: 'One plan (by id or name)',
      params: IdParams,
      errors: [404],
      response: Plan,
      handler: ({ params }) => getPlan(ctx, params.id),
    }),
    defineRoute({
      method: 'PATCH',
      url: '/api/plans/:id',
      role: 'admin',
      tag,
      summary: 'Change fields of a plan',
      params: IdParams,
      body: PlanPatch,
      errors: [400, 404, 409],
      response: Plan,
      handler: ({ params, body }) => {
        const { targetId, destinationId, destinationIds, notify, notifyOn, rpo, pingUrl, ...rest } = body;
        return updatePlan(ctx, params.id, { ...rest, target: targetId, destination: destinationIds ?? destinationId, alerting: alertingOf({ notify, notifyOn, rpo, pingUrl }) });
      },
    }),
    defineRoute({
      method: 'DELETE',
      url: '/api/plans/:id',
      role: 'admin',
      tag,
      summary: 'Remove a plan (its journal and artifacts stay)',
      params: IdParams,
      errors: [404],
      response: Plan,
      handler: ({ params }) => removePlan(ctx, params.id),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/plans/:id/execute',
      role: 'operator',
      tag,
      summary: 'Back up a plan now, in the background: 202 with the job and journal ids',
      params: IdParams,
      body: ExecuteBody,
      status: 202,
      errors: [400, 404, 409, 503],
      response: Accepted,
      handler: async ({ params, body, reply }) =>
        accepted(reply, await runner.submitBackup({ plan: params.id, kind: body?.options?.variant, compression: body?.options?.compressionFormat })),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/plans/:id/drill',
      role: 'operator',
      tag,
      summary:
        'Drill a plan now, in the background: restore its latest (or the given) backup into a scratch database, check it, measure the RTO, drop the scratch; 202 with the job and drill ids (GET /api/drills/:id)',
      params: IdParams,
      body: DrillBody,
      status: 202,
      errors: [400, 404, 409, 503],
      response: Accepted,
      handler: async ({ params, body, reply }) => accepted(reply, await runner.submitDrill({ plan: params.id, backup: body?.backupId, drillTarget: body?.drillTargetId })),
    }),
  ];
}
