// The drill journal, read side (`drills`: one row per restore drill, written by catalog/runs.ts only), and
// the plans' drill settings (`plan_drills`).

import type { Kysely } from 'kysely';
import type { CatalogSchema, DrillsTable, PlanDrillsTable } from './schema.ts';
import { rowToRecord, type RunStatus, type RunTrigger } from './journal.ts';
import { isIdPrefix } from './lookup.ts';
import { notFound, usageError } from '../core/errors.ts';

type Db = Kysely<CatalogSchema>;

type CamelKey<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelKey<T>>}` : S;
type Camel<T> = { [K in keyof T as CamelKey<K & string>]: T[K] };

export type DrillRecord = Omit<Camel<DrillsTable>, 'status' | 'trigger' | 'scratchCreated' | 'scratchDropped'> & {
  status: RunStatus;
  trigger: RunTrigger;
  scratchCreated: boolean;
  scratchDropped: boolean;
};

export function toDrill(row: DrillsTable): DrillRecord {
  const r = rowToRecord<DrillRecord>(row);
  r.scratchCreated = Number(row.scratch_created) === 1;
  r.scratchDropped = Number(row.scratch_dropped) === 1;
  return r;
}

/** A drill by full id or unique prefix; not_found when none. */
export async function getDrill(db: Db, ref: string): Promise<DrillRecord> {
  const exact = await db.selectFrom('drills').selectAll().where('id', '=', ref).executeTakeFirst();
  if (exact) return toDrill(exact);
  if (!isIdPrefix(ref)) throw usageError('BAD_JOURNAL_ID', `"${ref}" is not a drill id: give the id shown by {hint}.`, undefined, { see: 'drills' });
  const rows = await db.selectFrom('drills').selectAll().where('id', 'like', `${ref.toLowerCase()}%`).limit(2).execute();
  if (rows.length > 1) throw usageError('AMBIGUOUS_ID', `The id prefix "${ref}" matches several drills: type more characters.`);
  if (rows.length === 0) throw notFound('DRILL_NOT_FOUND', `No drill with id ${ref} in the journal: see {hint}.`, { see: 'drills' });
  return toDrill(rows[0]);
}

export interface DrillQuery {
  planId?: string;
  status?: string;
  limit?: number;
  offset?: number;
}

/** Drill rows, newest first. */
export async function listDrills(db: Db, q: DrillQuery = {}): Promise<DrillRecord[]> {
  let query = db.selectFrom('drills').selectAll();
  if (q.planId) query = query.where('plan_id', '=', q.planId);
  if (q.status) query = query.where('status', '=', q.status);
  const rows = await query
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit ?? 50)
    .offset(q.offset ?? 0)
    .execute();
  return rows.map(toDrill);
}

/** Drills still `running` on this host (for the recovery of dead processes). */
export async function runningDrills(db: Db, host: string): Promise<DrillRecord[]> {
  return (await db.selectFrom('drills').selectAll().where('status', '=', 'running').where('host', '=', host).execute()).map(toDrill);
}

/** How many runs (backups, restores, drills) are `running` against a target, `exceptDrill` aside. */
export async function runningOnTarget(db: Db, targetId: string, exceptDrill: string): Promise<number> {
  const count = async (table: 'backups' | 'restores' | 'drills') => {
    let q = db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '=', 'running')
      .where('target_id', '=', targetId);
    if (table === 'drills') q = q.where('id', '<>', exceptDrill);
    return Number((await q.executeTakeFirst())?.n ?? 0);
  };
  return (await count('backups')) + (await count('restores')) + (await count('drills'));
}

/** The latest finished drill of each plan, and the latest successful one. */
export async function latestDrills(db: Db): Promise<Map<string, { last?: DrillRecord; lastSuccess?: DrillRecord }>> {
  const rows = (await db.selectFrom('drills').selectAll().where('status', '<>', 'running').where('plan_id', 'is not', null).orderBy('started_at', 'desc').execute()).map(toDrill);
  const out = new Map<string, { last?: DrillRecord; lastSuccess?: DrillRecord }>();
  for (const r of rows) {
    const e = out.get(r.planId!) ?? {};
    e.last ??= r;
    if (r.status === 'success') e.lastSuccess ??= r;
    out.set(r.planId!, e);
  }
  return out;
}

/** Finished drills per plan and status (for /metrics). */
export async function drillCounts(db: Db): Promise<Array<{ planName: string; status: string; n: number }>> {
  const rows = await db
    .selectFrom('drills')
    .select(['plan_name', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('status', '<>', 'running')
    .groupBy(['plan_name', 'status'])
    .execute();
  return rows.map((r) => ({ planName: r.plan_name, status: r.status, n: Number(r.n) }));
}

export interface PlanDrillRecord {
  planId: string;
  cron: string | null;
  rtoSeconds: number | null;
  targetId: string | null;
  assertions: string[];
  assertTimeoutSeconds: number | null;
}

function toSettings(r: PlanDrillsTable): PlanDrillRecord {
  return {
    planId: r.plan_id,
    cron: r.cron,
    rtoSeconds: r.rto_seconds,
    targetId: r.target_id,
    assertions: r.assertions ? (JSON.parse(r.assertions) as string[]) : [],
    assertTimeoutSeconds: r.assert_timeout_seconds,
  };
}

/** A plan's drill settings, or undefined when it has none. */
export async function getPlanDrill(db: Db, planId: string): Promise<PlanDrillRecord | undefined> {
  const row = await db.selectFrom('plan_drills').selectAll().where('plan_id', '=', planId).executeTakeFirst();
  return row ? toSettings(row) : undefined;
}

/** Every plan's drill settings. */
export async function listPlanDrills(db: Db): Promise<PlanDrillRecord[]> {
  return (await db.selectFrom('plan_drills').selectAll().execute()).map(toSettings);
}

/** Writes a plan's drill settings. */
export async function setPlanDrill(db: Db, s: PlanDrillRecord, now: string): Promise<void> {
  const values = {
    cron: s.cron,
    rto_seconds: s.rtoSeconds,
    target_id: s.targetId,
    assertions: s.assertions.length ? JSON.stringify(s.assertions) : null,
    assert_timeout_seconds: s.assertTimeoutSeconds,
    updated_at: now,
  };
  await db
    .insertInto('plan_drills')
    .values({ plan_id: s.planId, ...values })
    .onConflict((oc) => oc.column('plan_id').doUpdateSet(values))
    .execute();
}
