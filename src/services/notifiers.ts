// Notifiers (channels) and the rules that use them: add, edit, list, remove and test a channel; a plan's
// rules (`--notify NAME --notify-on EVENTS`), RPO and dead man's switch URL; the notification journal. Each
// channel validates its own settings and splits out the secret ones (URLs with tokens, passwords), which are
// sealed in the catalog and never shown again: views carry the channel's secret-free description only.

import { newId, isoNow } from '../core/ids.ts';
import { conflict, notFound, usageError } from '../core/errors.ts';
import { encryptSecret, sealSecrets, openSecrets } from '../core/secrets.ts';
import { redact } from '../core/redact.ts';
import * as repo from '../catalog/notifications.ts';
import type { NotifierRecord } from '../catalog/notifications.ts';
import { channels } from '../notify/index.ts';
import { blankMessage, defaultRuleEvents, notifyEvents, type RuleEvent } from '../notify/channel.ts';
import { checkHttpUrl, displayUrl } from '../notify/http.ts';
import { attemptsOf } from '../notify/retry.ts';
import type { ServiceContext } from './service-context.ts';
import { checkName } from './names.ts';
import { sendMessage } from './notifications.ts';

/** The latest delivery of a notifier, in the journal's words. */
export interface DeliveryView {
  id: string;
  notifier: string;
  channel: string;
  event: string;
  plan: string | null;
  journalId: string | null;
  status: repo.DeliveryStatus;
  attempts: number;
  lastError: string | null;
  response: string | null;
  createdAt: string;
  sentAt: string | null;
}

export interface NotifierView {
  id: string;
  name: string;
  type: string;
  /** Where messages go, without secrets. */
  target: string;
  /** Secret-free settings (a CA certificate shows as "(set)"). */
  config: Record<string, unknown>;
  /** In the default set: plans without rules of their own notify it. */
  default: boolean;
  /** The events of its default rule. */
  defaultEvents: RuleEvent[];
  /** Plans with a rule naming it. */
  plans: string[];
  lastDelivery: DeliveryView | null;
  createdAt: string;
  updatedAt: string;
}

function describeDelivery(d: repo.JournalEntry): DeliveryView {
  return {
    id: d.id,
    notifier: d.notifierName,
    channel: d.channel,
    event: d.event,
    plan: d.planName,
    journalId: d.runId,
    status: d.status,
    attempts: d.attempts,
    lastError: d.lastError,
    response: d.response,
    createdAt: d.createdAt,
    sentAt: d.sentAt,
  };
}

async function view(ctx: ServiceContext, n: NotifierRecord): Promise<NotifierView> {
  const db = ctx.catalog.db;
  const settings = { config: n.config, secrets: secretsOf(ctx, n) };
  const [last] = await repo.listDeliveries(db, { notifierId: n.id, limit: 1 });
  return {
    id: n.id,
    name: n.name,
    type: n.type,
    target: channels.get(n.type).describe(settings),
    config: Object.fromEntries(Object.entries(n.config).map(([k, v]) => [k, k === 'ca' ? '(set)' : v])),
    default: n.isDefault,
    defaultEvents: checkEvents(n.defaultEvents ?? undefined),
    plans: await repo.plansNotifying(db, n.id),
    lastDelivery: last ? describeDelivery(last) : null,
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
  };
}

function secretsOf(ctx: ServiceContext, n: NotifierRecord): Record<string, string> {
  return openSecrets(ctx.catalog.key, n.secretsEnc, `notifier "${n.name}"`);
}

/** Checks a list of rule events ("failure,rpo" or an array); the default set when none is given. */
export function checkEvents(input: unknown): RuleEvent[] {
  if (input === undefined || input === null || input === '') return [...defaultRuleEvents];
  const list = (Array.isArray(input) ? input : String(input).split(',')).map((e) => String(e).trim()).filter(Boolean);
  const bad = list.filter((e) => !(notifyEvents as readonly string[]).includes(e));
  if (bad.length || list.length === 0)
    throw usageError('BAD_NOTIFY_EVENTS', `Unknown notification event(s) ${bad.join(', ') || '(none)'}: use a comma-separated list of ${notifyEvents.join(', ')}.`, {
      field: 'notifyOn',
    });
  return [...new Set(list)] as RuleEvent[];
}

