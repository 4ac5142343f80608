// Cron maths with a controlled clock: `30 2 * * *` runs exactly once on the spring-forward and fall-back
// days in America/New_York and Europe/Paris, per-plan time zones, and bad expressions or zones refused with
// a reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCron, checkTimeZone, lastRunBefore, nextRuns, runsBetween } from '../src/core/cron.ts';
import { isCoffreError } from '../src/core/errors.ts';

/** Runs of a schedule during one local calendar day (in its zone), as local "HH:MM" strings. */
function localRunsOn(cron: string, timezone: string, day: string): string[] {
  // Look at a 3-day UTC window around the day and keep the runs whose local date is that day.
  const from = new Date(Date.parse(`${day}T00:00:00Z`) - 86400000);
  const to = new Date(Date.parse(`${day}T00:00:00Z`) + 2 * 86400000);
  const fmt = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return runsBetween({ cron, timezone }, from, to)
    .map((d) => fmt.format(d).replace(',', ''))
    .filter((s) => s.startsWith(day))
    .map((s) => s.slice(11));
}

const dstDays = [
  { tz: 'America/New_York', spring: '2026-03-08', fall: '2026-11-01' },
  { tz: 'Europe/Paris', spring: '2026-03-29', fall: '2026-10-25' },
];

for (const { tz, spring, fall } of dstDays) {
  test(`30 2 * * * in ${tz}: exactly one run on the spring-forward day (${spring})`, () => {
    const runs = localRunsOn('30 2 * * *', tz, spring);
    assert.equal(runs.length, 1, `runs: ${runs.join(', ')}`);
    // 02:30 does not exist that day: the run happens at the first valid time after the gap.
    assert.equal(runs[0], '03:00');
    // The days around it are untouched.
    assert.deepEqual(localRunsOn('30 2 * * *', tz, dayAfter(spring, -1)), ['02:30']);
    assert.deepEqual(localRunsOn('30 2 * * *', tz, dayAfter(spring, 1)), ['02:30']);
  });

  test(`30 2 * * * in ${tz}: exactly one run on the fall-back day (${fall})`, () => {
    const runs = localRunsOn('30 2 * * *', tz, fall);
    assert.deepEqual(runs, ['02:30']);
    assert.deepEqual(localRunsOn('30 2 * * *', tz, dayAfter(fall, 1)), ['02:30']);
  });
}

function dayAfter(day: string, n: number): string {
  return new Date(Date.parse(`${day}T12:00:00Z`) + n * 86400000).toISOString().slice(0, 10);
}

test('Paris fall-back: 02:30 happens twice on the wall clock but the plan runs at the first one only', () => {
  const runs = runsBetween({ cron: '30 2 * * *', timezone: 'Europe/Paris' }, new Date('2026-10-24T12:00:00Z'), new Date('2026-10-25T12:00:00Z'));
  assert.deepEqual(
    runs.map((d) => d.toISOString()),
    ['2026-10-25T00:30:00.000Z'],
  ); // 02:30 CEST, not 02:30 CET (01:30Z)
});

test('an hourly plan keeps one run per real hour across the New York changes', () => {
  const spring = runsBetween({ cron: '0 * * * *', timezone: 'America/New_York' }, new Date('2026-03-08T04:30:00Z'), new Date('2026-03-08T09:30:00Z'));
  assert.deepEqual(
    spring.map((d) => d.toISOString().slice(11, 16)),
    ['05:00', '06:00', '07:00', '08:00', '09:00'],
  );
  const fall = runsBetween({ cron: '0 * * * *', timezone: 'America/New_York' }, new Date('2026-11-01T03:30:00Z'), new Date('2026-11-01T08:30:00Z'));
  assert.equal(new Set(fall.map((d) => d.getTime())).size, fall.length, 'no run twice');
  assert.ok(fall.length >= 4);
});

test('the plan time zone decides the instant; the same expression differs between zones', () => {
  const after = new Date('2026-06-01T00:00:00Z');
  assert.equal(nextRuns({ cron: '0 3 * * *', timezone: 'UTC' }, after)[0].toISOString(), '2026-06-01T03:00:00.000Z');
  assert.equal(nextRuns({ cron: '0 3 * * *', timezone: 'Europe/Paris' }, after)[0].toISOString(), '2026-06-01T01:00:00.000Z');
  assert.equal(nextRuns({ cron: '0 3 * * *', timezone: 'America/New_York' }, after)[0].toISOString(), '2026-06-01T07:00:00.000Z');
});

test('seconds fields and the last run before a time', () => {
  const s = { cron: '*/3 * * * * *', timezone: 'UTC' };
  assert.deepEqual(
    nextRuns(s, new Date('2026-01-01T00:00:01Z'), 2).map((d) => d.toISOString()),
    ['2026-01-01T00:00:03.000Z', '2026-01-01T00:00:06.000Z'],
  );
  assert.equal(lastRunBefore({ cron: '0 * * * *', timezone: 'UTC' }, new Date('2026-01-01T10:00:00Z'), new Date(0))?.toISOString(), '2026-01-01T10:00:00.000Z');
  assert.equal(lastRunBefore({ cron: '0 * * * *', timezone: 'UTC' }, new Date('2026-01-01T10:59:59Z'), new Date(0))?.toISOString(), '2026-01-01T10:00:00.000Z');
  assert.equal(lastRunBefore({ cron: '0 * * * *', timezone: 'UTC' }, new Date('2026-01-01T10:30:00Z'), new Date('2026-01-01T10:00:00Z')), null, 'not after notBefore');
});

test('invalid expressions and time zones are refused, saying why', () => {
  const refused = (fn: () => unknown, code: string, why: RegExp) => {
    assert.throws(fn, (err: unknown) => isCoffreError(err) && err.code === code && err.kind === 'usage' && why.test(err.message));
  };
  refused(() => checkCron('61 * * * *'), 'COFFRE_E_BAD_CRON', /minute: 61/);
  refused(() => checkCron('0 0 30 2 *'), 'COFFRE_E_BAD_CRON', /never fires/);
  refused(() => checkCron('every day'), 'COFFRE_E_BAD_CRON', /5 fields/);
  refused(() => checkCron('* * * * * * *'), 'COFFRE_E_BAD_CRON', /5 fields/);
  refused(() => checkTimeZone('Mars/Olympus_Mons'), 'COFFRE_E_BAD_TIMEZONE', /IANA/);
  assert.equal(checkCron('  0   3 * * * '), '0 3 * * *');
  assert.equal(checkTimeZone('Europe/Paris'), 'Europe/Paris');
});
