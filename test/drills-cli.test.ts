// Restore drills through the real CLI and `coffre serve`: exit codes (0 passed, 1 failed), `coffre journal
// --drills`, `coffre status` with the last drill; a `coffre drill` killed with SIGKILL while its scratch
// database exists (once during an assertion, once while its restore is writing), whose next start drops that
// database (by the journal row) and marks the drill `interrupted`; and scheduled drills (--drill-cron) in a two-worker cluster on a PostgreSQL catalog, each
// tick drilled exactly once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { until } from './support/wait.ts';
import * as pgx from './support/postgres.ts';

let ws: Workspace;
const sources: string[] = [];
const catalogs: string[] = [];
const workers: ChildProcess[] = [];

async function admin<T extends pg.QueryResultRow>(sql: string, values: unknown[] = [], database = 'postgres'): Promise<T[]> {
  const c = new pg.Client({ connectionString: `postgres://root@127.0.0.1:5432/${database}` });
  await c.connect();
  try {
    return (await c.query<T>(sql, values)).rows;
  } finally {
    await c.end();
  }
}

before(async () => {
  ws = await workspace('coffre-drills-cli-');
});

after(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  for (const db of [...sources, ...catalogs]) await admin(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`).catch(() => {});
  await ws?.cleanup();
});

test('coffre drill: exit 0 when it passes, 1 when a check fails; journal --drills and status show it', async () => {
  const src = pgx.uniqueName('coffre_drcli');
  sources.push(src);
  await pgx.execSql(pgx.connectionTo(src), pgx.smallSeedSql);
  expectCode(await ws.run(['target', 'add', 'pgsrc', '--url', `postgres://root@127.0.0.1:5432/${src}`]), 0, 'target add');
  expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local']), 0, 'destination add');
  expectCode(
    await ws.run(['plan', 'add', 'pgplan', '--target', 'pgsrc', '--destination', 'disk', '--drill-assert', 'SELECT count(*) = 2 FROM notes', '--rto', '10m']),
    0,
    'plan add',
  );
  expectCode(await ws.run(['backup', 'pgplan']), 0, 'backup');

  const ok = await ws.run(['drill', 'pgplan', '--json']);
  expectCode(ok, 0, 'passing drill');
  const passed = ok.json<{ id: string; status: string; checks: Array<{ name: string; status: string }>; rtoMs: number }>();
  assert.equal(passed.status, 'success');
  assert.deepEqual(
    passed.checks.map((c) => c.name),
    ['restore', 'row-counts', 'assertion', 'rto'],
  );

  expectCode(await ws.run(['plan', 'edit', 'pgplan', '--drill-assert', 'SELECT count(*) = 3 FROM notes']), 0, 'plan edit');
  const bad = await ws.run(['drill', 'pgplan']);
  expectCode(bad, 1, 'failing drill');
  assert.match(bad.stderr, /FAIL assertion "SELECT count\(\*\) = 3 FROM notes": Does not hold/);
  assert.match(bad.stderr, /error: Drill \S+ of plan "pgplan" did not pass\. Failed: assertion/);
  assert.match(bad.stdout, /Drill \S+ FAILED: .*scratch dropped/);

  expectCode(await ws.run(['plan', 'edit', 'pgplan', '--drill-assert', 'DROP TABLE notes']), 2, 'a statement that is not a query is refused');
  expectCode(await ws.run(['drill', 'pgplan', '--backup', 'ffffffff']), 2, 'unknown backup');

  const journal = await ws.run(['journal', '--drills', '--json']);
  expectCode(journal, 0, 'journal --drills');
  const rows = journal.json<Array<{ id: string; status: string }>>();
  assert.deepEqual(
    rows.map((r) => r.status),
    ['failed', 'success'],
  );
  assert.equal(rows[1].id, passed.id);
  const table = await ws.run(['journal', '--drills']);
  assert.match(table.stdout, /restore:passed row-counts:passed assertion:failed rto:passed/);

  const status = await ws.run(['status', '--json']);
  expectCode(status, 1, 'status is not ok while the latest drill failed');
  const plan = status.json<{ plans: Array<{ plan: string; lastDrillStatus: string; lastDrillSuccessRtoMs: number }> }>().plans.find((p) => p.plan === 'pgplan')!;
  assert.equal(plan.lastDrillStatus, 'failed');
  assert.equal(plan.lastDrillSuccessRtoMs, passed.rtoMs);
  expectCode(await ws.run(['plan', 'edit', 'pgplan', '--no-drill-asserts']), 0, 'no asserts');
});

