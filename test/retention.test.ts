// Retention: the pure policy (keep last N, GFS buckets and their boundaries in the plan's time zone, max
// age, chains kept whole, failures never counted) with a controlled clock; then prune on a real SQLite
// catalog with real artifacts: a dry run changes nothing, a real run deletes files and marks rows.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { computeRetention, checkRetention, periodsOf, type RetentionBackup } from '../src/core/retention-policy.ts';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext } from '../src/services/context.ts';
import { addTarget } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan, updatePlan } from '../src/services/plans.ts';
import { runBackup, type BackupView } from '../src/services/backups.ts';
import { prunePlan } from '../src/services/retention.ts';
import { isCoffreError } from '../src/core/errors.ts';

const now = new Date('2026-03-31T12:00:00Z');
const UTC = { now, timezone: 'UTC' };

let seq = 0;
function b(startedAt: string, extra: Partial<RetentionBackup> = {}): RetentionBackup {
  return { id: `b${String(++seq).padStart(3, '0')}`, status: 'success', kind: 'full', parentId: null, startedAt, ...extra };
}
const ids = (ds: Array<{ id: string }>) => ds.map((d) => d.id).sort();

test('keepLast counts successful backups only: a run of failures never pushes good backups out', () => {
  const good = [b('2026-03-01T00:00:00Z'), b('2026-03-02T00:00:00Z'), b('2026-03-03T00:00:00Z'), b('2026-03-04T00:00:00Z')];
  const failures = Array.from({ length: 10 }, (_, i) => b(`2026-03-${String(10 + i).padStart(2, '0')}T00:00:00Z`, { status: i % 2 ? 'failed' : 'interrupted' }));
  const r = computeRetention([...good, ...failures], { keepLast: 3 }, UTC);
  assert.deepEqual(ids(r.keep), ids(good.slice(1)));
  assert.deepEqual(ids(r.remove), [good[0].id]);
  assert.ok(
    r.remove.every((d) => !failures.some((f) => f.id === d.id)),
    'failed rows are never candidates',
  );
});

test('the newest successful backup is kept even when every rule would drop it', () => {
  const only = b('2025-01-01T00:00:00Z');
  const r = computeRetention([only, b('2026-03-30T00:00:00Z', { status: 'failed' })], { maxAgeDays: 7 }, UTC);
  assert.deepEqual(ids(r.keep), [only.id]);
  assert.match(r.keep[0].reasons.join(), /newest successful/);
  assert.equal(computeRetention([only], { keepLast: 0, daily: 0 }, UTC).keep.length, 1);
});

test('a chain is one unit: a kept incremental keeps its whole chain back to the full', () => {
  const full = b('2026-03-01T00:00:00Z');
  const i1 = b('2026-03-02T00:00:00Z', { kind: 'incremental', parentId: full.id });
  const i2 = b('2026-03-03T00:00:00Z', { kind: 'incremental', parentId: i1.id });
  const full2 = b('2026-03-04T00:00:00Z');
  const d1 = b('2026-03-05T00:00:00Z', { kind: 'differential', parentId: full2.id });
  // keepLast 1 keeps d1, which needs full2; full, i1, i2 go together.
  let r = computeRetention([full, i1, i2, full2, d1], { keepLast: 1 }, UTC);
  assert.deepEqual(ids(r.keep), ids([full2, d1]));
  assert.match(r.keep.find((d) => d.id === full2.id)!.reasons.join(), /parent of kept differential/);
  assert.deepEqual(ids(r.remove), ids([full, i1, i2]));
  // A rule that keeps i2 alone (daily on its day) keeps i1 and full too.
  r = computeRetention([full, i1, i2, full2, d1], { daily: 3 }, UTC);
  assert.deepEqual(ids(r.keep), ids([i2, i1, full, full2, d1]));
  // maxAge cannot cut a chain a kept backup needs.
  r = computeRetention([full, i1, i2], { maxAgeDays: 29 }, { now: new Date('2026-03-31T00:00:00Z'), timezone: 'UTC' });
  assert.deepEqual(ids(r.keep), ids([full, i1, i2]), 'i2 is young; full (30 days old) and i1 stay for it');
});

