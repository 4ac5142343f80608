// /api/destinations: where artifacts go. Cloud credentials are write-only: answers show settings only.
// POST /api/destinations/:id/reindex journals the backups whose manifests a destination holds (after a lost
// catalog), answering the report `coffre reindex --json` prints.

import { z } from 'zod';
import { addDestination, getDestination, listDestinations, removeDestination, testDestination, updateDestination } from '../../services/destinations.ts';
import { reindexDestination } from '../../services/reindex.ts';
import { isCoffreError } from '../../core/errors.ts';
import { errorBody } from '../errors.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { Destination, DestinationCreate, DestinationPatch, DestinationTest, IdParams, ReindexReport } from '../schemas.ts';

/** The destination routes. */
export function destinationRoutes({ ctx }: ApiDeps): RouteDef[] {
  const tag = 'destinations';
  return [
    defineRoute({
      method: 'GET',
      url: '/api/destinations',
      role: 'viewer',
      tag,
      summary: 'List destinations',
      response: z.array(Destination),
      handler: () => listDestinations(ctx),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/destinations',
      role: 'admin',
      tag,
      summary: 'Add a destination {name, type, path, ...}',
      body: DestinationCreate,
      status: 201,
      errors: [400, 409],
      response: Destination,
      handler: ({ body }) => addDestination(ctx, body),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/destinations/:id',
      role: 'viewer',
      tag,
      summary: 'One destination (by id or name)',
      params: IdParams,
      errors: [404],
      response: Destination,
      handler: ({ params }) => getDestination(ctx, params.id),
    }),
    defineRoute({
      method: 'PATCH',
      url: '/api/destinations/:id',
      role: 'admin',
      tag,
      summary: 'Rename a destination or change its settings',
      params: IdParams,
      body: DestinationPatch,
      errors: [400, 404, 409],
      response: Destination,
      handler: ({ params, body }) => updateDestination(ctx, params.id, body),
    }),
    defineRoute({
      method: 'DELETE',
      url: '/api/destinations/:id',
      role: 'admin',
      tag,
      summary: 'Remove a destination no plan uses',
      params: IdParams,
      errors: [404, 409],
      response: Destination,
      handler: ({ params }) => removeDestination(ctx, params.id),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/destinations/:id/test',
      role: 'operator',
      tag,
      summary: 'Check that a destination is reachable and writable ({ok: false, error} when not)',
      params: IdParams,
      errors: [404],
      response: DestinationTest,
      handler: async ({ params }) => {
        const destination = await getDestination(ctx, params.id);
        try {
          await testDestination(ctx, destination.id);
          return { ok: true, destination };
        } catch (err) {
          if (isCoffreError(err) && err.kind === 'failed') return { ok: false, destination, error: errorBody(err).error };
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/destinations/:id/reindex',
      role: 'admin',
      tag,
      summary: 'Journal the backups whose manifests are in this destination (after a lost catalog); objects without a manifest are listed as orphans, never imported',
      params: IdParams,
      errors: [404, 409],
      response: ReindexReport,
      handler: ({ params }) => reindexDestination(ctx, params.id),
    }),
  ];
}
