// The notification tables (migration 0009): channels, per-plan rules and alerting settings, the announced state
// of each plan, the event claims and the notification journal. Every write that decides "who announces this"
// is atomic in the catalog: an insert that ignores a duplicate key (events, deliveries), or an update guarded by
// the row's version or status (plan state, delivery leases), so two processes never both win.

import type { Kysely } from 'kysely';
import type { CatalogSchema, NotifiersTable, NotifyDeliveriesTable, PlanAlertStateTable } from './schema.ts';
import { isIdPrefix, pickByRef } from './lookup.ts';

type Db = Kysely<CatalogSchema>;

export interface NotifierRecord {
  id: string;
  name: string;
  type: string;
  config: Record<string, unknown>;
  secretsEnc: string | null;
  isDefault: boolean;
  /** The events of the default rule (comma-separated), null for the default set. */
  defaultEvents: string | null;
  createdAt: string;
  updatedAt: string;
}

function toNotifier(r: NotifiersTable): NotifierRecord {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    config: JSON.parse(r.config) as Record<string, unknown>,
    secretsEnc: r.secrets_enc,
    isDefault: Number(r.is_default) === 1,
    defaultEvents: r.default_events,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function notifierRow(n: NotifierRecord): NotifiersTable {
  return {
    id: n.id,
    name: n.name,
    type: n.type,
    config: JSON.stringify(n.config),
    secrets_enc: n.secretsEnc,
    is_default: n.isDefault ? 1 : 0,
    default_events: n.defaultEvents,
    created_at: n.createdAt,
    updated_at: n.updatedAt,
  };
}

export async function insertNotifier(db: Db, n: NotifierRecord): Promise<void> {
  await db.insertInto('notifiers').values(notifierRow(n)).execute();
}

export async function updateNotifier(db: Db, n: NotifierRecord): Promise<void> {
  const { id: _id, created_at: _c, ...row } = notifierRow(n);
  await db.updateTable('notifiers').set(row).where('id', '=', n.id).execute();
}

export async function deleteNotifier(db: Db, id: string): Promise<void> {
  await db.deleteFrom('notifiers').where('id', '=', id).execute();
}

export async function listNotifiers(db: Db): Promise<NotifierRecord[]> {
  return (await db.selectFrom('notifiers').selectAll().orderBy('name').execute()).map(toNotifier);
}

export async function getNotifier(db: Db, id: string): Promise<NotifierRecord | undefined> {
  const row = await db.selectFrom('notifiers').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toNotifier(row) : undefined;
}

/** The notifier named `ref`, or with that id or unique id prefix. */
export async function findNotifier(db: Db, ref: string): Promise<NotifierRecord | undefined> {
  const rows = await db
    .selectFrom('notifiers')
    .selectAll()
    .where((eb) => (isIdPrefix(ref) ? eb.or([eb('name', '=', ref), eb('id', 'like', `${ref.toLowerCase()}%`)]) : eb('name', '=', ref)))
    .limit(10)
    .execute();
  return pickByRef(rows.map(toNotifier), ref, 'notifier');
}

export interface PlanRule {
  notifierId: string;
  events: string[];
}

/** The plan's own rules (empty: the plan uses the default set). */
export async function rulesOf(db: Db, planId: string): Promise<PlanRule[]> {
  const rows = await db.selectFrom('plan_notifiers').select(['notifier_id', 'events']).where('plan_id', '=', planId).orderBy('notifier_id').execute();
  return rows.map((r) => ({ notifierId: r.notifier_id, events: r.events.split(',').filter(Boolean) }));
}

/** Replaces a plan's rules. */
export async function setRules(db: Db, planId: string, rules: PlanRule[]): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx.deleteFrom('plan_notifiers').where('plan_id', '=', planId).execute();
    if (rules.length)
      await tx
        .insertInto('plan_notifiers')
        .values(rules.map((r) => ({ plan_id: planId, notifier_id: r.notifierId, events: r.events.join(',') })))
        .execute();
  });
}

/** Names of plans with a rule naming the notifier. */
export async function plansNotifying(db: Db, notifierId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('plan_notifiers')
    .innerJoin('plans', 'plans.id', 'plan_notifiers.plan_id')
    .select('plans.name')
    .where('notifier_id', '=', notifierId)
    .orderBy('plans.name')
    .execute();
  return rows.map((r) => r.name);
}

export interface PlanAlerting {
  planId: string;
  rpoSeconds: number | null;
  pingUrlEnc: string | null;
  pingUrlDisplay: string | null;
}

