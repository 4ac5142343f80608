// The cron ticks of plans (`schedule_ticks`): one row per (plan, tick), claimed by exactly one worker, with
// what became of it ('started', 'queued' in a cluster, 'skipped', 'done').

import type { Kysely } from 'kysely';
import type { CatalogSchema } from './schema.ts';
import { isoNow } from '../core/ids.ts';

type Db = Kysely<CatalogSchema>;

/** Claims a tick: true for the first caller only. */
export async function claimTick(db: Db, planId: string, tickAt: Date, outcome: string, jobId: string | null = null): Promise<boolean> {
  const rows = await db
    .insertInto('schedule_ticks')
    .values({ plan_id: planId, tick_at: tickAt.toISOString(), outcome, job_id: jobId, created_at: isoNow() })
    .onConflict((oc) => oc.columns(['plan_id', 'tick_at']).doNothing())
    .returning('plan_id')
    .execute();
  return rows.length === 1;
}

/** Sets the outcome of a claimed tick. */
export async function setTickOutcome(db: Db, planId: string, tickAt: Date | string, outcome: string): Promise<void> {
  const tick = typeof tickAt === 'string' ? tickAt : tickAt.toISOString();
  await db.updateTable('schedule_ticks').set({ outcome }).where('plan_id', '=', planId).where('tick_at', '=', tick).execute();
}

/** The latest tick of a plan claimed by any worker, or null. */
export async function lastClaimedTick(db: Db, planId: string): Promise<Date | null> {
  const row = await db
    .selectFrom('schedule_ticks')
    .select((eb) => eb.fn.max('tick_at').as('last'))
    .where('plan_id', '=', planId)
    .executeTakeFirst();
  return row?.last ? new Date(row.last) : null;
}

/** The ticks of a plan still `queued` (cluster), other than `exceptTick`. */
export async function queuedTicks(db: Db, planId: string, exceptTick: string): Promise<Array<{ tickAt: string; jobId: string | null }>> {
  const rows = await db
    .selectFrom('schedule_ticks')
    .select(['tick_at', 'job_id'])
    .where('plan_id', '=', planId)
    .where('outcome', '=', 'queued')
    .where('tick_at', '<>', exceptTick)
    .execute();
  return rows.map((r) => ({ tickAt: r.tick_at, jobId: r.job_id }));
}