test('GFS: the newest backup of each of the last N days, weeks, months and years that have one', () => {
  const rows = [
    b('2026-03-31T08:00:00Z'), // Tue, week 14
    b('2026-03-31T01:00:00Z'),
    b('2026-03-30T10:00:00Z'), // Mon, week 14
    b('2026-03-29T23:00:00Z'), // Sun, week 13
    b('2026-03-22T10:00:00Z'), // Sun, week 12
    b('2026-02-28T10:00:00Z'),
    b('2026-02-01T10:00:00Z'),
    b('2025-12-31T10:00:00Z'),
    b('2024-06-01T10:00:00Z'),
  ];
  const at = (iso: string) => rows.find((r) => r.startedAt === iso)!.id;
  assert.deepEqual(
    ids(computeRetention(rows, { daily: 3 }, UTC).keep),
    ids([{ id: at('2026-03-31T08:00:00Z') }, { id: at('2026-03-30T10:00:00Z') }, { id: at('2026-03-29T23:00:00Z') }]),
  );
  assert.deepEqual(
    ids(computeRetention(rows, { weekly: 3 }, UTC).keep),
    ids([{ id: at('2026-03-31T08:00:00Z') }, { id: at('2026-03-29T23:00:00Z') }, { id: at('2026-03-22T10:00:00Z') }]),
  );
  assert.deepEqual(
    ids(computeRetention(rows, { monthly: 3 }, UTC).keep),
    ids([{ id: at('2026-03-31T08:00:00Z') }, { id: at('2026-02-28T10:00:00Z') }, { id: at('2025-12-31T10:00:00Z') }]),
  );
  assert.deepEqual(
    ids(computeRetention(rows, { yearly: 5 }, UTC).keep),
    ids([{ id: at('2026-03-31T08:00:00Z') }, { id: at('2025-12-31T10:00:00Z') }, { id: at('2024-06-01T10:00:00Z') }]),
  );
  // A failed day does not use up a daily slot.
  const withFailure = [...rows, b('2026-03-28T10:00:00Z', { status: 'failed' })];
  assert.equal(computeRetention(withFailure, { daily: 4 }, UTC).keep.length, 4);
});

test('GFS boundaries follow the plan time zone: 23:30 UTC on Sunday is Monday in Paris', () => {
  assert.deepEqual(periodsOf(new Date('2026-03-29T23:30:00Z'), 'UTC'), { daily: '2026-03-29', weekly: '2026-W13', monthly: '2026-03', yearly: '2026' });
  assert.deepEqual(periodsOf(new Date('2026-03-29T23:30:00Z'), 'Europe/Paris'), { daily: '2026-03-30', weekly: '2026-W14', monthly: '2026-03', yearly: '2026' });
  assert.deepEqual(periodsOf(new Date('2026-12-31T23:30:00Z'), 'Europe/Paris'), { daily: '2027-01-01', weekly: '2026-W53', monthly: '2027-01', yearly: '2027' });
  assert.equal(periodsOf(new Date('2027-01-01T03:00:00Z'), 'America/New_York').yearly, '2026');
  // Two backups on both sides of Paris midnight: one daily bucket in UTC, two in Paris.
  const rows = [b('2026-03-29T21:30:00Z'), b('2026-03-29T22:30:00Z')];
  const utc = computeRetention(rows, { daily: 5 }, { now, timezone: 'UTC' });
  const paris = computeRetention(rows, { daily: 5 }, { now, timezone: 'Europe/Paris' });
  assert.equal(utc.remove.length, 1, 'same UTC day: the older one goes');
  assert.equal(paris.remove.length, 0, 'two Paris days: both kept');
});

test('maxAge alone keeps what is younger; with GFS it bounds the picks; keepLast is a floor', () => {
  const rows = [b('2026-03-30T00:00:00Z'), b('2026-03-20T00:00:00Z'), b('2026-02-01T00:00:00Z'), b('2025-01-01T00:00:00Z')];
  assert.equal(computeRetention(rows, { maxAgeDays: 30 }, UTC).keep.length, 2);
  assert.equal(computeRetention(rows, { monthly: 12, maxAgeDays: 90 }, UTC).keep.length, 2, 'March and February; the 2025 month is too old');
  assert.equal(computeRetention(rows, { keepLast: 4, maxAgeDays: 1 }, UTC).keep.length, 4);
  const r = computeRetention(rows, { monthly: 12, maxAgeDays: 90 }, UTC);
  assert.match(r.remove.find((d) => d.startedAt.startsWith('2025'))!.reasons[0], /older than maxAgeDays 90/);
});

