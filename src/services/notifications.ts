// Notifications: what the person on call hears about. This module turns run events (ctx.events) and the
// periodic RPO check into announcements, picks the channels each one goes to (the plan's rules, else the
// default set), and delivers them in the background, journaling every attempt.
//
// Exactly once across a cluster: the process that finished a run sees its `finished` event, but the decision is
// made in the catalog, never in the process. Each announcement is an insert into `notify_events` under a key
// derived from the run's row or the plan's state (`failure:<run id>`, `rpo:<plan>:<breach time>`,
// `recovered:<run id of the good backup>`); a duplicate key is ignored, so only the first inserter queues the
// deliveries. A plan's announced state (failing since, stale since, last reminder) is changed only by a
// compare-and-set on its version, so a failing plan is announced once, then reminded at most every
// NOTIFY_REMIND_HOURS, then `recovered`, whichever worker sees what.
//
// A server target's run is one run for this module: its group's events (runType `server`) are announced and
// pinged, once per run, and its databases' own events are not (one failing database makes the run partial;
// a database that succeeds after another failed is no recovery).
//
// Never in the way of a backup: listeners only start promises; deliveries run after the run's row is finished,
// each attempt bounded by NOTIFY_TIMEOUT_SECONDS; any failure is journaled, never thrown at the run. A CLI
// command waits for its deliveries before exiting (flush, bounded by NOTIFY_FLUSH_SECONDS); what is left then
// stays `pending`/leased in the catalog and a `coffre serve` takes it up.

