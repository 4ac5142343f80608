// Which backups of a plan to keep: a pure computation over journal rows, so every rule can be tested with a
// controlled clock and a dry run shows exactly what a prune would do, and why.
//
// Rules (a backup is kept when any rule keeps it):
// - keepLast N: the N newest successful backups, whatever their age;
// - daily/weekly/monthly/yearly N (GFS): the newest successful backup of each of the N most recent days,
//   ISO weeks, months or years that have one, in the plan's time zone;
// - maxAgeDays D: with count rules, GFS picks older than D days are not kept; alone, everything younger is
//   kept. keepLast is a floor that maxAge never cuts into.
// And whatever the rules say, never deleted:
// - the newest successful backup;
// - a backup that a kept differential or incremental depends on (parent_id chains): a chain is one unit;
// - anything because recent runs failed: only successful rows are counted or candidates, so a run of
//   failures neither uses up "last N" nor empties a GFS bucket.
// A policy with no rule keeps everything.

import { usageError } from './errors.ts';

export interface RetentionPolicy {
  keepLast?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  maxAgeDays?: number;
}

const countRules = ['keepLast', 'daily', 'weekly', 'monthly', 'yearly'] as const;

/** A journal row as retention sees it. */
export interface RetentionBackup {
  id: string;
  status: string;
  kind: string;
  parentId: string | null;
  /** ISO time the backup was taken. */
  startedAt: string;
}

export interface RetentionDecision {
  id: string;
  startedAt: string;
  kind: string;
  /** Why it stays, or why it goes. */
  reasons: string[];
}

export interface RetentionResult {
  keep: RetentionDecision[];
  remove: RetentionDecision[];
}

/**
 * Checks a retention policy given by a user (API body, CLI flags): non-negative whole counts, a positive
 * maximum age, no unknown field. Returns null for "no policy" (null, undefined or an empty object).
 */
export function checkRetention(input: unknown): RetentionPolicy | null {
  if (input === undefined || input === null) return null;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw usageError('BAD_RETENTION', 'The retention policy must be an object such as {"keepLast": 7, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 3, "maxAgeDays": 400}.', {
      field: 'retention',
    });
  }
  const out: RetentionPolicy = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || value === null) continue;
    if (key === 'maxAgeDays') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 36500) {
        throw usageError('BAD_RETENTION', `retention.maxAgeDays must be a number of days between 0 and 36500 (got ${JSON.stringify(value)}).`, { field: 'retention.maxAgeDays' });
      }
      out.maxAgeDays = value;
    } else if ((countRules as readonly string[]).includes(key)) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 100000) {
        throw usageError('BAD_RETENTION', `retention.${key} must be a whole number from 0 (got ${JSON.stringify(value)}).`, { field: `retention.${key}` });
      }
      out[key as (typeof countRules)[number]] = value;
    } else {
      throw usageError('BAD_RETENTION', `Unknown retention rule "${key}": use keepLast, daily, weekly, monthly, yearly or maxAgeDays.`, { field: `retention.${key}` });
    }
  }
  return Object.keys(out).length ? out : null;
}

/** The calendar parts of an instant in a time zone. */
function localParts(at: Date, timezone: string): { year: number; month: number; day: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timezone, year: 'numeric', month: 'numeric', day: 'numeric' }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { year: get('year'), month: get('month'), day: get('day') };
}

/** ISO 8601 week of a calendar date, e.g. "2026-W01". */
function isoWeek(year: number, month: number, day: number): string {
  const d = new Date(Date.UTC(year, month - 1, day));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const weekYear = d.getUTCFullYear();
  const week = Math.ceil(((d.getTime() - Date.UTC(weekYear, 0, 1)) / 86400000 + 1) / 7);
  return `${weekYear}-W${String(week).padStart(2, '0')}`;
}

