// Plans: a target, one or more destinations (dump once, upload to each), a kind and a compression, and optionally a cron schedule in a time zone
// (checked by croner when saved, run by src/scheduler), a missed-run policy and a retention policy.

import { newId, isoNow } from '../core/ids.ts';
import { conflict, notFound, usageError } from '../core/errors.ts';
import { backupKinds, canonicalCompression, compressionAliases, type BackupKind, type CompressionName } from '../core/types.ts';
import { codecs } from '../codecs/index.ts';
import * as repo from '../catalog/plans.ts';
import type { PlanRecord } from '../catalog/plans.ts';
import { getTarget as findTarget, listTargets as listTargetRecords } from '../catalog/targets.ts';
import { getDestination as findDestinationById, listDestinations as listDestinationRecords } from '../catalog/destinations.ts';
import type { ServiceContext } from './service-context.ts';
import { checkName } from './names.ts';
import { findTargetRecord } from './targets.ts';
import { findDestinationRecord } from './destinations.ts';
import { checkCron as checkCronExpression, checkTimeZone, nextRuns, scheduleOf } from '../core/cron.ts';
import { checkRetention, type RetentionPolicy } from '../core/retention-policy.ts';
import { checkAlerting, planAlerting, type PlanAlertingInput, type PlanAlertingView } from './notifiers.ts';
import { normaliseRecipients } from '../crypto/age-keys.ts';
import { checkPlanDrill, planDrillView, type PlanDrillInput, type PlanDrillView } from './drill-settings.ts';
import type { EngineName } from '../core/types.ts';

/** What the scheduler does about a tick missed while no server ran. */
export type MissedRunPolicy = 'run-once' | 'skip';
export const missedRunPolicies: readonly MissedRunPolicy[] = ['run-once', 'skip'];
/** Default grace window of the missed-run policy: a tick missed by more than this is not caught up. */
export const DEFAULT_MISSED_GRACE_SECONDS = 3600;

/** A plan as shown to users, with its target's and destination's names. */
export interface PlanView {
  id: string;
  name: string;
  target: string;
  targetId: string;
  /** The first destination (kept for older clients; see destinations). */
  destination: string;
  destinationId: string;
  /** Every destination the plan uploads to, in order. */
  destinations: string[];
  destinationIds: string[];
  kind: BackupKind;
  /** null: DEFAULT_COMPRESSION at run time. */
  compression: CompressionName | null;
  cron: string | null;
  timezone: string | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
  /** Retention rules (null: keep everything). */
  retention: RetentionPolicy | null;
  missedRuns: MissedRunPolicy;
  missedGraceSeconds: number;
  /** The age recipients (public keys) new backups are encrypted to; empty: not encrypted. */
  encryptTo: string[];
  /** The next scheduled run times (ISO, up to 3), in the plan's or the default time zone; empty without cron. */
  nextRuns: string[];
  /** Notification rules, RPO and dead man's switch (services/notifiers.ts). */
  alerting: PlanAlertingView;
  /** Restore drills: schedule, RTO objective, server, assertions (services/drill-settings.ts). */
  drill: PlanDrillView;
}

export interface PlanInput {
  name: unknown;
  target: unknown;
  /** A destination name (or id), or a list of them: the plan uploads to each. */
  destination: unknown;
  kind?: unknown;
  compression?: unknown;
  cron?: unknown;
  timezone?: unknown;
  /** {keepLast, daily, weekly, monthly, yearly, maxAgeDays}; null or {} for none. */
  retention?: unknown;
  /** 'run-once' (default) or 'skip'. */
  missedRuns?: unknown;
  /** Seconds (default 3600). */
  missedGraceSeconds?: unknown;
  /** Notification rules, RPO and ping URL (issue 12). */
  alerting?: PlanAlertingInput;
  /** age recipients (age1…) to encrypt new backups to; null or [] for none. */
  encryptTo?: unknown;
  /** Restore drill settings (issue 13). */
  drill?: PlanDrillInput;
}

/** Names of targets and destinations by id, when a listing has loaded them all at once. */
interface Names {
  targets: Map<string, string>;
  destinations: Map<string, string>;
}

async function view(ctx: ServiceContext, r: PlanRecord, names?: Names): Promise<PlanView> {
  const targetName = names ? names.targets.get(r.targetId) : (await findTarget(ctx.catalog.db, r.targetId))?.name;
  const destinations = await Promise.all(
    r.destinationIds.map(async (id) => (names ? names.destinations.get(id) : (await findDestinationById(ctx.catalog.db, id))?.name) ?? '(removed)'),
  );
  return {
    id: r.id,
    name: r.name,
    target: targetName ?? '(removed)',
    targetId: r.targetId,
    destination: destinations[0] ?? '(removed)',
    destinationId: r.destinationIds[0] ?? '',
    destinations,
    destinationIds: r.destinationIds,
    kind: r.kind as BackupKind,
    compression: r.compression as CompressionName | null,
    cron: r.cron,
    timezone: r.timezone,
    enabled: r.enabled,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    retention: (r.retention as RetentionPolicy | null) ?? null,
    missedRuns: (r.missedRuns as MissedRunPolicy | null | undefined) ?? 'run-once',
    missedGraceSeconds: r.missedGraceSeconds ?? DEFAULT_MISSED_GRACE_SECONDS,
    encryptTo: r.encryptTo ?? [],
    nextRuns: upcoming(ctx, r),
    alerting: await planAlerting(ctx, r.id),
    drill: await planDrillView(ctx, r),
  };
}