import { newId, isoNow } from '../core/ids.ts';
import { asCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { decryptSecret, openSecrets } from '../core/secrets.ts';
import type { RunEvent, RunFinishedEvent, RunStartedEvent } from '../core/run-events.ts';
import { getBackup, type BackupRecord } from '../catalog/journal.ts';
import { findServerRun, latestServerRunOf, type ServerRunRecord } from '../catalog/server-runs.ts';
import { latestBackups } from '../catalog/health.ts';
import { getPlan, listPlans, type PlanRecord } from '../catalog/plans.ts';
import * as repo from '../catalog/notifications.ts';
import type { AlertState, DeliveryRecord } from '../catalog/notifications.ts';
import { channels } from '../notify/index.ts';
import { blankMessage, defaultRuleEvents, type NotificationMessage, type NotifyEvent } from '../notify/channel.ts';
import { postTo } from '../notify/http.ts';
import { attemptsOf, sendWithRetry } from '../notify/retry.ts';
import type { ServiceContext } from './service-context.ts';

/** The rule event a finished backup's status is announced as; null for statuses that are not announced. */
function eventOfStatus(status: string): 'success' | 'partial' | 'failure' | null {
  if (status === 'success') return 'success';
  if (status === 'partial') return 'partial';
  if (status === 'failed' || status === 'interrupted') return 'failure';
  return null; // running, skipped
}

function baseMessage(ctx: ServiceContext, event: NotifyEvent, title: string, text: string, at: string): NotificationMessage {
  return blankMessage(event, title, text, at, ctx.config.notify.publicUrl ? { api: `${ctx.config.notify.publicUrl}/api/status` } : {});
}

/** What a message about a run says: a backup's row, or a server run's group with its databases. */
type RunFacts = Pick<BackupRecord, 'id' | 'planName' | 'targetName' | 'kind' | 'message' | 'sizeBytes' | 'rawSizeBytes' | 'durationMs' | 'startedAt' | 'finishedAt'> & {
  status: string;
  server?: { databases: string[]; failed: string[] };
};

/** A server run as a run to announce. */
function serverFacts(g: ServerRunRecord): RunFacts {
  return {
    id: g.id,
    planName: g.planName,
    targetName: g.targetName,
    kind: g.requestedKind as BackupRecord['kind'],
    status: g.status,
    message: g.message,
    sizeBytes: null,
    rawSizeBytes: null,
    durationMs: g.durationMs,
    startedAt: g.startedAt,
    finishedAt: g.finishedAt,
    server: { databases: g.databases, failed: g.failed },
  };
}

/** What a server run's message says of its databases. */
function serverText(row: RunFacts & { server: NonNullable<RunFacts['server']> }, event: NotifyEvent): string {
  const { databases, failed } = row.server;
  const where = `plan ${row.planName} (server target ${row.targetName})`;
  if (event === 'success') return `The backup of ${where} backed up all ${databases.length} of its databases.`;
  if (event === 'partial') return `The backup of ${where} backed up ${databases.length - failed.length} of ${databases.length} databases; failed: ${failed.join(', ')}.`;
  return `The backup of ${where} ended ${row.status}${failed.length ? `; failed: ${failed.join(', ')}` : ''}.`;
}

/** The message about a run: a backup row or a server run. */
function runMessage(ctx: ServiceContext, event: NotifyEvent, row: RunFacts, at: string, reminder: boolean): NotificationMessage {
  const what = `backup of plan ${row.planName}`;
  const headline: Record<string, string> = {
    failure: `coffre: ${what} FAILED`,
    partial: `coffre: ${what} is PARTIAL`,
    success: `coffre: ${what} succeeded`,
    recovered: `coffre: plan ${row.planName} recovered`,
  };
  const server = row.server ? serverText({ ...row, server: row.server }, event) : undefined;
  const text: Record<string, string> = {
    failure: `${server ?? `The ${row.kind} backup of plan ${row.planName} (target ${row.targetName}) ended ${row.status}.`}${reminder ? ' The plan is still failing: this is a reminder.' : ''} See \`coffre journal --plan ${row.planName}\`.`,
    partial: `${server ?? `The ${row.kind} backup of plan ${row.planName} reached only some of its destinations.`}${reminder ? ' This is a reminder.' : ''}`,
    success: server ?? `The ${row.kind} backup of plan ${row.planName} (target ${row.targetName}) succeeded.`,
    recovered: `Plan ${row.planName} has a good backup again.`,
  };
  const m = baseMessage(ctx, event, `${headline[event] ?? `coffre: ${what}`}${reminder ? ' (reminder)' : ''}`, text[event] ?? '', at);
  const links: Record<string, string> = ctx.config.notify.publicUrl ? { journal: `${ctx.config.notify.publicUrl}/api/journals/${row.id}` } : {};
  return {
    ...m,
    plan: row.planName,
    target: row.targetName,
    status: row.status,
    journalId: row.id,
    kind: row.kind,
    sizeBytes: row.sizeBytes,
    rawSizeBytes: row.rawSizeBytes,
    durationMs: row.durationMs,
    message: row.message ? redact(row.message) : null,
    links: { ...m.links, ...links },
  };
}

/** Which notifiers an event of a plan goes to: the plan's rules, or the default set when it has none. */
async function recipients(ctx: ServiceContext, planId: string | null, event: NotifyEvent): Promise<repo.NotifierRecord[]> {
  const db = ctx.catalog.db;
  const all = await repo.listNotifiers(db);
  const rules = planId ? await repo.rulesOf(db, planId) : [];
  const effective = rules.length
    ? rules.map((r) => ({ notifier: all.find((n) => n.id === r.notifierId), events: r.events }))
    : all.filter((n) => n.isDefault).map((n) => ({ notifier: n, events: n.defaultEvents ? n.defaultEvents.split(',') : [...defaultRuleEvents] }));
  // `recovered` ends a failure or an RPO breach: it goes wherever those alerts go.
  const wants = (events: string[]) => (event === 'recovered' ? events.some((e) => e === 'failure' || e === 'partial' || e === 'rpo') : events.includes(event));
  return effective.filter((r) => r.notifier && wants(r.events)).map((r) => r.notifier!);
}

export interface Announcement {
  key: string;
  event: NotifyEvent;
  plan: PlanRecord | null;
  runId: string | null;
  message: NotificationMessage;
}

/** A plan's dead man's switch ping: which URL suffix, keyed like any event. */
interface Ping {
  key: string;
  plan: PlanRecord;
  runId: string;
  suffix: '/start' | '' | '/fail';
  body: string;
}

export interface NotificationsOptions {
  log?: (line: string) => void;
}

/** The notifications of one process: attached to its ctx.events, with the work it started so it can be awaited. */
export class Notifications {
  readonly #ctx: ServiceContext;
  readonly #log: (line: string) => void;
  readonly #work = new Set<Promise<unknown>>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(ctx: ServiceContext, options: NotificationsOptions = {}) {
    this.#ctx = ctx;
    this.#log = options.log ?? (() => {});
  }

  /** Listens to run events. */
  attach(): this {
    this.#unsubscribe ??= this.#ctx.events.subscribe((event) => this.#track(this.onRunEvent(event)));
    return this;
  }

  /** Checks RPOs and reminders and takes up pending deliveries every NOTIFY_CHECK_SECONDS (what `coffre serve` does). */
  startChecks(): this {
    if (this.#timer) return this;
    const tick = () => {
      this.#timer = setTimeout(async () => {
        await this.check();
        if (this.#timer) tick();
      }, this.#ctx.config.notify.checkMs);
      this.#timer.unref();
    };
    tick();
    this.#track(this.check());
    return this;
  }

  /** One RPO/reminder check and one pass over due deliveries; never throws. */
  async check(now = new Date()): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      await checkPlans(this.#ctx, now, (a) => this.#announce(a));
      for (const d of await repo.dueDeliveries(this.#ctx.catalog.db, isoNow(now))) await this.#deliver(d.id);
    } catch (err) {
      this.#log(`notifications: check failed: ${redact(asCoffreError(err).message)}`);
    } finally {
      this.#checking = false;
    }
  }

  /** Waits for the work started so far (and what it starts), at most `ms`; true when all of it finished. */
  async flush(ms = this.#ctx.config.notify.flushMs): Promise<boolean> {
    const end = Date.now() + ms;
    while (this.#work.size > 0) {
      const left = end - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), left)));
      const r = await Promise.race([Promise.allSettled([...this.#work]), expired]);
      clearTimeout(timer);
      if (r === 'timeout') return false;
    }
    return true;
  }

  /** Stops listening and checking (work already started goes on; flush() awaits it). */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #track<T>(p: Promise<T>): void {
    const guarded = p.catch((err) => this.#log(`notifications: ${redact(asCoffreError(err).message)}`));
    this.#work.add(guarded);
    void guarded.finally(() => this.#work.delete(guarded));
  }

  /** Reacts to one run event (exported for the tests' sake through the class). */
  async onRunEvent(event: RunEvent): Promise<void> {
    // One database of a server run: its run speaks for the plan (the `server` events).
    if (event.runType === 'backup' && event.serverRunId) return;
    if (event.type === 'started' && (event.runType === 'backup' || event.runType === 'server')) await this.#onStarted(event);
    else if (event.type === 'finished') await this.#onFinished(event);
  }

  async #onStarted(e: RunStartedEvent): Promise<void> {
    if (!e.planId) return;
    const plan = await getPlan(this.#ctx.catalog.db, e.planId);
    const what = e.runType === 'server' ? 'server run' : 'backup';
    if (plan) await this.#ping({ key: `ping-start:${e.runId}`, plan, runId: e.runId, suffix: '/start', body: `${what} ${e.runId} started` });
  }

  async #onFinished(e: RunFinishedEvent): Promise<void> {
    const db = this.#ctx.catalog.db;
    if (!e.planId) return;
    const plan = await getPlan(db, e.planId);
    if (!plan) return;
    const at = isoNow();
    if (e.runType === 'drill') {
      if (e.status === 'success') return;
      const m = baseMessage(
        this.#ctx,
        'drill',
        `coffre: restore drill of plan ${plan.name} FAILED`,
        `A restore drill of plan ${plan.name} ended ${e.status}: its backups may not restore.`,
        at,
      );
      await this.#announce({
        key: `drill:${e.runId}`,
        event: 'drill',
        plan,
        runId: e.runId,
        message: { ...m, plan: plan.name, status: e.status, journalId: e.runId, message: e.message ? redact(e.message) : null },
      });
      return;
    }
    let row: RunFacts;
    if (e.runType === 'server') {
      const group = await findServerRun(db, e.runId);
      if (!group) return;
      row = serverFacts(group);
    } else if (e.runType === 'backup') row = await getBackup(db, e.runId);
    else return;
    const event = eventOfStatus(row.status);
    if (!event) return;
    await this.#ping({
      key: `ping:${row.id}`,
      plan,
      runId: row.id,
      suffix: event === 'success' ? '' : '/fail',
      body: `${row.server ? 'server run' : 'backup'} ${row.id} ${row.status}${row.message ? `: ${redact(row.message)}` : ''}`.slice(0, 10000),
    });
    const out = await transition(this.#ctx, plan.id, (s, now) => backupTransition(s, event, now, this.#ctx.config.notify.remindMs));
    if (event === 'success') {
      await this.#announce({ key: `success:${row.id}`, event: 'success', plan, runId: row.id, message: runMessage(this.#ctx, 'success', row, at, false) });
      if (out.recovered) await this.#announce({ key: `recovered:${row.id}`, event: 'recovered', plan, runId: row.id, message: runMessage(this.#ctx, 'recovered', row, at, false) });
    } else if (out.announce) {
      await this.#announce({ key: `${event}:${row.id}`, event, plan, runId: row.id, message: runMessage(this.#ctx, event, row, at, out.reminder) });
    }
  }

  /** Claims the announcement; when this process won, queues one delivery per recipient and sends them. */
  async #announce(a: Announcement): Promise<void> {
    const db = this.#ctx.catalog.db;
    const now = isoNow();
    const eventId = newId();
    const won = await repo.claimEvent(db, {
      id: eventId,
      eventKey: a.key,
      event: a.event,
      planId: a.plan?.id ?? null,
      planName: a.plan?.name ?? null,
      runId: a.runId,
      payload: JSON.stringify(a.message),
      createdAt: now,
    });
    if (!won) return;
    const ids: string[] = [];
    for (const n of await recipients(this.#ctx, a.plan?.id ?? null, a.event)) {
      const id = newId();
      if (await repo.insertDelivery(db, pendingDelivery(id, eventId, n.id, n.name, n.type, now))) ids.push(id);
    }
    this.#log(`notifications: ${a.event}${a.plan ? ` of plan ${a.plan.name}` : ''} -> ${ids.length} channel(s)`);
    for (const id of ids) this.#track(this.#deliver(id));
  }

  async #ping(p: Ping): Promise<void> {
    const db = this.#ctx.catalog.db;
    const alerting = await repo.getAlerting(db, p.plan.id);
    if (!alerting?.pingUrlEnc) return;
    const now = isoNow();
    const eventId = newId();
    const payload = { suffix: p.suffix, body: p.body };
    if (
      !(await repo.claimEvent(db, {
        id: eventId,
        eventKey: p.key,
        event: 'ping',
        planId: p.plan.id,
        planName: p.plan.name,
        runId: p.runId,
        payload: JSON.stringify(payload),
        createdAt: now,
      }))
    )
      return;
    const id = newId();
    if (await repo.insertDelivery(db, pendingDelivery(id, eventId, null, `ping:${p.plan.name}`, 'ping', now, 'ping'))) this.#track(this.#deliver(id));
  }

  /** Leases one delivery and sends it with retries, journaling each attempt. */
  async #deliver(id: string): Promise<void> {
    const ctx = this.#ctx;
    const db = ctx.catalog.db;
    const cfg = ctx.config.notify;
    // Long enough for every attempt and backoff; a sender silent past it is taken over.
    const leaseMs = cfg.attempts * cfg.timeoutMs + cfg.retryBaseMs * 2 ** cfg.attempts + 30000;
    const now = new Date();
    if (!(await repo.leaseDelivery(db, id, isoNow(now), isoNow(new Date(now.getTime() + leaseMs))))) return;
    const d = (await repo.getDelivery(db, id))!;
    const event = await repo.getEvent(db, d.eventId);
    const done = (patch: Parameters<typeof repo.updateDelivery>[2]) => repo.updateDelivery(db, id, { leaseUntil: null, ...patch }, isoNow());
    if (!event) return done({ status: 'failed', lastError: 'The event was removed.' });
    let attempts = d.attempts;
    const onAttempt = (_n: number, err: { message: string } | null) => {
      attempts++;
      void repo.updateDelivery(db, id, { attempts, lastError: err ? redact(err.message) : null }, isoNow()).catch(() => {});
    };
    try {
      let answer: string;
      if (d.channel === 'ping') {
        const alerting = event.planId ? await repo.getAlerting(db, event.planId) : undefined;
        if (!alerting?.pingUrlEnc) return done({ status: 'failed', lastError: 'The plan has no ping URL any more.' });
        const url = decryptSecret(ctx.catalog.key, alerting.pingUrlEnc, `the ping URL of plan ${event.planName}`);
        const p = JSON.parse(event.payload) as { suffix: string; body: string };
        const channel = {
          type: 'ping',
          configure: () => ({ config: {}, secrets: {} }),
          describe: () => 'ping',
          send: () => postTo(`${url.replace(/\/+$/, '')}${p.suffix}`, p.body, { 'content-type': 'text/plain; charset=utf-8' }, cfg.timeoutMs, 'ping URL'),
        };
        answer = (
          await sendWithRetry(
            channel,
            { config: {}, secrets: {} },
            JSON.parse('{}'),
            { timeoutMs: cfg.timeoutMs, deliveryId: id },
            { attempts: cfg.attempts, baseDelayMs: cfg.retryBaseMs },
            onAttempt,
          )
        ).answer;
      } else {
        const n = d.notifierId ? await repo.getNotifier(db, d.notifierId) : undefined;
        if (!n) return done({ status: 'failed', lastError: `Notifier ${d.notifierName} was removed before the message was sent.` });
        answer = (await sendMessage(ctx, n, JSON.parse(event.payload) as NotificationMessage, id, onAttempt)).answer;
      }
      await done({ status: 'sent', attempts, response: answer, lastError: null, sentAt: isoNow() });
    } catch (err) {
      const error = asCoffreError(err);
      await done({ status: 'failed', attempts: Math.max(attempts, attemptsOf(err)), lastError: redact(error.message) });
      this.#log(`notifications: ${d.notifierName} failed after ${Math.max(attempts, attemptsOf(err))} attempt(s): ${redact(error.message)}`);
    }
  }
}