test('no policy keeps everything; bad policies are refused with the field named', () => {
  const rows = [b('2026-03-30T00:00:00Z'), b('2020-01-01T00:00:00Z')];
  assert.equal(computeRetention(rows, null, UTC).remove.length, 0);
  assert.equal(checkRetention({}), null);
  for (const bad of [{ keepLast: -1 }, { daily: 1.5 }, { maxAgeDays: 0 }, { hourly: 3 }, [1], 'seven']) {
    assert.throws(
      () => checkRetention(bad),
      (e: unknown) => isCoffreError(e) && e.code === 'COFFRE_E_BAD_RETENTION' && e.kind === 'usage',
    );
  }
});

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('prune on a real catalog: dry run lists and changes nothing; a real run deletes files and journals why', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-retention-'));
  dirs.push(dir);
  const dbFile = path.join(dir, 'app.db');
  const sqlite = new DatabaseSync(dbFile);
  sqlite.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a')");
  sqlite.close();
  const ctx = await openContext({ config: loadConfig({ DATA_DIR: path.join(dir, 'data') }), announce: () => {} });
  try {
    await addTarget(ctx, { name: 'app', url: `sqlite:${dbFile}` }, { via: 'cli' });
    await addDestination(ctx, { name: 'disk', type: 'local', path: path.join(dir, 'backups') }, { via: 'cli' });
    await addPlan(ctx, { name: 'p', target: 'app', destination: 'disk', compression: 'none' });
    const runs: BackupView[] = [];
    for (let i = 0; i < 4; i++) runs.push((await runBackup(ctx, { plan: 'p' })).view);
    assert.ok(runs.every((r) => r.status === 'success'));
    // Spread them over four days, and add a failed run newer than all of them.
    for (const [i, r] of runs.entries())
      await ctx.catalog.db
        .updateTable('backups')
        .set({ started_at: `2026-03-2${i}T10:00:00.000Z` })
        .where('id', '=', r.id)
        .execute();
    await ctx.catalog.db.updateTable('backups').set({ status: 'failed' }).where('id', '=', runs[3].id).execute();
    const file = (id: string) => path.join(dir, 'backups', runs.find((r) => r.id === id)!.artifact!);

    // Without a policy nothing goes.
    assert.equal((await prunePlan(ctx, 'p', { now })).removed.length, 0);
    assert.throws(() => checkRetention({ keepLast: 'x' }));
    await assert.rejects(updatePlan(ctx, 'p', { retention: { keepLast: -2 } }), /keepLast/);
    await updatePlan(ctx, 'p', { retention: { keepLast: 1 } });

    const dry = await prunePlan(ctx, 'p', { dryRun: true, now });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.removed.map((d) => d.id).sort(), [runs[0].id, runs[1].id].sort());
    assert.deepEqual(
      dry.kept.map((d) => d.id),
      [runs[2].id],
      'the failed run does not count as the last one',
    );
    assert.match(dry.removed[0].reasons[0], /not selected by keepLast 1/);
    for (const r of runs.slice(0, 3)) assert.ok(existsSync(file(r.id)), 'a dry run deletes nothing');

    const real = await prunePlan(ctx, 'p', { now });
    assert.equal(real.failed, 0);
    assert.deepEqual(real.removed.map((d) => d.id).sort(), [runs[0].id, runs[1].id].sort());
    for (const r of runs.slice(0, 2)) {
      assert.equal(existsSync(file(r.id)), false, 'artifact removed');
      assert.equal(existsSync(`${file(r.id)}.manifest.json`), false, 'manifest removed');
      const row = await ctx.catalog.db.selectFrom('backups').selectAll().where('id', '=', r.id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'pruned');
      assert.ok(row.pruned_at);
      assert.match(row.prune_reason ?? '', /keepLast 1/);
    }
    assert.ok(existsSync(file(runs[2].id)), 'the newest successful backup stays');
    assert.equal((await prunePlan(ctx, 'p', { now })).removed.length, 0, 'a second prune finds nothing more');
  } finally {
    await closeContext(ctx);
  }
});