function upcoming(ctx: ServiceContext, r: PlanRecord): string[] {
  const schedule = r.enabled ? scheduleOf(r, ctx.config.scheduler.timezone) : null;
  if (!schedule) return [];
  try {
    return nextRuns(schedule, new Date(), 3).map((d) => d.toISOString());
  } catch {
    return []; // a plan stored before cron checks existed
  }
}

function checkMissedRuns(value: unknown): MissedRunPolicy | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !(missedRunPolicies as readonly string[]).includes(value)) {
    throw usageError(
      'BAD_MISSED_RUNS',
      `Unknown missed-run policy ${JSON.stringify(value)}: use run-once (run once at start when the last tick was missed within the grace window) or skip.`,
      { field: 'missedRuns' },
    );
  }
  return value as MissedRunPolicy;
}

function checkGrace(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 31 * 86400) {
    throw usageError('BAD_MISSED_GRACE', `The missed-run grace window must be a whole number of seconds from 0 to ${31 * 86400} (got ${JSON.stringify(value)}).`, {
      field: 'missedGraceSeconds',
    });
  }
  return n;
}

/** Checks a plan's cron expression in its time zone (or the default one). */
function checkSchedule(ctx: ServiceContext, cron: string | null, timezone: string | null): void {
  if (cron) checkCronExpression(cron, timezone || ctx.config.scheduler.timezone);
}

const planListeners = new Set<(planId: string) => void>();

/**
 * Listens to plan changes made in this process (the scheduler reloads at once instead of at its next
 * interval). Returns the function that stops listening. Changes made by other processes are found by the
 * scheduler's periodic re-read.
 */
export function onPlanChange(listener: (planId: string) => void): () => void {
  planListeners.add(listener);
  return () => planListeners.delete(listener);
}

function notifyPlanChange(planId: string): void {
  for (const listener of planListeners) listener(planId);
}

/** A plan's age recipients: each checked (COFFRE_E_AGE_RECIPIENT_*), duplicates dropped; null for none. */
function checkRecipients(value: unknown): string[] | null {
  if (value === undefined || value === null) return null;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((r) => typeof r !== 'string')) {
    throw usageError('AGE_RECIPIENT_INVALID', '"encryptTo" must be a list of age recipients (age1…), or null for no encryption.', { field: 'encryptTo' });
  }
  if (list.length > 64) throw usageError('AGE_TOO_MANY_RECIPIENTS', 'A plan takes at most 64 recipients.', { field: 'encryptTo' });
  const out = normaliseRecipients(list as string[]);
  return out.length ? out : null;
}

/** Checks a backup kind name. */
export function checkKind(kind: unknown): BackupKind {
  if (typeof kind !== 'string' || !(backupKinds as readonly string[]).includes(kind)) {
    throw usageError('BAD_KIND', `Unknown backup kind ${JSON.stringify(kind)}: use one of ${backupKinds.join(', ')}.`, { field: 'kind' });
  }
  return kind as BackupKind;
}

/** Checks a compression name against the codec registry. */
export function checkCompression(given: unknown): CompressionName {
  const name = canonicalCompression(given);
  if (typeof name !== 'string' || !codecs.has(name)) {
    throw usageError(
      'BAD_COMPRESSION',
      `Unknown compression ${JSON.stringify(name)}: use one of ${codecs.names().join(', ')} (or ${Object.keys(compressionAliases).join(', ')}).`,
      { field: 'compression' },
    );
  }
  return name as CompressionName;
}

function checkCron(cron: unknown): string | null {
  if (cron === undefined || cron === null || cron === '') return null;
  return checkCronExpression(cron);
}

/** Resolves a plan's destination list (one name or id, or several), refusing none, duplicates and unknown ones. */
async function resolveDestinations(ctx: ServiceContext, input: unknown): Promise<string[]> {
  const refs = Array.isArray(input) ? input : input === undefined || input === null || input === '' ? [] : [input];
  if (refs.length === 0)
    throw usageError(
      'MISSING_DESTINATION',
      'A plan needs at least one destination ({hint}).',
      { field: 'destination' },
      { option: 'destination', value: 'NAME (repeatable)', field: 'destinationIds' },
    );
  if (refs.length > 16) throw usageError('TOO_MANY_DESTINATIONS', 'A plan takes at most 16 destinations.', { field: 'destination' });
  const ids: string[] = [];
  for (const ref of refs) {
    if (typeof ref !== 'string' || !ref) throw usageError('MISSING_DESTINATION', 'Each destination of a plan must be a destination name or id.', { field: 'destination' });
    const id = (await findDestinationRecord(ctx, ref)).id;
    if (ids.includes(id)) throw usageError('DUPLICATE_DESTINATION', `Destination "${ref}" is named twice in the plan: list each destination once.`, { field: 'destination' });
    ids.push(id);
  }
  return ids;
}