function pendingDelivery(id: string, eventId: string, notifierId: string | null, name: string, channel: string, now: string, key = notifierId ?? name): DeliveryRecord {
  return {
    id,
    eventId,
    channelKey: key,
    notifierId,
    notifierName: name,
    channel,
    status: 'pending',
    attempts: 0,
    lastError: null,
    response: null,
    nextAttemptAt: now,
    leaseUntil: null,
    createdAt: now,
    updatedAt: now,
    sentAt: null,
  };
}

/** Sends one message through a notifier (secrets unsealed here), with the retry policy. */
export async function sendMessage(
  ctx: ServiceContext,
  n: repo.NotifierRecord,
  message: NotificationMessage,
  deliveryId: string,
  onAttempt?: (attempt: number, error: { message: string } | null) => void,
) {
  const secrets = openSecrets(ctx.catalog.key, n.secretsEnc, `notifier "${n.name}"`);
  const cfg = ctx.config.notify;
  return sendWithRetry(
    channels.get(n.type),
    { config: n.config, secrets },
    message,
    { timeoutMs: cfg.timeoutMs, deliveryId },
    { attempts: cfg.attempts, baseDelayMs: cfg.retryBaseMs },
    onAttempt,
  );
}

interface TransitionOut {
  announce: boolean;
  reminder: boolean;
  recovered: boolean;
}

