// Cluster mode for real: two `coffre serve --no-api` processes on one PostgreSQL catalog (a database made
// for this test and dropped after). A plan firing every 2 seconds runs exactly once per tick over 20 ticks,
// whichever worker takes it. Then one worker is killed with SIGKILL in the middle of a backup: after its
// lease (CLUSTER_LEASE_SECONDS=10) the other worker retries the run, which completes; the dead attempt is
// journaled `interrupted`, there is one `success` row for the tick, and no partial file is left.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { expectCode } from './support/cli.ts';
import { filesUnder } from './support/files.ts';
import { startCluster, type Cluster } from './support/cluster.ts';

const TICKS = 20;
let cluster: Cluster;

before(async () => {
  cluster = await startCluster('cluster', { MAX_CONCURRENT_JOBS: '2', COFFRE_DEBUG: process.env.COFFRE_CLUSTER_DEBUG ?? '' });
});

after(() => cluster?.close());

test('two workers: every tick runs exactly once; a worker killed mid-backup has its run retried by the other', { timeout: 170000 }, async () => {
  const { ws, env, client, workers, until } = cluster;
  const small = path.join(ws.dir, 'small.db');
  const s = new DatabaseSync(small);
  s.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('tiny')");
  s.close();
  const big = path.join(ws.dir, 'big.db');
  const b = new DatabaseSync(big);
  b.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
  const insert = b.prepare('INSERT INTO blobs (data) VALUES (?)');
  for (let i = 0; i < 48 * 4; i++) insert.run(randomBytes(256 * 1024));
  b.close();
  const backups = path.join(ws.dir, 'backups');
  for (const args of [
    ['target', 'add', 'small', '--url', `sqlite:${small}`],
    ['target', 'add', 'big', '--url', `sqlite:${big}`],
    ['destination', 'add', 'disk', '--type', 'local', '--path', backups],
  ])
    expectCode(await ws.run(args, env), 0, args.join(' '));

  await cluster.startWorkers(2);

  // Part 1: a plan made after the workers started (picked up by their reload), firing every 2 s.
  expectCode(await ws.run(['plan', 'add', 'fast', '--target', 'small', '--destination', 'disk', '--compression', 'none', '--cron', '*/2 * * * * *'], env), 0, 'plan add fast');
  const fastId = (await client.query(`SELECT id FROM plans WHERE name = 'fast'`)).rows[0].id as string;
  const ticks = await until(
    `${TICKS} ticks`,
    async () => {
      const r = await client.query(`SELECT tick_at FROM schedule_ticks WHERE plan_id = $1 ORDER BY tick_at`, [fastId]);
      return r.rows.length >= TICKS + 1 && r.rows.map((x) => x.tick_at as string);
    },
    TICKS * 2000 + 30000,
  );
  await client.query(`UPDATE plans SET enabled = 0 WHERE id = $1`, [fastId]);
  const window = ticks.slice(0, TICKS);
  await until('the window runs finished', async () => (await client.query(`SELECT 1 FROM backups WHERE plan_id = $1 AND status = 'running'`, [fastId])).rows.length === 0, 30000);
  // The ticks are consecutive 2-second marks: none was lost.
  for (let i = 1; i < window.length; i++) assert.equal(Date.parse(window[i]) - Date.parse(window[i - 1]), 2000, `tick ${i} follows tick ${i - 1}`);
  const rows = (await client.query(`SELECT scheduled_for, status, pid FROM backups WHERE plan_id = $1 AND scheduled_for = ANY($2)`, [fastId, window])).rows;
  const perTick = new Map<string, string[]>();
  for (const r of rows) perTick.set(r.scheduled_for, [...(perTick.get(r.scheduled_for) ?? []), r.status]);
  for (const t of window) {
    const statuses = perTick.get(t) ?? [];
    assert.equal(statuses.length, 1, `tick ${t}: exactly one journal row (got ${statuses.join(', ') || 'none'})`);
    assert.ok(statuses[0] === 'success' || statuses[0] === 'skipped', `tick ${t}: ${statuses[0]}`);
  }
  assert.ok(rows.filter((r) => r.status === 'success').length >= TICKS / 2, 'most ticks ran (a tick may be skipped only while the previous run still goes)');

  // Part 2: a slow backup; kill -9 the worker running it.
  expectCode(await ws.run(['plan', 'add', 'slow', '--target', 'big', '--destination', 'disk', '--compression', 'gzip', '--cron', '*/3 * * * * *'], env), 0, 'plan add slow');
  const slowId = (await client.query(`SELECT id FROM plans WHERE name = 'slow'`)).rows[0].id as string;
  const victim = await until(
    'a slow run writing its artifact',
    async () => {
      const r = await client.query(`SELECT id, pid, scheduled_for, job_id, artifact_key FROM backups WHERE plan_id = $1 AND status = 'running' AND job_id IS NOT NULL`, [slowId]);
      if (!r.rows.length) return undefined;
      const partial = (await filesUnder(path.join(backups, 'slow'))).some((f) => f.endsWith('.partial'));
      return partial && r.rows[0];
    },
    30000,
  );
  await client.query(`UPDATE plans SET enabled = 0 WHERE id = $1`, [slowId]); // no further ticks
  const dying = await cluster.killWorker(victim.pid);

  const done = await until(
    'the retried run to succeed on the other worker',
    async () => {
      const r = await client.query(`SELECT id, pid, status, artifact_key FROM backups WHERE plan_id = $1 AND scheduled_for = $2 AND status = 'success'`, [
        slowId,
        victim.scheduled_for,
      ]);
      return r.rows.length > 0 && r.rows;
    },
    90000,
  );
  await until('no slow run left running', async () => (await client.query(`SELECT 1 FROM backups WHERE plan_id = $1 AND status = 'running'`, [slowId])).rows.length === 0, 30000);
  assert.equal(done.length, 1, 'one success row for the tick');
  assert.notEqual(done[0].pid, victim.pid, 'completed by the other worker');
  const dead = (await client.query(`SELECT status, message FROM backups WHERE id = $1`, [victim.id])).rows[0];
  assert.equal(dead.status, 'interrupted');
  assert.match(dead.message, /stopped answering \(lease expired\)|stopped before it finished/);
  assert.equal(existsSync(path.join(backups, victim.artifact_key)), false, "the dead attempt's artifact is gone");
  assert.ok(existsSync(path.join(backups, done[0].artifact_key)), "the retried run's artifact is there");
  assert.deepEqual(
    (await filesUnder(backups)).filter((f) => f.endsWith('.partial')),
    [],
    'no partial file left',
  );
  const dup = await client.query(
    `SELECT scheduled_for, count(*) AS n FROM backups WHERE status = 'success' AND scheduled_for IS NOT NULL GROUP BY plan_id, scheduled_for HAVING count(*) > 1`,
  );
  assert.deepEqual(dup.rows, [], 'no duplicate success rows anywhere');

  // The survivor stops cleanly on SIGTERM.
  const survivor = workers.find((w) => w !== dying)!;
  const stopped = new Promise<number | null>((r) => survivor.once('exit', (code) => r(code)));
  survivor.kill('SIGTERM');
  assert.equal(await stopped, 0);
});