export async function getAlerting(db: Db, planId: string): Promise<PlanAlerting | undefined> {
  const r = await db.selectFrom('plan_alerting').selectAll().where('plan_id', '=', planId).executeTakeFirst();
  return r ? { planId: r.plan_id, rpoSeconds: r.rpo_seconds, pingUrlEnc: r.ping_url_enc, pingUrlDisplay: r.ping_url_display } : undefined;
}

export async function listAlerting(db: Db): Promise<Map<string, PlanAlerting>> {
  const rows = await db.selectFrom('plan_alerting').selectAll().execute();
  return new Map(rows.map((r) => [r.plan_id, { planId: r.plan_id, rpoSeconds: r.rpo_seconds, pingUrlEnc: r.ping_url_enc, pingUrlDisplay: r.ping_url_display }]));
}

export async function setAlerting(db: Db, a: PlanAlerting, now: string): Promise<void> {
  const values = { rpo_seconds: a.rpoSeconds, ping_url_enc: a.pingUrlEnc, ping_url_display: a.pingUrlDisplay, updated_at: now };
  await db
    .insertInto('plan_alerting')
    .values({ plan_id: a.planId, ...values })
    .onConflict((oc) => oc.column('plan_id').doUpdateSet(values))
    .execute();
}

export type AlertState = Omit<PlanAlertStateTable, 'plan_id' | 'updated_at'>;

/** A plan's announced state (created empty on first read). */
export async function alertState(db: Db, planId: string, now: string): Promise<AlertState> {
  await db
    .insertInto('plan_alert_state')
    .values({ plan_id: planId, version: 0, failing_since: null, failing_status: null, failing_alert_at: null, stale_since: null, stale_alert_at: null, updated_at: now })
    .onConflict((oc) => oc.column('plan_id').doNothing())
    .execute();
  const r = await db.selectFrom('plan_alert_state').selectAll().where('plan_id', '=', planId).executeTakeFirstOrThrow();
  return {
    version: Number(r.version),
    failing_since: r.failing_since,
    failing_status: r.failing_status,
    failing_alert_at: r.failing_alert_at,
    stale_since: r.stale_since,
    stale_alert_at: r.stale_alert_at,
  };
}

/** Every plan's announced state. */
export async function alertStates(db: Db): Promise<Map<string, AlertState>> {
  const rows = await db.selectFrom('plan_alert_state').selectAll().execute();
  return new Map(rows.map(({ plan_id, updated_at: _u, ...s }) => [plan_id, { ...s, version: Number(s.version) }]));
}