test('a drill killed with SIGKILL mid-way: the next start drops its scratch database and marks it interrupted', { timeout: 120000 }, async () => {
  // The assertion sleeps, so the drill is certainly mid-way (scratch database restored, a query on it) when killed.
  expectCode(await ws.run(['plan', 'edit', 'pgplan', '--drill-assert', 'SELECT (SELECT 1 FROM pg_sleep(90)) = 1', '--drill-assert-timeout', '120s']), 0, 'plan edit');
  const child = ws.start(['drill', 'pgplan']);
  workers.push(child);
  const scratch = await until(
    async () =>
      (await admin<{ datname: string }>("SELECT datname FROM pg_stat_activity WHERE datname LIKE 'coffre_drill_%' AND query LIKE '%pg_sleep(90)%' AND state = 'active'"))[0]
        ?.datname,
    "the drill's assertion running on its scratch database",
    { limitMs: 60000, everyMs: 100 },
  );
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.ok(await pgx.databaseExists(pgx.connectionTo('postgres'), scratch), 'the killed drill left its scratch database');

  const journal = await ws.run(['journal', '--drills', '--json']); // opening the catalog runs the recovery
  expectCode(journal, 0, 'journal');
  const dead = journal.json<Array<{ status: string; scratch: string; scratchDropped: boolean; message: string }>>()[0];
  assert.equal(dead.scratch, scratch);
  assert.equal(dead.status, 'interrupted');
  assert.equal(dead.scratchDropped, true);
  assert.match(dead.message, new RegExp(`stopped before it finished; its scratch database ${scratch} was dropped`));
  assert.equal(await pgx.databaseExists(pgx.connectionTo('postgres'), scratch), false, 'the recovery dropped the scratch database');
  expectCode(await ws.run(['plan', 'edit', 'pgplan', '--no-drill-asserts']), 0, 'no asserts');
});

test('a drill killed with SIGKILL while its restore is writing: the next start drops the scratch database, the source untouched', { timeout: 120000 }, async () => {
  // A CHECK constraint whose function sleeps only inside a drill's scratch database: restoring the first row
  // of orders holds the restore's COPY there, so the drill is certainly mid-restore when it is killed.
  const src = pgx.uniqueName('coffre_drslow');
  sources.push(src);
  await pgx.execSql(
    pgx.connectionTo(src),
    `CREATE FUNCTION slow_in_drills(i int) RETURNS boolean LANGUAGE sql AS $$ SELECT CASE WHEN current_database() LIKE 'coffre_drill_%' AND i = 1 THEN pg_sleep(90) IS NOT NULL ELSE true END $$;
     CREATE TABLE orders (id int PRIMARY KEY CHECK (slow_in_drills(id)), total int);
     INSERT INTO orders SELECT g, g FROM generate_series(1, 500) g;`,
  );
  const before = await pgx.fingerprint(pgx.connectionTo(src));
  expectCode(await ws.run(['target', 'add', 'pgslow', '--url', `postgres://root@127.0.0.1:5432/${src}`]), 0, 'target add');
  expectCode(await ws.run(['destination', 'add', 'slowdisk', '--type', 'local', '--path', path.join(ws.dir, 'slow')]), 0, 'destination add');
  expectCode(await ws.run(['plan', 'add', 'pgslow', '--target', 'pgslow', '--destination', 'slowdisk']), 0, 'plan add');
  expectCode(await ws.run(['backup', 'pgslow']), 0, 'backup');
  const child = ws.start(['drill', 'pgslow']);
  workers.push(child);
  const scratch = await until(
    async () =>
      (
        await admin<{ datname: string }>(
          "SELECT datname FROM pg_stat_activity WHERE datname LIKE 'coffre_drill_%' AND query ILIKE 'COPY%orders%' AND state = 'active' AND wait_event = 'PgSleep'",
        )
      )[0]?.datname,
    "the drill's restore writing into its scratch database",
    { limitMs: 60000, everyMs: 100 },
  );
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.ok(await pgx.databaseExists(pgx.connectionTo('postgres'), scratch), 'the killed drill left its scratch database');

  const journal = await ws.run(['journal', '--drills', '--plan', 'pgslow', '--json']); // opening the catalog runs the recovery
  expectCode(journal, 0, 'journal');
  const dead = journal.json<Array<{ status: string; scratch: string; scratchDropped: boolean; checks: Array<{ name: string }> }>>()[0];
  assert.equal(dead.scratch, scratch);
  assert.equal(dead.status, 'interrupted');
  assert.equal(dead.scratchDropped, true);
  assert.equal(await pgx.databaseExists(pgx.connectionTo('postgres'), scratch), false, 'the recovery dropped the scratch database, its restore still running');
  assert.equal(await pgx.fingerprint(pgx.connectionTo(src)), before, 'the source database is as it was');
});