function checkDefault(v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw usageError('BAD_DEFAULT', '"default" must be true or false.', { field: 'default' });
  return v;
}

export interface NotifierInput {
  name?: unknown;
  type?: unknown;
  /** In the default set. */
  default?: unknown;
  /** The default rule's events. */
  events?: unknown;
  [setting: string]: unknown;
}

/** Validates (through the channel) and stores a new notifier. Other input fields are the channel's settings. */
export async function addNotifier(ctx: ServiceContext, input: NotifierInput): Promise<NotifierView> {
  const name = checkName('notifier', input.name);
  if (typeof input.type !== 'string' || !input.type)
    throw usageError('MISSING_TYPE', `A notifier needs a type ({hint}): one of ${channels.names().join(', ')}.`, { field: 'type' }, { option: 'type' });
  const channel = channels.get(input.type);
  const { name: _n, type: _t, default: def, events, ...settings } = input;
  const configured = channel.configure(settings);
  if (await repo.findNotifier(ctx.catalog.db, name)) throw conflict('NOTIFIER_EXISTS', `A notifier named "${name}" already exists: choose another name or remove it first.`);
  const now = isoNow();
  const rec: NotifierRecord = {
    id: newId(),
    name,
    type: channel.type,
    config: configured.config,
    secretsEnc: sealSecrets(ctx.catalog.key, configured.secrets),
    isDefault: checkDefault(def) ?? false,
    defaultEvents: events === undefined ? null : checkEvents(events).join(','),
    createdAt: now,
    updatedAt: now,
  };
  await repo.insertNotifier(ctx.catalog.db, rec);
  return view(ctx, rec);
}

export async function findNotifierRecord(ctx: ServiceContext, ref: string): Promise<NotifierRecord> {
  const rec = await repo.findNotifier(ctx.catalog.db, ref);
  if (!rec) throw notFound('NOTIFIER_NOT_FOUND', `No notifier named "${ref}": see {hint}.`, { see: 'notifiers' });
  return rec;
}

export async function listNotifiers(ctx: ServiceContext): Promise<NotifierView[]> {
  return Promise.all((await repo.listNotifiers(ctx.catalog.db)).map((n) => view(ctx, n)));
}

export async function getNotifier(ctx: ServiceContext, ref: string): Promise<NotifierView> {
  return view(ctx, await findNotifierRecord(ctx, ref));
}

/** Renames a notifier and/or changes its settings, merged over the stored ones (secrets included) and checked again. */
export async function updateNotifier(ctx: ServiceContext, ref: string, input: NotifierInput): Promise<NotifierView> {
  const rec = await findNotifierRecord(ctx, ref);
  const next: NotifierRecord = { ...rec, updatedAt: isoNow() };
  const { name, type, default: def, events, ...settings } = input;
  if (type !== undefined && type !== rec.type)
    throw usageError('TYPE_CHANGE', `Notifier "${rec.name}" is of type ${rec.type}: its type cannot change; add a new notifier instead.`, { field: 'type' });
  if (name !== undefined) {
    next.name = checkName('notifier', name);
    const other = await repo.findNotifier(ctx.catalog.db, next.name);
    if (other && other.id !== rec.id && other.name === next.name) throw conflict('NOTIFIER_EXISTS', `A notifier named "${next.name}" already exists: choose another name.`);
  }
  if (def !== undefined) next.isDefault = checkDefault(def)!;
  if (events !== undefined) next.defaultEvents = events === null ? null : checkEvents(events).join(',');
  if (Object.keys(settings).length) {
    const configured = channels.get(rec.type).configure({ ...configSettings(rec.config), ...secretsOf(ctx, rec), ...settings });
    next.config = configured.config;
    next.secretsEnc = sealSecrets(ctx.catalog.key, configured.secrets);
  }
  await repo.updateNotifier(ctx.catalog.db, next);
  return view(ctx, next);
}

