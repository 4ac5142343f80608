// What the dashboard needs beyond the CRUD routes, documented like every other route: GET /api/overview
// (each plan's health, red first, with sparkline points), GET /api/plans/:id/history (chart points), and
// POST /api/restores/preflight (what a restore would meet, changing nothing), POST /api/journals/:id/verify
// (what `coffre verify` does, answered when done).

import { z } from 'zod';
import { planHistory, planOverview } from '../../services/overview.ts';
import { restorePreflight } from '../../services/restore-preflight.ts';
import { verifyBackup } from '../../services/backups.ts';
import { errorBody } from '../errors.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { ErrorResponse, IdParams, JournalRow, Plan } from '../schemas.ts';

const RunPoint = z.object({
  id: z.string(),
  kind: z.string(),
  status: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  sizeBytes: z.number().nullable(),
  rawSizeBytes: z.number().nullable(),
});
const health = z.enum(['ok', 'failing', 'stale', 'never']);
const Overview = z.object({
  generatedAt: z.string(),
  totals: z.object({ plans: z.number(), ok: z.number(), failing: z.number(), stale: z.number(), never: z.number(), running: z.number(), lastStoredBytes: z.number() }),
  plans: z.array(
    z.object({
      plan: Plan,
      health,
      reason: z.string(),
      rpoSeconds: z.number().nullable().describe("the plan's RPO, else twice its schedule's interval; null: never stale"),
      running: z.boolean(),
      lastRun: RunPoint.nullable(),
      lastSuccess: RunPoint.nullable(),
      lastSuccessAgeSeconds: z.number().nullable(),
      nextRun: z.string().nullable(),
      recent: z.array(RunPoint).describe('the latest runs, oldest first'),
    }),
  ),
});
const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(2000).default(200),
  from: z
    .string()
    .max(64)
    .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO 8601 date or time')
    .transform((v) => new Date(Date.parse(v)).toISOString())
    .optional(),
});
const History = z.object({ plan: z.string(), planId: z.string(), points: z.array(RunPoint) });
const PreflightBody = z.object({ journalId: z.string().min(1).max(200), targetId: z.string().min(1).max(200).optional() });
const Preflight = z.object({
  backup: z.object({
    id: z.string(),
    plan: z.string(),
    status: z.string(),
    kind: z.string(),
    engine: z.string(),
    database: z.string(),
    rawFormat: z.string().nullable(),
    compression: z.string(),
    sizeBytes: z.number().nullable(),
    rawSizeBytes: z.number().nullable(),
    serverVersion: z.string().nullable(),
    tool: z.string().nullable(),
    startedAt: z.string(),
    chain: z.array(z.string()),
  }),
  target: z.object({
    id: z.string(),
    name: z.string(),
    engine: z.string(),
    database: z.string(),
    reachable: z.boolean(),
    serverVersion: z.string().nullable(),
    exists: z.boolean().nullable(),
    empty: z.boolean().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  }),
  problems: z.array(z.string()),
  needsReplace: z.boolean().describe('the target holds data: the restore needs options.replace'),
  ok: z.boolean(),
});

/** The dashboard's routes. */
export function dashboardRoutes({ ctx }: ApiDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/api/overview',
      tag: 'overview',
      role: 'viewer',
      summary: "Every plan's health (ok, failing, stale, never), red first, with totals and recent runs",
      response: Overview,
      handler: () => planOverview(ctx),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/plans/:id/history',
      tag: 'plans',
      role: 'viewer',
      summary: "A plan's runs as chart points (sizes, duration, kind, status), oldest first; limit (latest N), from",
      params: IdParams,
      query: HistoryQuery,
      errors: [404],
      response: History,
      handler: ({ params, query }) => planHistory(ctx, params.id, query),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/restores/preflight',
      tag: 'runs',
      role: 'operator',
      summary: 'Check a restore {journalId, targetId?} without running it: format, versions, chain, is the target reachable and empty',
      body: PreflightBody,
      errors: [404],
      response: Preflight,
      handler: async ({ body, reply }) => {
        // A client that goes away stops the probe (the reply closes before it is written).
        const ac = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) ac.abort();
        });
        return restorePreflight(ctx, body.journalId, body.targetId, ac.signal);
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/journals/:id/verify',
      tag: 'journals',
      role: 'operator',
      summary: 'Verify a backup now (re-hash, then decompress end to end, as `coffre verify`); answers when done, {ok: false, error} when it does not check out',
      params: IdParams,
      errors: [400, 404],
      response: z.object({ ok: z.boolean(), backup: JournalRow.extend({ verifiedAt: z.string() }), error: ErrorResponse.shape.error.optional() }),
      handler: async ({ params, reply }) => {
        const ac = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) ac.abort();
        });
        const { view, error } = await verifyBackup(ctx, params.id, ac.signal);
        return error ? { ok: false, backup: view, error: errorBody(error).error } : { ok: true, backup: view };
      },
    }),
  ];
}