/** The state change a finished backup makes, and what it announces. */
function backupTransition(s: AlertState, event: 'success' | 'partial' | 'failure', now: string, remindMs: number): { next: Omit<AlertState, 'version'>; out: TransitionOut } {
  const { version: _v, ...cur } = s;
  if (event === 'success') {
    const recovered = cur.failing_since !== null || cur.stale_since !== null;
    return {
      next: { ...cur, failing_since: null, failing_status: null, failing_alert_at: null, stale_since: null, stale_alert_at: null },
      out: { announce: false, reminder: false, recovered },
    };
  }
  if (cur.failing_since === null)
    return { next: { ...cur, failing_since: now, failing_status: event, failing_alert_at: now }, out: { announce: true, reminder: false, recovered: false } };
  // Worse than before (partial, then nothing landed at all): said at once.
  if (cur.failing_status === 'partial' && event === 'failure')
    return { next: { ...cur, failing_status: event, failing_alert_at: now }, out: { announce: true, reminder: false, recovered: false } };
  if (!cur.failing_alert_at || Date.parse(now) - Date.parse(cur.failing_alert_at) >= remindMs)
    return { next: { ...cur, failing_alert_at: now }, out: { announce: true, reminder: true, recovered: false } };
  return { next: cur, out: { announce: false, reminder: false, recovered: false } };
}

