// When a plan runs: cron expressions read by croner in the plan's time zone (else SCHEDULER_TIMEZONE, else
// UTC). croner, unlike node-cron, neither skips nor doubles a run across daylight-saving changes: a time
// that does not exist on the spring-forward day runs once at the first valid moment after it, and a time
// that happens twice on the fall-back day runs once, at its first occurrence. Every function here is pure
// and takes its `now`, so the maths can be tested with a controlled clock.

import type { Cron } from 'croner';
import { lazy } from './lazy.ts';
import { usageError } from './errors.ts';

const croner = lazy<typeof import('croner')>('croner');

/** A checked schedule: the normalized expression and the time zone it is read in. */
export interface Schedule {
  cron: string;
  timezone: string;
}

/** Whether `tz` names a time zone this Node knows (IANA names and UTC). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Checks a time zone name; a usage error says what a valid one looks like. */
export function checkTimeZone(tz: unknown): string {
  if (typeof tz !== 'string' || tz.trim() === '' || tz.length > 100 || !isTimeZone(tz.trim())) {
    throw usageError('BAD_TIMEZONE', `Unknown time zone ${JSON.stringify(tz)}: give an IANA name such as Europe/Paris, America/New_York or UTC.`, { field: 'timezone' });
  }
  return tz.trim();
}

// Parsed schedules are kept (a paused Cron holds no timer): plan listings compute next runs on every
// request, and parsing each plan's expression again was most of the cost of GET /api/plans.
const compiled = new Map<string, Cron>();
const COMPILED_MAX = 1000;

function compile(s: Schedule): Cron {
  const key = `${s.timezone}\u0000${s.cron}`;
  let job = compiled.get(key);
  if (!job) {
    job = new (croner().Cron)(s.cron, { timezone: s.timezone, paused: true, mode: 'auto' });
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    compiled.set(key, job);
  }
  return job;
}

/**
 * Checks a cron expression (5 fields, or 6 with seconds first) and returns it normalized. A usage error
 * names the field croner refused, e.g. "Invalid value for minute: 61", and an expression that can never
 * fire (30 February) is refused too.
 */
export function checkCron(cron: unknown, timezone = 'UTC'): string {
  const hint = 'give 5 fields (minute hour day month weekday) or 6 (with seconds first), e.g. "0 3 * * *"';
  if (typeof cron !== 'string' || cron.length > 200 || !/^\S+(\s+\S+){4,5}$/.test(cron.trim())) {
    throw usageError('BAD_CRON', `Invalid cron expression ${JSON.stringify(cron)}: ${hint}.`, { field: 'cron' });
  }
  const normalized = cron.trim().replace(/\s+/g, ' ');
  let job: Cron;
  try {
    job = compile({ cron: normalized, timezone });
  } catch (err) {
    const why = (err as Error).message.replace(/^CronPattern: /, '');
    throw usageError('BAD_CRON', `Invalid cron expression "${normalized}" (${why}): ${hint}.`, { field: 'cron' });
  }
  if (job.nextRun(new Date()) === null) {
    throw usageError('BAD_CRON', `The cron expression "${normalized}" never fires (no such date): ${hint}.`, { field: 'cron' });
  }
  return normalized;
}

/** The next `count` run times strictly after `after`. */
export function nextRuns(s: Schedule, after: Date, count = 1): Date[] {
  return compile(s).nextRuns(count, after);
}

/** The first run time strictly after `after`, or null when there is none. */
export function nextRun(s: Schedule, after: Date): Date | null {
  return compile(s).nextRun(after);
}

/** Every run time in (from, to], oldest first (at most `limit`). */
export function runsBetween(s: Schedule, from: Date, to: Date, limit = 10000): Date[] {
  const job = compile(s);
  const out: Date[] = [];
  let at: Date | null = from;
  while (out.length < limit) {
    at = job.nextRun(at);
    if (!at || at.getTime() > to.getTime()) break;
    out.push(at);
  }
  return out;
}

/** The latest run time at or before `now` and after `notBefore`, or null. */
export function lastRunBefore(s: Schedule, now: Date, notBefore: Date): Date | null {
  const runs = compile(s).previousRuns(1, new Date(now.getTime() + 1));
  const last = runs[0];
  return last && last.getTime() > notBefore.getTime() ? last : null;
}

/** The schedule of a plan: its own time zone, else the default one. Null when the plan has no cron. */
export function scheduleOf(plan: { cron: string | null; timezone: string | null }, defaultTimezone: string): Schedule | null {
  return plan.cron ? { cron: plan.cron, timezone: plan.timezone || defaultTimezone } : null;
}
