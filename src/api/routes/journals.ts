// /api/journals: the backup journal, with the same row fields as `coffre journal --json`. A restore's
// journal id (as returned by POST /api/restores) is found by GET /api/journals/:id too. GET /api/restores
// pages through the restore journal, rows as in `coffre journal --restores --json`. POST
// /api/journals/:id/adopt takes a row imported by reindex into a plan (admin only: it decides what a
// plan's retention keeps and where a restore goes by default), as `coffre journal adopt` does.

import { getJournalEntry, listJournal } from '../../services/backups.ts';
import { adoptBackup } from '../../services/reindex.ts';
import { identityOf } from '../identity.ts';
import { getRestoreJournalEntry, listRestoreJournal } from '../../services/restores.ts';
import { isCoffreError } from '../../core/errors.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { DrillPage, DrillQuery, DrillRow, IdParams, JournalPage, JournalQuery, JournalRow, RestorePage, RestoreQuery, RestoreRow } from '../schemas.ts';
import { getDrillView, listDrillJournal } from '../../services/drills.ts';
import { z } from 'zod';

const AdoptBody = z
  .object({ planId: z.string().min(1).max(200).optional().describe('plan id or name') })
  .strict()
  .optional();

/** One page of rows fetched with limit + 1: the extra row only tells whether a next page exists. */
function page<T>(rows: T[], query: { limit: number; offset: number }) {
  const more = rows.length > query.limit;
  return { items: more ? rows.slice(0, query.limit) : rows, limit: query.limit, offset: query.offset, nextOffset: more ? query.offset + query.limit : null };
}

export function journalRoutes({ ctx }: ApiDeps): RouteDef[] {
  const tag = 'journals';
  return [
    defineRoute({
      method: 'GET',
      url: '/api/journals',
      role: 'viewer',
      tag,
      summary: 'Backup runs, newest first; filters planId (id or name), status, kind, from, to (ISO times on startedAt); limit and offset',
      query: JournalQuery,
      errors: [400, 404],
      response: JournalPage,
      handler: async ({ query }) => {
        return page(
          await listJournal(ctx, {
            plan: query.planId,
            status: query.status,
            kind: query.kind as never,
            from: query.from,
            to: query.to,
            limit: query.limit + 1,
            offset: query.offset,
          }),
          query,
        );
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/restores',
      role: 'viewer',
      tag,
      summary: 'Restore runs, newest first; limit and offset',
      query: RestoreQuery,
      errors: [400],
      response: RestorePage,
      handler: async ({ query }) => {
        return page(await listRestoreJournal(ctx, { limit: query.limit + 1, offset: query.offset }), query);
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/drills',
      role: 'viewer',
      tag,
      summary: 'Restore drills, newest first, each with its checks and RTO; filters planId (id or name), status; limit and offset',
      query: DrillQuery,
      errors: [400, 404],
      response: DrillPage,
      handler: async ({ query }) => page(await listDrillJournal(ctx, { plan: query.planId, status: query.status, limit: query.limit + 1, offset: query.offset }), query),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/drills/:id',
      role: 'viewer',
      tag,
      summary: 'One restore drill (id or unique prefix)',
      params: IdParams,
      errors: [400, 404],
      response: DrillRow,
      handler: async ({ params }) => getDrillView(ctx, params.id),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/journals/:id',
      role: 'viewer',
      tag,
      summary: 'One backup run (id or unique prefix), or a restore run by its id',
      params: IdParams,
      errors: [400, 404],
      response: z.union([JournalRow, RestoreRow]),
      handler: async ({ params }) => {
        try {
          return await getJournalEntry(ctx, params.id);
        } catch (err) {
          if (!isCoffreError(err) || err.kind !== 'not_found') throw err;
          const restore = await getRestoreJournalEntry(ctx, params.id);
          if (restore) return restore;
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/journals/:id/adopt',
      role: 'admin',
      tag,
      summary:
        'Adopt a backup imported by reindex into a plan {planId?} (default: the plan its manifest named by id): until then it counts for no plan and a restore of it needs targetId',
      params: IdParams,
      body: AdoptBody,
      errors: [400, 404, 409],
      response: JournalRow,
      handler: async ({ params, body, request }) => {
        const who = identityOf(request);
        const row = await adoptBackup(ctx, params.id, { plan: body?.planId, by: who ? `${who.via}:${who.name}` : 'api' });
        return getJournalEntry(ctx, row.id);
      },
    }),
  ];
}