/**
 * Applies a state change by compare-and-set, recomputing it from the fresh state when another writer won. The
 * step reads what it needs from the journal after the state was read: a run finished after that read changes
 * the version before this write lands (its own transition), so a decision made on stale facts never sticks.
 */
async function transition(
  ctx: ServiceContext,
  planId: string,
  step: (s: AlertState, now: string) => { next: Omit<AlertState, 'version'>; out: TransitionOut } | Promise<{ next: Omit<AlertState, 'version'>; out: TransitionOut }>,
): Promise<TransitionOut> {
  const db = ctx.catalog.db;
  for (let i = 0; i < 20; i++) {
    const now = isoNow();
    const s = await repo.alertState(db, planId, now);
    const { next, out } = await step(s, now);
    if (!out.announce && !out.recovered && sameState(s, next)) return out;
    if (await repo.compareAndSetState(db, planId, s.version, next, now)) return out;
  }
  return { announce: false, reminder: false, recovered: false };
}

function sameState(s: AlertState, next: Omit<AlertState, 'version'>): boolean {
  return (Object.keys(next) as Array<keyof typeof next>).every((k) => s[k] === next[k]);
}

/**
 * A plan's latest successful backup (any row, a server run's databases' included: what the RPO is measured
 * from, as `coffre status` does) and its latest finished run: a backup's row, or a server run as a whole.
 */