/** The bucket labels of an instant for each GFS period, in a time zone. */
export function periodsOf(at: Date, timezone: string): { daily: string; weekly: string; monthly: string; yearly: string } {
  const { year, month, day } = localParts(at, timezone);
  const mm = String(month).padStart(2, '0');
  return { daily: `${year}-${mm}-${String(day).padStart(2, '0')}`, weekly: isoWeek(year, month, day), monthly: `${year}-${mm}`, yearly: String(year) };
}

/**
 * Splits a plan's journal rows into what a prune keeps and what it removes, with the reasons. Only rows
 * with status `success` are considered; every other row is left out of both lists (it holds no artifact).
 */
export function computeRetention(rows: readonly RetentionBackup[], policy: RetentionPolicy | null, options: { now: Date; timezone: string }): RetentionResult {
  const ok = rows.filter((r) => r.status === 'success').sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1));
  const reasons = new Map<string, string[]>(ok.map((r) => [r.id, []]));
  const keep = (id: string, why: string) => reasons.get(id)!.push(why);
  const p = policy ?? {};
  const hasCount = countRules.some((k) => (p[k] ?? 0) > 0);
  const maxAgeMs = p.maxAgeDays === undefined ? undefined : p.maxAgeDays * 86400000;
  const young = (r: RetentionBackup) => maxAgeMs === undefined || options.now.getTime() - Date.parse(r.startedAt) <= maxAgeMs;

  if (!hasCount && maxAgeMs === undefined) {
    for (const r of ok) keep(r.id, 'no retention rule: everything is kept');
  }
  if (p.keepLast) for (const [i, r] of ok.slice(0, p.keepLast).entries()) keep(r.id, `keepLast ${p.keepLast}: #${i + 1} newest`);
  for (const period of ['daily', 'weekly', 'monthly', 'yearly'] as const) {
    const n = p[period] ?? 0;
    if (!n) continue;
    const seen = new Set<string>();
    for (const r of ok) {
      if (seen.size >= n) break;
      const label = periodsOf(new Date(r.startedAt), options.timezone)[period];
      if (seen.has(label)) continue;
      seen.add(label);
      if (young(r)) keep(r.id, `${period} ${n}: newest of ${label}`);
    }
  }
  if (!hasCount && maxAgeMs !== undefined) for (const r of ok) if (young(r)) keep(r.id, `younger than maxAgeDays ${p.maxAgeDays}`);
  if (ok.length) keep(ok[0].id, 'newest successful backup');

  // Chains: a kept delta keeps every ancestor it needs, transitively.
  const byId = new Map(ok.map((r) => [r.id, r]));
  for (const r of ok) {
    if (!reasons.get(r.id)!.length) continue;
    let child = r;
    const guard = new Set<string>();
    while (child.parentId && byId.has(child.parentId) && !guard.has(child.parentId)) {
      guard.add(child.parentId);
      const parent = byId.get(child.parentId)!;
      const why = `parent of kept ${child.kind} ${child.id}`;
      if (!reasons.get(parent.id)!.includes(why)) keep(parent.id, why);
      child = parent;
    }
  }

  const result: RetentionResult = { keep: [], remove: [] };
  const rules = describePolicy(p);
  for (const r of ok) {
    const why = reasons.get(r.id)!;
    const decision = { id: r.id, startedAt: r.startedAt, kind: r.kind };
    if (why.length) result.keep.push({ ...decision, reasons: why });
    else result.remove.push({ ...decision, reasons: [young(r) ? `not selected by ${rules}` : `older than maxAgeDays ${p.maxAgeDays} and not selected by ${rules}`] });
  }
  return result;
}

/** "keepLast 3, daily 7" — the rules of a policy in words. */
export function describePolicy(p: RetentionPolicy | null): string {
  if (!p) return 'no rule';
  const parts = [...countRules.filter((k) => p[k]).map((k) => `${k} ${p[k]}`), ...(p.maxAgeDays !== undefined ? [`maxAgeDays ${p.maxAgeDays}`] : [])];
  return parts.length ? parts.join(', ') : 'no rule';
}
