// Runs in the background: POST /api/backups, POST /api/restores and its historical alias
// POST /api/restore/:id. Each answers 202 at once with the job id and the journal id; the job is followed
// at /api/jobs/:id or on /api/events.

import type { FastifyReply } from 'fastify';
import type { JobView } from '../../services/jobs.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { Accepted, BackupCreate, IdParams, RestoreAliasBody, RestoreCreate } from '../schemas.ts';

/** The 202 answer for a submitted job, with a Location to follow it. */
export function accepted(reply: FastifyReply, job: JobView): { jobId: string; journalId: string | null; status: string; job: JobView } {
  reply.header('location', `/api/jobs/${job.id}`);
  return { jobId: job.id, journalId: job.journalId, status: job.status, job };
}

/** The backup and restore routes. */
export function runRoutes({ runner }: ApiDeps): RouteDef[] {
  const tag = 'runs';
  return [
    defineRoute({
      method: 'POST',
      url: '/api/backups',
      role: 'operator',
      tag,
      summary: 'Start a backup {planId, options: {variant, compressionFormat}}',
      body: BackupCreate,
      status: 202,
      errors: [400, 404, 409, 503],
      response: Accepted,
      handler: async ({ body, reply }) =>
        accepted(reply, await runner.submitBackup({ plan: body.planId, kind: body.options?.variant, compression: body.options?.compressionFormat })),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/restores',
      role: 'operator',
      tag,
      summary:
        "Start a restore {journalId | path, targetId?, options: {replace?, database?, allowProgram?, globals?}}; a path must lie under RESTORE_ALLOWED_PATHS; a server run's id (with a server targetId) restores each of its databases, or with globals its PostgreSQL roles",
      body: RestoreCreate,
      status: 202,
      errors: [400, 403, 404, 409, 503],
      response: Accepted,
      handler: async ({ body, reply }) =>
        accepted(
          reply,
          await runner.submitRestore({
            journalId: body.journalId,
            path: body.path,
            target: body.targetId,
            replace: body.options?.replace,
            database: body.options?.database,
            allowProgram: body.options?.allowProgram,
            globals: body.options?.globals,
          }),
        ),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/restore/:id',
      role: 'operator',
      tag,
      summary: 'Restore the backup with this journal id (historical alias of POST /api/restores)',
      params: IdParams,
      body: RestoreAliasBody,
      status: 202,
      errors: [400, 404, 409, 503],
      response: Accepted,
      handler: async ({ params, body, reply }) =>
        accepted(
          reply,
          await runner.submitRestore({
            journalId: params.id,
            target: body?.targetId,
            replace: body?.options?.replace,
            database: body?.options?.database,
            allowProgram: body?.options?.allowProgram,
            globals: body?.options?.globals,
          }),
        ),
    }),
  ];
}