async function lastRuns(ctx: ServiceContext, planId: string): Promise<{ good: BackupRecord | undefined; last: RunFacts | undefined }> {
  const db = ctx.catalog.db;
  const [success, rows, group] = await Promise.all([
    latestBackups(db, ['success'], false, planId),
    latestBackups(db, finishedStatuses, false, planId, { serverRunRows: false }),
    latestServerRunOf(db, planId),
  ]);
  const row = rows.get(planId);
  const last = group && (!row || group.startedAt > row.startedAt) ? serverFacts(group) : row;
  return { good: success.get(planId), last };
}

/** Backup statuses of a finished run that says something about a plan's health (not skipped ticks). */
export const finishedStatuses = ['success', 'partial', 'failed', 'interrupted'] as const;

/** The time a plan's RPO is measured from: its latest successful backup, or its creation when it has none. */
export function rpoReference(plan: PlanRecord, lastSuccess: BackupRecord | undefined): string {
  return lastSuccess?.finishedAt ?? lastSuccess?.startedAt ?? plan.createdAt;
}

/**
 * The periodic check: for every enabled plan with an RPO, one `rpo` alert when its latest successful backup is
 * older than the RPO (or it has none and the plan is older than it), reminders at most every NOTIFY_REMIND_HOURS,
 * `recovered` once fresh again; and reminders for plans still failing. Works the same for plans without a cron
 * (backed up from outside): it reads only the catalog.
 */