test('scheduled drills in a two-worker cluster: every tick is drilled exactly once', { timeout: 150000 }, async () => {
  const catalog = `coffre_drcluster_${randomBytes(4).toString('hex')}`;
  catalogs.push(catalog);
  await admin(`CREATE DATABASE ${catalog}`);
  const cws = await workspace('coffre-drills-cluster-');
  try {
    const env = {
      DATABASE_URL: `postgres://root@127.0.0.1:5432/${catalog}`,
      ENCRYPTION_SECRET: 'drill-cluster-secret-0123456789',
      SCHEDULER_RELOAD_SECONDS: '1',
      CLUSTER_LEASE_SECONDS: '10',
    };
    const file = path.join(cws.dir, 'shop.db');
    const db = new DatabaseSync(file);
    db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER); INSERT INTO orders (total) VALUES (1), (2), (3);');
    db.close();
    expectCode(await cws.run(['target', 'add', 'shop', '--url', `sqlite:${file}`], env), 0, 'target add');
    expectCode(await cws.run(['destination', 'add', 'disk', '--type', 'local'], env), 0, 'destination add');
    expectCode(await cws.run(['plan', 'add', 'shop', '--target', 'shop', '--destination', 'disk', '--drill-assert', 'SELECT count(*) = 3 FROM orders'], env), 0, 'plan add');
    expectCode(await cws.run(['backup', 'shop'], env), 0, 'backup');
    const logs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const w = cws.start(['serve', '--no-api'], env);
      workers.push(w);
      w.stdout!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
      w.stderr!.setEncoding('utf8').on('data', (c: string) => logs.push(c));
    }
    await until(() => logs.join('').match(/scheduler: on/g)?.length === 2, 'both workers started', { limitMs: 60000, everyMs: 100 });
    expectCode(await cws.run(['plan', 'edit', 'shop', '--drill-cron', '*/2 * * * * *'], env), 0, 'drill cron');
    const rows = await until(
      async () => {
        const r = await admin<{ scheduled_for: string; status: string; host: string; pid: number }>(
          "SELECT scheduled_for, status, host, pid FROM drills WHERE trigger = 'schedule' AND status <> 'running'",
          [],
          catalog,
        );
        return r.length >= 4 && r;
      },
      'four scheduled drills',
      { limitMs: 90000, everyMs: 250 },
    );
    expectCode(await cws.run(['plan', 'edit', 'shop', '--no-drill-cron'], env), 0, 'no drill cron');
    const ticks = rows.map((r) => r.scheduled_for);
    assert.equal(new Set(ticks).size, ticks.length, `one drill per tick: ${ticks.join(', ')}`);
    for (const t of ticks) assert.equal(Date.parse(t) % 2000, 0, "drills run on the cron's ticks");
    assert.ok(
      rows.every((r) => r.status === 'success'),
      JSON.stringify(rows),
    );
    const claims = await admin<{ n: string }>("SELECT count(*) AS n FROM schedule_ticks WHERE plan_id LIKE 'drill:%'", [], catalog);
    assert.ok(Number(claims[0].n) >= ticks.length);
    for (const w of workers.splice(-2)) {
      const done = new Promise((r) => w.once('exit', r));
      w.kill('SIGTERM');
      await done;
    }
  } finally {
    await cws.cleanup();
  }
});
