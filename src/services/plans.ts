// Plans: a target, a destination, a kind and a compression, and optionally a cron schedule (run by the
// scheduler of a later issue; here it is only checked for shape and stored as given).

import { newId, isoNow } from '../core/ids.ts';
import { conflict, notFound, usageError } from '../core/errors.ts';
import { backupKinds, type BackupKind, type CompressionName } from '../core/types.ts';
import { codecs } from '../codecs/index.ts';
import * as repo from '../catalog/plans.ts';
import type { PlanRecord } from '../catalog/plans.ts';
import { getTarget as findTarget } from '../catalog/targets.ts';
import { getDestination as findDestinationById } from '../catalog/destinations.ts';
import type { ServiceContext } from './context.ts';
import { checkName } from './names.ts';
import { findTargetRecord } from './targets.ts';
import { findDestinationRecord } from './destinations.ts';

/** A plan as shown to users, with its target's and destination's names. */
export interface PlanView {
  id: string;
  name: string;
  target: string;
  targetId: string;
  destination: string;
  destinationId: string;
  kind: BackupKind;
  /** null: DEFAULT_COMPRESSION at run time. */
  compression: CompressionName | null;
  cron: string | null;
  timezone: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface PlanInput {
  name: unknown;
  target: unknown;
  destination: unknown;
  kind?: unknown;
  compression?: unknown;
  cron?: unknown;
  timezone?: unknown;
}

async function view(ctx: ServiceContext, r: PlanRecord): Promise<PlanView> {
  const target = await findTarget(ctx.catalog.db, r.targetId);
  const destination = await findDestinationById(ctx.catalog.db, r.destinationId);
  return {
    id: r.id,
    name: r.name,
    target: target?.name ?? '(removed)',
    targetId: r.targetId,
    destination: destination?.name ?? '(removed)',
    destinationId: r.destinationId,
    kind: r.kind as BackupKind,
    compression: r.compression as CompressionName | null,
    cron: r.cron,
    timezone: r.timezone,
    enabled: r.enabled,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** Checks a backup kind name. */
export function checkKind(kind: unknown): BackupKind {
  if (typeof kind !== 'string' || !(backupKinds as readonly string[]).includes(kind)) {
    throw usageError('BAD_KIND', `Unknown backup kind ${JSON.stringify(kind)}: use one of ${backupKinds.join(', ')}.`, { field: 'kind' });
  }
  return kind as BackupKind;
}

/** Checks a compression name against the codec registry. */
export function checkCompression(name: unknown): CompressionName {
  if (typeof name !== 'string' || !codecs.has(name)) {
    throw usageError('BAD_COMPRESSION', `Unknown compression ${JSON.stringify(name)}: use one of ${codecs.names().join(', ')}.`, { field: 'compression' });
  }
  return name as CompressionName;
}

function checkCron(cron: unknown): string | null {
  if (cron === undefined || cron === null || cron === '') return null;
  if (typeof cron !== 'string' || !/^\S+(\s+\S+){4,5}$/.test(cron.trim())) {
    throw usageError('BAD_CRON', `Invalid cron expression ${JSON.stringify(cron)}: give 5 fields (minute hour day month weekday) or 6 (with seconds first), e.g. "0 3 * * *".`, { field: 'cron' });
  }
  return cron.trim().replace(/\s+/g, ' ');
}

/** Validates and stores a new plan. */
export async function addPlan(ctx: ServiceContext, input: PlanInput): Promise<PlanView> {
  const name = checkName('plan', input.name);
  if (typeof input.target !== 'string' || !input.target) throw usageError('MISSING_TARGET', 'A plan needs a target (--target NAME).', { field: 'target' });
  if (typeof input.destination !== 'string' || !input.destination) {
    throw usageError('MISSING_DESTINATION', 'A plan needs a destination (--destination NAME).', { field: 'destination' });
  }
  const kind = input.kind === undefined || input.kind === null ? 'full' : checkKind(input.kind);
  const compression = input.compression === undefined || input.compression === null ? null : checkCompression(input.compression);
  const cron = checkCron(input.cron);
  if (input.timezone !== undefined && input.timezone !== null && typeof input.timezone !== 'string') {
    throw usageError('BAD_TIMEZONE', 'The timezone must be an IANA name such as Europe/Paris.', { field: 'timezone' });
  }
  const target = await findTargetRecord(ctx, input.target);
  const destination = await findDestinationRecord(ctx, input.destination);
  if (await repo.findPlan(ctx.catalog.db, name)) throw conflict('PLAN_EXISTS', `A plan named "${name}" already exists: choose another name or remove it first.`);
  const now = isoNow();
  const rec: PlanRecord = {
    id: newId(),
    name,
    targetId: target.id,
    destinationId: destination.id,
    kind,
    compression,
    cron,
    timezone: (input.timezone as string | undefined) || null,
    retention: null,
    enabled: true,
    createdAt: now,
    updatedAt: now,
  };
  await repo.insertPlan(ctx.catalog.db, rec);
  return view(ctx, rec);
}

/** Every plan. */
export async function listPlans(ctx: ServiceContext): Promise<PlanView[]> {
  return Promise.all((await repo.listPlans(ctx.catalog.db)).map((r) => view(ctx, r)));
}

/** The stored record of a plan by name, id or id prefix; not_found otherwise. */
export async function findPlanRecord(ctx: ServiceContext, ref: string): Promise<PlanRecord> {
  const rec = await repo.findPlan(ctx.catalog.db, ref);
  if (!rec) throw notFound('PLAN_NOT_FOUND', `No plan named "${ref}": see \`coffre plan list\`.`);
  return rec;
}

/** A plan by name, id or id prefix. */
export async function getPlan(ctx: ServiceContext, ref: string): Promise<PlanView> {
  return view(ctx, await findPlanRecord(ctx, ref));
}

/** Removes a plan; its journal rows and artifacts stay. */
export async function removePlan(ctx: ServiceContext, ref: string): Promise<PlanView> {
  const rec = await findPlanRecord(ctx, ref);
  const shown = await view(ctx, rec);
  await repo.deletePlan(ctx.catalog.db, rec.id);
  return shown;
}

/** Changes fields of a plan (the API's PATCH); each given field is checked as in addPlan. */
export async function updatePlan(ctx: ServiceContext, ref: string, input: Partial<PlanInput> & { enabled?: unknown }): Promise<PlanView> {
  const rec = await findPlanRecord(ctx, ref);
  const next: PlanRecord = { ...rec, updatedAt: isoNow() };
  if (input.name !== undefined) {
    next.name = checkName('plan', input.name);
    const other = await repo.findPlan(ctx.catalog.db, next.name);
    if (other && other.id !== rec.id && other.name === next.name) throw conflict('PLAN_EXISTS', `A plan named "${next.name}" already exists: choose another name.`);
  }
  if (input.target !== undefined) {
    if (typeof input.target !== 'string' || !input.target) throw usageError('MISSING_TARGET', 'A plan needs a target.', { field: 'target' });
    next.targetId = (await findTargetRecord(ctx, input.target)).id;
  }
  if (input.destination !== undefined) {
    if (typeof input.destination !== 'string' || !input.destination) throw usageError('MISSING_DESTINATION', 'A plan needs a destination.', { field: 'destination' });
    next.destinationId = (await findDestinationRecord(ctx, input.destination)).id;
  }
  if (input.kind !== undefined) next.kind = checkKind(input.kind);
  if (input.compression !== undefined) next.compression = input.compression === null ? null : checkCompression(input.compression);
  if (input.cron !== undefined) next.cron = checkCron(input.cron);
  if (input.timezone !== undefined) {
    if (input.timezone !== null && typeof input.timezone !== 'string') throw usageError('BAD_TIMEZONE', 'The timezone must be an IANA name such as Europe/Paris.', { field: 'timezone' });
    next.timezone = (input.timezone as string | null) || null;
  }
  if (input.enabled !== undefined) {
    if (typeof input.enabled !== 'boolean') throw usageError('BAD_ENABLED', '"enabled" must be true or false.', { field: 'enabled' });
    next.enabled = input.enabled;
  }
  await repo.updatePlan(ctx.catalog.db, rec.id, next);
  return view(ctx, next);
}