/** Stored settings as the channel's input again (derived flags such as `signed` are not settings). */
function configSettings(config: Record<string, unknown>): Record<string, unknown> {
  const { signed: _s, authenticated: _a, ...rest } = config;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null));
}

/** Removes a notifier; the plans' rules naming it go with it, the journal stays. */
export async function removeNotifier(ctx: ServiceContext, ref: string): Promise<NotifierView> {
  const rec = await findNotifierRecord(ctx, ref);
  const shown = await view(ctx, rec);
  await repo.deleteNotifier(ctx.catalog.db, rec.id);
  return shown;
}

export interface TestResult {
  notifier: string;
  type: string;
  status: 'sent' | 'failed';
  attempts: number;
  /** The far side's answer, or the error. */
  answer: string;
}

/** Sends a real test message now (with the retry policy) and journals it; reports the far side's answer. */
export async function testNotifier(ctx: ServiceContext, ref: string): Promise<TestResult> {
  const db = ctx.catalog.db;
  const rec = await findNotifierRecord(ctx, ref);
  const now = isoNow();
  const message = blankMessage(
    'test',
    `coffre: test message from notifier ${rec.name}`,
    `This is a test of the ${rec.type} notifier "${rec.name}": when you read it, coffre's alerts reach you here.`,
    now,
  );
  const eventId = newId();
  await repo.claimEvent(db, {
    id: eventId,
    eventKey: `test:${eventId}`,
    event: 'test',
    planId: null,
    planName: null,
    runId: null,
    payload: JSON.stringify(message),
    createdAt: now,
  });
  const id = newId();
  await repo.insertDelivery(db, {
    id,
    eventId,
    channelKey: rec.id,
    notifierId: rec.id,
    notifierName: rec.name,
    channel: rec.type,
    status: 'sending',
    attempts: 0,
    lastError: null,
    response: null,
    nextAttemptAt: now,
    leaseUntil: now,
    createdAt: now,
    updatedAt: now,
    sentAt: null,
  });
  try {
    const r = await sendMessage(ctx, rec, message, id);
    await repo.updateDelivery(db, id, { status: 'sent', attempts: r.attempts, response: r.answer, leaseUntil: null, sentAt: isoNow() }, isoNow());
    return { notifier: rec.name, type: rec.type, status: 'sent', attempts: r.attempts, answer: r.answer };
  } catch (err) {
    const message = redact((err as Error).message);
    await repo.updateDelivery(db, id, { status: 'failed', attempts: attemptsOf(err), lastError: message, leaseUntil: null }, isoNow());
    return { notifier: rec.name, type: rec.type, status: 'failed', attempts: attemptsOf(err), answer: message };
  }
}

/** The notification journal, newest first. */
export async function notificationJournal(ctx: ServiceContext, q: { limit?: number; notifier?: string } = {}): Promise<DeliveryView[]> {
  const limit = q.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw usageError('BAD_LIMIT', 'The limit must be a whole number between 1 and 1000.', { field: 'limit' });
  const notifierId = q.notifier ? (await findNotifierRecord(ctx, q.notifier)).id : undefined;
  return (await repo.listDeliveries(ctx.catalog.db, { limit, notifierId })).map(describeDelivery);
}

/** A plan's notification settings as shown with the plan. */
export interface PlanAlertingView {
  /** The plan's own rules; empty: it uses the default set. */
  notify: Array<{ notifier: string; events: RuleEvent[] }>;
  rpoSeconds: number | null;
  /** The dead man's switch URL, origin only. */
  pingUrl: string | null;
}

export interface PlanAlertingInput {
  /** Notifier names or ids; [] removes the plan's rules (it then uses the default set). */
  notify?: unknown;
  /** The events of the rules given with `notify` (default failure, partial, rpo, drill). */
  notifyOn?: unknown;
  /** "26h", "90m", "1d12h", or seconds; null removes it. */
  rpo?: unknown;
  /** An http(s) URL (healthchecks.io style); null removes it. */
  pingUrl?: unknown;
}