/** Writes `next` only if the state is still at `version`: true for the one writer that wins. */
export async function compareAndSetState(db: Db, planId: string, version: number, next: Omit<AlertState, 'version'>, now: string): Promise<boolean> {
  const r = await db
    .updateTable('plan_alert_state')
    .set({ ...next, version: version + 1, updated_at: now })
    .where('plan_id', '=', planId)
    .where('version', '=', version)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export interface EventRow {
  id: string;
  eventKey: string;
  event: string;
  planId: string | null;
  planName: string | null;
  runId: string | null;
  payload: string;
  createdAt: string;
}

/** Claims an event: inserts it unless its key exists. True for the one caller that inserted it. */
export async function claimEvent(db: Db, e: EventRow): Promise<boolean> {
  const rows = await db
    .insertInto('notify_events')
    .values({ id: e.id, event_key: e.eventKey, event: e.event, plan_id: e.planId, plan_name: e.planName, run_id: e.runId, payload: e.payload, created_at: e.createdAt })
    .onConflict((oc) => oc.column('event_key').doNothing())
    .returning('id')
    .execute();
  return rows.length === 1;
}

export async function getEvent(db: Db, id: string): Promise<EventRow | undefined> {
  const r = await db.selectFrom('notify_events').selectAll().where('id', '=', id).executeTakeFirst();
  return r
    ? { id: r.id, eventKey: r.event_key, event: r.event, planId: r.plan_id, planName: r.plan_name, runId: r.run_id, payload: r.payload, createdAt: r.created_at }
    : undefined;
}

export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface DeliveryRecord {
  id: string;
  eventId: string;
  /** The notifier's id, or `ping` for a plan's dead man's switch. */
  channelKey: string;
  notifierId: string | null;
  notifierName: string;
  channel: string;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  response: string | null;
  nextAttemptAt: string;
  leaseUntil: string | null;
  createdAt: string;
  updatedAt: string;
  sentAt: string | null;
}

function toDelivery(r: NotifyDeliveriesTable): DeliveryRecord {
  return {
    id: r.id,
    eventId: r.event_id,
    channelKey: r.channel_key,
    notifierId: r.notifier_id,
    notifierName: r.notifier_name,
    channel: r.channel,
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    lastError: r.last_error,
    response: r.response,
    nextAttemptAt: r.next_attempt_at,
    leaseUntil: r.lease_until,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    sentAt: r.sent_at,
  };
}

/** Queues a delivery unless the event already has one for that channel. */
export async function insertDelivery(db: Db, d: DeliveryRecord): Promise<boolean> {
  const rows = await db
    .insertInto('notify_deliveries')
    .values({
      id: d.id,
      event_id: d.eventId,
      channel_key: d.channelKey,
      notifier_id: d.notifierId,
      notifier_name: d.notifierName,
      channel: d.channel,
      status: d.status,
      attempts: d.attempts,
      last_error: d.lastError,
      response: d.response,
      next_attempt_at: d.nextAttemptAt,
      lease_until: d.leaseUntil,
      created_at: d.createdAt,
      updated_at: d.updatedAt,
      sent_at: d.sentAt,
    })
    .onConflict((oc) => oc.columns(['event_id', 'channel_key']).doNothing())
    .returning('id')
    .execute();
  return rows.length === 1;
}

/** Takes a delivery for sending until `leaseUntil`: only while it is pending and due, or its sender's lease ran out. */
export async function leaseDelivery(db: Db, id: string, now: string, leaseUntil: string): Promise<boolean> {
  const r = await db
    .updateTable('notify_deliveries')
    .set({ status: 'sending', lease_until: leaseUntil, updated_at: now })
    .where('id', '=', id)
    .where((eb) => eb.or([eb.and([eb('status', '=', 'pending'), eb('next_attempt_at', '<=', now)]), eb.and([eb('status', '=', 'sending'), eb('lease_until', '<', now)])]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Records attempts on a leased delivery. */
export async function updateDelivery(
  db: Db,
  id: string,
  patch: Partial<Pick<DeliveryRecord, 'status' | 'attempts' | 'lastError' | 'response' | 'leaseUntil' | 'sentAt' | 'nextAttemptAt'>>,
  now: string,
): Promise<void> {
  await db
    .updateTable('notify_deliveries')
    .set({
      status: patch.status,
      attempts: patch.attempts,
      last_error: patch.lastError,
      response: patch.response,
      lease_until: patch.leaseUntil,
      sent_at: patch.sentAt,
      next_attempt_at: patch.nextAttemptAt,
      updated_at: now,
    })
    .where('id', '=', id)
    .execute();
}

export async function getDelivery(db: Db, id: string): Promise<DeliveryRecord | undefined> {
  const r = await db.selectFrom('notify_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  return r ? toDelivery(r) : undefined;
}

/** Deliveries someone should send now: pending and due, or leased by a sender that went silent. */
export async function dueDeliveries(db: Db, now: string, limit = 50): Promise<DeliveryRecord[]> {
  const rows = await db
    .selectFrom('notify_deliveries')
    .selectAll()
    .where((eb) => eb.or([eb.and([eb('status', '=', 'pending'), eb('next_attempt_at', '<=', now)]), eb.and([eb('status', '=', 'sending'), eb('lease_until', '<', now)])]))
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return rows.map(toDelivery);
}

export interface JournalEntry extends DeliveryRecord {
  event: string;
  eventKey: string;
  planName: string | null;
  runId: string | null;
}

/** The notification journal, newest first. */
export async function listDeliveries(db: Db, q: { limit?: number; notifierId?: string } = {}): Promise<JournalEntry[]> {
  let query = db
    .selectFrom('notify_deliveries')
    .innerJoin('notify_events', 'notify_events.id', 'notify_deliveries.event_id')
    .selectAll('notify_deliveries')
    .select(['notify_events.event', 'notify_events.event_key', 'notify_events.plan_name', 'notify_events.run_id']);
  if (q.notifierId) query = query.where('notify_deliveries.notifier_id', '=', q.notifierId);
  const rows = await query
    .orderBy('notify_deliveries.created_at', 'desc')
    .orderBy('notify_deliveries.id', 'desc')
    .limit(q.limit ?? 20)
    .execute();
  return rows.map((r) => ({ ...toDelivery(r), event: r.event, eventKey: r.event_key, planName: r.plan_name, runId: r.run_id }));
}

/** Deliveries counted by notifier name and status (metrics). */
export async function deliveryCounts(db: Db): Promise<Array<{ notifier: string; status: string; count: number }>> {
  const rows = await db
    .selectFrom('notify_deliveries')
    .select(['notifier_name', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['notifier_name', 'status'])
    .execute();
  return rows.map((r) => ({ notifier: r.notifier_name, status: r.status, count: Number(r.n) }));
}
