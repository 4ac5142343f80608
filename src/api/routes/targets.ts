// /api/sgbd-targets: the databases to back up ("SGBD targets" in the original design). Passwords go in,
// never out: every answer carries the masked URL.

import { addTarget, getTarget, listTargets, removeTarget, testTarget, updateTarget } from '../../services/targets.ts';
import { isCoffreError } from '../../core/errors.ts';
import { errorBody } from '../errors.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { IdParams, Target, TargetCreate, TargetPatch, TargetTest } from '../schemas.ts';
import { z } from 'zod';

/** The target routes. */
export function targetRoutes({ ctx }: ApiDeps): RouteDef[] {
  const tag = 'targets';
  return [
    defineRoute({ method: 'GET', url: '/api/sgbd-targets', role: 'viewer', tag, summary: 'List targets', response: z.array(Target), handler: () => listTargets(ctx) }),
    defineRoute({
      method: 'POST',
      url: '/api/sgbd-targets',
      role: 'admin',
      tag,
      summary: 'Add a target {name, url}',
      body: TargetCreate,
      status: 201,
      errors: [400, 409],
      response: Target,
      handler: ({ body }) => addTarget(ctx, body),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/sgbd-targets/:id',
      role: 'viewer',
      tag,
      summary: 'One target (by id or name)',
      params: IdParams,
      errors: [404],
      response: Target,
      handler: ({ params }) => getTarget(ctx, params.id),
    }),
    defineRoute({
      method: 'PATCH',
      url: '/api/sgbd-targets/:id',
      role: 'admin',
      tag,
      summary: 'Rename a target or change its URL',
      params: IdParams,
      body: TargetPatch,
      errors: [400, 404, 409],
      response: Target,
      handler: ({ params, body }) => updateTarget(ctx, params.id, body),
    }),
    defineRoute({
      method: 'DELETE',
      url: '/api/sgbd-targets/:id',
      role: 'admin',
      tag,
      summary: 'Remove a target no plan uses',
      params: IdParams,
      errors: [404, 409],
      response: Target,
      handler: ({ params }) => removeTarget(ctx, params.id),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/sgbd-targets/:id/test',
      role: 'operator',
      tag,
      summary: 'Connect to a target: server version and the client tool that fits ({ok: false, error} when it cannot)',
      params: IdParams,
      errors: [404],
      response: TargetTest,
      handler: async ({ params, request }) => {
        const target = await getTarget(ctx, params.id);
        const ac = new AbortController();
        request.raw.once('close', () => ac.abort());
        try {
          const { tool, clientVersion, serverVersion, databases } = await testTarget(ctx, target.id, ac.signal);
          return { ok: true, target, tool, clientVersion, serverVersion, ...(databases ? { databases } : {}) };
        } catch (err) {
          // The target being unreachable is the answer to the question asked, not a server failure.
          if (isCoffreError(err) && err.kind === 'failed') return { ok: false, target, error: errorBody(err).error };
          throw err;
        }
      },
    }),
  ];
}