/** "26h", "1d12h", "90m", "45s", "3600" -> seconds. */
export function parseDuration(input: unknown, field: string): number {
  if (typeof input === 'number' && Number.isInteger(input) && input > 0) return input;
  const text = typeof input === 'string' ? input.trim() : '';
  const units: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };
  let total = 0;
  if (/^\d+$/.test(text)) total = Number(text);
  else if (/^(\d+[wdhms])+$/.test(text)) for (const [, n, u] of text.matchAll(/(\d+)([wdhms])/g)) total += Number(n) * units[u];
  if (!total || total > 366 * 86400)
    throw usageError('BAD_DURATION', `--${field} must be a duration such as 26h, 90m, 1d12h or a number of seconds, at most a year (got ${JSON.stringify(input)}).`, { field });
  return total;
}

export function hasAlertingInput(i: PlanAlertingInput): boolean {
  return i.notify !== undefined || i.notifyOn !== undefined || i.rpo !== undefined || i.pingUrl !== undefined;
}

/** Checks a plan's alerting input without writing (so a plan is not saved with half of it). */
export async function checkAlerting(ctx: ServiceContext, input: PlanAlertingInput): Promise<(planId: string) => Promise<void>> {
  let rules: repo.PlanRule[] | undefined;
  if (input.notifyOn !== undefined && input.notify === undefined)
    throw usageError(
      'MISSING_OPTION',
      'The events to notify on apply to the notifiers the plan names: name them ({hint}).',
      { field: 'notifyOn' },
      { option: 'notify', value: 'NAME' },
    );
  if (input.notify !== undefined) {
    const refs = input.notify === null ? [] : Array.isArray(input.notify) ? input.notify : [input.notify];
    const events = checkEvents(input.notifyOn);
    rules = [];
    for (const ref of refs) {
      if (typeof ref !== 'string' || !ref)
        throw usageError('BAD_NOTIFY', "Each notifier a plan names ({hint}) must be a notifier's name or id.", { field: 'notify' }, { option: 'notify', value: 'NAME' });
      const n = await findNotifierRecord(ctx, ref);
      if (!rules.some((r) => r.notifierId === n.id)) rules.push({ notifierId: n.id, events });
    }
  }
  const rpo = input.rpo === undefined ? undefined : input.rpo === null ? null : parseDuration(input.rpo, 'rpo');
  const ping = input.pingUrl === undefined ? undefined : input.pingUrl === null ? null : checkHttpUrl(input.pingUrl, 'ping-url', 'plan');
  return async (planId: string) => {
    const db = ctx.catalog.db;
    if (rules) await repo.setRules(db, planId, rules);
    if (rpo !== undefined || ping !== undefined) {
      const cur = (await repo.getAlerting(db, planId)) ?? { planId, rpoSeconds: null, pingUrlEnc: null, pingUrlDisplay: null };
      await repo.setAlerting(
        db,
        {
          planId,
          rpoSeconds: rpo === undefined ? cur.rpoSeconds : rpo,
          pingUrlEnc: ping === undefined ? cur.pingUrlEnc : ping === null ? null : encryptSecret(ctx.catalog.key, ping),
          pingUrlDisplay: ping === undefined ? cur.pingUrlDisplay : ping === null ? null : displayUrl(ping),
        },
        isoNow(),
      );
    }
  };
}

/** A plan's notification settings. */
export async function planAlerting(ctx: ServiceContext, planId: string): Promise<PlanAlertingView> {
  const db = ctx.catalog.db;
  const [rules, alerting, notifiers] = await Promise.all([repo.rulesOf(db, planId), repo.getAlerting(db, planId), repo.listNotifiers(db)]);
  return {
    notify: rules.map((r) => ({ notifier: notifiers.find((n) => n.id === r.notifierId)?.name ?? '(removed)', events: r.events as RuleEvent[] })),
    rpoSeconds: alerting?.rpoSeconds ?? null,
    pingUrl: alerting?.pingUrlDisplay ?? null,
  };
}
