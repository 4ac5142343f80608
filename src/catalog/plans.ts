// The plans table: what to back up (a target), where (one or more destinations, in order, in
// `plan_destinations`), how (kind, compression) and when (cron, run by src/scheduler).

import type { Kysely } from 'kysely';
import type { CatalogSchema, PlansTable } from './schema.ts';
import { isIdPrefix, pickByRef } from './lookup.ts';

export interface PlanRecord {
  id: string;
  name: string;
  targetId: string;
  /** Every destination the plan uploads to, in order; at least one. */
  destinationIds: string[];
  kind: string;
  compression: string | null;
  cron: string | null;
  timezone: string | null;
  retention: Record<string, unknown> | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  /** What the scheduler does about a tick missed while no server ran: 'run-once' (null) or 'skip'. */
  missedRuns?: string | null;
  /** How late a missed tick may still be run, in seconds (null: 3600). */
  missedGraceSeconds?: number | null;
  /** The age recipients new backups are encrypted to; null or empty: not encrypted. */
  encryptTo?: string[] | null;
}

function toRecord(r: PlansTable, links: Map<string, string[]>): PlanRecord {
  return {
    id: r.id,
    name: r.name,
    targetId: r.target_id,
    destinationIds: links.get(r.id) ?? [],
    kind: r.kind,
    compression: r.compression,
    cron: r.cron,
    timezone: r.timezone,
    retention: r.retention ? (JSON.parse(r.retention) as Record<string, unknown>) : null,
    enabled: Number(r.enabled) === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    missedRuns: r.missed_runs ?? null,
    missedGraceSeconds: r.missed_grace_seconds ?? null,
    encryptTo: r.encrypt_to ? (JSON.parse(r.encrypt_to) as string[]) : null,
  };
}

/** The destinations of the given plans, in order. */
async function destinationLinks(db: Kysely<CatalogSchema>, planIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (planIds.length === 0) return out;
  const rows = await db.selectFrom('plan_destinations').select(['plan_id', 'destination_id']).where('plan_id', 'in', planIds).orderBy('plan_id').orderBy('position').execute();
  for (const r of rows) {
    const list = out.get(r.plan_id) ?? [];
    list.push(r.destination_id);
    out.set(r.plan_id, list);
  }
  return out;
}

async function toRecords(db: Kysely<CatalogSchema>, rows: PlansTable[]): Promise<PlanRecord[]> {
  const links = await destinationLinks(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toRecord(r, links));
}

/** Replaces the destination list of a plan. */
async function writeLinks(db: Kysely<CatalogSchema>, p: PlanRecord): Promise<void> {
  await db.deleteFrom('plan_destinations').where('plan_id', '=', p.id).execute();
  await db
    .insertInto('plan_destinations')
    .values(p.destinationIds.map((destination_id, position) => ({ plan_id: p.id, destination_id, position })))
    .execute();
}

/** The columns a plan's insert and update both write. */
function planColumns(p: PlanRecord) {
  return {
    name: p.name,
    target_id: p.targetId,
    kind: p.kind,
    compression: p.compression,
    cron: p.cron,
    timezone: p.timezone,
    retention: p.retention ? JSON.stringify(p.retention) : null,
    enabled: p.enabled ? 1 : 0,
    updated_at: p.updatedAt,
    missed_runs: p.missedRuns ?? null,
    missed_grace_seconds: p.missedGraceSeconds ?? null,
    encrypt_to: p.encryptTo?.length ? JSON.stringify(p.encryptTo) : null,
  };
}

/** Inserts a plan; the caller checked its target and destinations. */
export async function insertPlan(db: Kysely<CatalogSchema>, p: PlanRecord): Promise<void> {
  await db
    .insertInto('plans')
    .values({ id: p.id, created_at: p.createdAt, ...planColumns(p) })
    .execute();
  await writeLinks(db, p);
}

/** Every plan, by name. */
export async function listPlans(db: Kysely<CatalogSchema>): Promise<PlanRecord[]> {
  return toRecords(db, await db.selectFrom('plans').selectAll().orderBy('name').execute());
}

/** The plan named `ref`, or with that id or unique id prefix. */
export async function findPlan(db: Kysely<CatalogSchema>, ref: string): Promise<PlanRecord | undefined> {
  const rows = await db
    .selectFrom('plans')
    .selectAll()
    .where((eb) => (isIdPrefix(ref) ? eb.or([eb('name', '=', ref), eb('id', 'like', `${ref.toLowerCase()}%`)]) : eb('name', '=', ref)))
    .limit(10)
    .execute();
  return pickByRef(await toRecords(db, rows), ref, 'plan');
}

/** A plan by exact id. */
export async function getPlan(db: Kysely<CatalogSchema>, id: string): Promise<PlanRecord | undefined> {
  const row = await db.selectFrom('plans').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? (await toRecords(db, [row]))[0] : undefined;
}

/** Names of the plans that use a target or a destination (to refuse removing it). */
export async function plansUsing(db: Kysely<CatalogSchema>, ref: { targetId?: string; destinationId?: string }): Promise<string[]> {
  let q = db.selectFrom('plans').select('name');
  if (ref.targetId) q = q.where('target_id', '=', ref.targetId);
  const destinationId = ref.destinationId;
  if (destinationId) {
    q = q.where((eb) => eb('id', 'in', eb.selectFrom('plan_destinations').select('plan_id').where('destination_id', '=', destinationId)));
  }
  return (await q.orderBy('name').execute()).map((r) => r.name);
}

/** Removes a plan by id. Its journal rows stay (they keep the plan's name). */
export async function deletePlan(db: Kysely<CatalogSchema>, id: string): Promise<void> {
  await db.deleteFrom('plans').where('id', '=', id).execute();
}

/** Changes fields of a plan (added for the API's PATCH); the caller checked them. */
export async function updatePlan(db: Kysely<CatalogSchema>, id: string, p: PlanRecord): Promise<void> {
  await db.updateTable('plans').set(planColumns(p)).where('id', '=', id).execute();
  await writeLinks(db, { ...p, id });
}