/** Validates and stores a new plan. */
export async function addPlan(ctx: ServiceContext, input: PlanInput): Promise<PlanView> {
  const name = checkName('plan', input.name);
  if (typeof input.target !== 'string' || !input.target)
    throw usageError('MISSING_TARGET', 'A plan needs a target ({hint}).', { field: 'target' }, { option: 'target', value: 'NAME', field: 'targetId' });
  const kind = input.kind === undefined || input.kind === null ? 'full' : checkKind(input.kind);
  const compression = input.compression === undefined || input.compression === null ? null : checkCompression(input.compression);
  const cron = checkCron(input.cron);
  const timezone = input.timezone === undefined || input.timezone === null || input.timezone === '' ? null : checkTimeZone(input.timezone);
  checkSchedule(ctx, cron, timezone);
  const retention = checkRetention(input.retention);
  const missedRuns = checkMissedRuns(input.missedRuns);
  const missedGraceSeconds = checkGrace(input.missedGraceSeconds);
  const encryptTo = checkRecipients(input.encryptTo);
  const target = await findTargetRecord(ctx, input.target);
  const destinationIds = await resolveDestinations(ctx, input.destination);
  const saveAlerting = await checkAlerting(ctx, input.alerting ?? {});
  const saveDrill = await checkPlanDrill(ctx, target.engine as EngineName, input.drill ?? {}, timezone);
  if (await repo.findPlan(ctx.catalog.db, name)) throw conflict('PLAN_EXISTS', `A plan named "${name}" already exists: choose another name or remove it first.`);
  const now = isoNow();
  const rec: PlanRecord = {
    id: newId(),
    name,
    targetId: target.id,
    destinationIds,
    kind,
    compression,
    cron,
    timezone,
    retention: retention as Record<string, unknown> | null,
    missedRuns,
    missedGraceSeconds,
    encryptTo,
    enabled: true,
    createdAt: now,
    updatedAt: now,
  };
  await repo.insertPlan(ctx.catalog.db, rec);
  await saveAlerting(rec.id);
  await saveDrill(rec.id);
  notifyPlanChange(rec.id);
  return view(ctx, rec);
}

/** Every plan. */
export async function listPlans(ctx: ServiceContext): Promise<PlanView[]> {
  const db = ctx.catalog.db;
  const [plans, targets, destinations] = await Promise.all([repo.listPlans(db), listTargetRecords(db), listDestinationRecords(db)]);
  const names: Names = { targets: new Map(targets.map((t) => [t.id, t.name])), destinations: new Map(destinations.map((d) => [d.id, d.name])) };
  return Promise.all(plans.map((r) => view(ctx, r, names)));
}

/** The stored record of a plan by name, id or id prefix; not_found otherwise. */
export async function findPlanRecord(ctx: ServiceContext, ref: string): Promise<PlanRecord> {
  const rec = await repo.findPlan(ctx.catalog.db, ref);
  if (!rec) throw notFound('PLAN_NOT_FOUND', `No plan named "${ref}": see {hint}.`, { see: 'plans' });
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
  notifyPlanChange(rec.id);
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
    next.destinationIds = await resolveDestinations(ctx, input.destination);
  }
  if (input.kind !== undefined) next.kind = checkKind(input.kind);
  if (input.compression !== undefined) next.compression = input.compression === null ? null : checkCompression(input.compression);
  if (input.cron !== undefined) next.cron = checkCron(input.cron);
  if (input.timezone !== undefined) next.timezone = input.timezone === null || input.timezone === '' ? null : checkTimeZone(input.timezone);
  if (input.cron !== undefined || input.timezone !== undefined) checkSchedule(ctx, next.cron, next.timezone);
  if (input.retention !== undefined) next.retention = checkRetention(input.retention) as Record<string, unknown> | null;
  if (input.missedRuns !== undefined) next.missedRuns = checkMissedRuns(input.missedRuns);
  if (input.missedGraceSeconds !== undefined) next.missedGraceSeconds = checkGrace(input.missedGraceSeconds);
  if (input.encryptTo !== undefined) next.encryptTo = checkRecipients(input.encryptTo);
  if (input.enabled !== undefined) {
    if (typeof input.enabled !== 'boolean') throw usageError('BAD_ENABLED', '"enabled" must be true or false.', { field: 'enabled' });
    next.enabled = input.enabled;
  }
  const saveAlerting = await checkAlerting(ctx, input.alerting ?? {});
  const engine = ((await findTarget(ctx.catalog.db, next.targetId))?.engine ?? 'postgres') as EngineName;
  const saveDrill = await checkPlanDrill(ctx, engine, input.drill ?? {}, next.timezone);
  await repo.updatePlan(ctx.catalog.db, rec.id, next);
  await saveAlerting(rec.id);
  await saveDrill(rec.id);
  notifyPlanChange(rec.id);
  return view(ctx, next);
}