export async function checkPlans(ctx: ServiceContext, now: Date, announce: (a: Announcement) => Promise<void>): Promise<void> {
  const db = ctx.catalog.db;
  const [plans, alerting, states] = await Promise.all([listPlans(db), repo.listAlerting(db), repo.alertStates(db)]);
  const remindMs = ctx.config.notify.remindMs;
  const at = isoNow(now);
  for (const plan of plans) {
    if (!plan.enabled) continue;
    const rpo = alerting.get(plan.id)?.rpoSeconds ?? null;
    // Nothing to look at: no RPO and nothing announced.
    const known = states.get(plan.id);
    if (rpo === null && !known?.failing_since && !known?.stale_since) continue;
    let kind: 'rpo' | 'rpo-remind' | 'recovered' | 'fail-remind' | null = null;
    let good: BackupRecord | undefined;
    let last: RunFacts | undefined;
    let ref = plan.createdAt;
    let stale = false;
    const out = await transition(ctx, plan.id, async (s, nowIso) => {
      const { version: _v, ...cur } = s;
      kind = null;
      ({ good, last } = await lastRuns(ctx, plan.id));
      ref = rpoReference(plan, good);
      stale = rpo !== null && Date.parse(nowIso) - Date.parse(ref) > rpo * 1000;
      if (stale && cur.stale_since === null) {
        kind = 'rpo';
        return { next: { ...cur, stale_since: nowIso, stale_alert_at: nowIso }, out: { announce: true, reminder: false, recovered: false } };
      }
      if (stale && cur.stale_alert_at && Date.parse(nowIso) - Date.parse(cur.stale_alert_at) >= remindMs) {
        kind = 'rpo-remind';
        return { next: { ...cur, stale_alert_at: nowIso }, out: { announce: true, reminder: true, recovered: false } };
      }
      // The latest finished run is a success while the state says failing or stale: its event was missed
      // (the process that ran it died first) or the RPO is met again; keyed on that run, so it is said once.
      if (!stale && last?.status === 'success' && (cur.stale_since !== null || cur.failing_since !== null)) {
        kind = 'recovered';
        return {
          next: { ...cur, failing_since: null, failing_status: null, failing_alert_at: null, stale_since: null, stale_alert_at: null },
          out: { announce: false, reminder: false, recovered: true },
        };
      }
      if (!stale && rpo === null && cur.stale_since !== null && (last?.status === 'success' || !last)) {
        kind = 'recovered'; // the RPO was removed while breached
        return { next: { ...cur, stale_since: null, stale_alert_at: null }, out: { announce: false, reminder: false, recovered: cur.failing_since === null } };
      }
      if (cur.failing_since !== null && cur.failing_alert_at && Date.parse(nowIso) - Date.parse(cur.failing_alert_at) >= remindMs && last && last.status !== 'success') {
        kind = 'fail-remind';
        return { next: { ...cur, failing_alert_at: nowIso }, out: { announce: true, reminder: true, recovered: false } };
      }
      return { next: cur, out: { announce: false, reminder: false, recovered: false } };
    });
    const k = kind as 'rpo' | 'rpo-remind' | 'recovered' | 'fail-remind' | null;
    if (!out.announce && !out.recovered) continue;
    if (k === 'rpo' || k === 'rpo-remind') {
      const ageS = Math.round((now.getTime() - Date.parse(ref)) / 1000);
      const m = baseMessage(
        ctx,
        'rpo',
        `coffre: plan ${plan.name} is past its RPO${k === 'rpo-remind' ? ' (reminder)' : ''}`,
        good
          ? `The latest successful backup of plan ${plan.name} is ${ageS} s old, more than its RPO of ${rpo} s.`
          : `Plan ${plan.name} has no successful backup, and its RPO of ${rpo} s has passed since it was created.`,
        at,
      );
      const state = await repo.alertState(db, plan.id, at);
      await announce({
        key: `rpo:${plan.id}:${k === 'rpo' ? state.stale_since : state.stale_alert_at}`,
        event: 'rpo',
        plan,
        runId: good?.id ?? null,
        message: {
          ...m,
          plan: plan.name,
          status: 'stale',
          journalId: good?.id ?? null,
          rpoSeconds: rpo,
          lastSuccessAt: good ? ref : null,
          message: `No successful backup in the last ${rpo} s.`,
        },
      });
    } else if (k === 'recovered' && out.recovered) {
      if (last && last.status === 'success')
        await announce({ key: `recovered:${last.id}`, event: 'recovered', plan, runId: last.id, message: runMessage(ctx, 'recovered', last, at, false) });
      else {
        const m = baseMessage(ctx, 'recovered', `coffre: plan ${plan.name} recovered`, `Plan ${plan.name} is no longer past an RPO.`, at);
        await announce({ key: `recovered:${plan.id}:${at}`, event: 'recovered', plan, runId: null, message: { ...m, plan: plan.name, status: 'ok' } });
      }
    } else if (k === 'fail-remind' && last) {
      const state = await repo.alertState(db, plan.id, at);
      const event = eventOfStatus(last.status) === 'partial' ? 'partial' : 'failure';
      await announce({ key: `remind:${plan.id}:${state.failing_alert_at}`, event, plan, runId: last.id, message: runMessage(ctx, event, last, at, true) });
    }
  }
}

/** Runs fn with notifications attached (a CLI command's runs notify like the server's), then flushes them, bounded. */
export async function withNotifications<T>(ctx: ServiceContext, fn: () => Promise<T>, log?: (line: string) => void): Promise<T> {
  const n = new Notifications(ctx, { log }).attach();
  try {
    return await fn();
  } finally {
    n.stop();
    if (!(await n.flush()))
      log?.(`notifications: some deliveries were still being sent after ${Math.round(ctx.config.notify.flushMs / 1000)}s; a \`coffre serve\` will take them up.`);
  }
}
