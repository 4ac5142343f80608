// Restore drills against the real servers (PostgreSQL, MariaDB, FerretDB, SQLite), through the services:
// each engine's drill restores into a scratch database, finds the row counts recorded at backup time (and
// those are the source's exact counts), runs an assertion, drops the scratch database and leaves the source
// as it was (fingerprint before and after). Then the ways a drill fails, each naming its check and leaving
// no scratch database: a failing assertion, one that tries to write, one over its timeout, an RTO objective
// too short, a row count that differs, a corrupted artifact, a missing chain link; a chain drill that passes;
// and the `drill` alert reaching a real HTTP receiver.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Connection } from '../src/core/connection.ts';
import { parseConnectionUrl } from '../src/core/connection.ts';
import type { Engine, Manifest, RowCounts } from '../src/core/types.ts';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext, type ServiceContext } from '../src/services/context.ts';
import { addTarget } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan, updatePlan } from '../src/services/plans.ts';
import { runBackup, type BackupView } from '../src/services/backups.ts';
import { runDrill, type DrillView } from '../src/services/drills.ts';
import { getBackup } from '../src/catalog/journal.ts';
import { addNotifier } from '../src/services/notifiers.ts';
import { Notifications } from '../src/services/notifications.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { postgres } from '../src/engines/postgres.ts';
import { mysql } from '../src/engines/mysql.ts';
import { mongodb } from '../src/engines/mongodb.ts';
import { sqlite } from '../src/engines/sqlite.ts';
import * as pgx from './support/postgres.ts';
import * as my from './support/mysql.ts';
import * as mongo from './support/mongodb.ts';
import { sqliteFingerprint } from './support/sqlite.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';

interface Fixture {
  engine: Engine;
  fresh(): Promise<Connection>;
  url(conn: Connection): string;
  seed(conn: Connection): Promise<void>;
  fingerprint(conn: Connection): Promise<string>;
  drop(conn: Connection): Promise<void>;
  assertion: string;
  /** How the engine counts rows at backup time (RowCounts.method). */
  countMethod: RowCounts['method'];
  /** Whether the drill's scratch database (SQLite: file) exists. */
  scratchExists(conn: Connection, scratch: string): Promise<boolean>;
}

let dir: string;
let backups: string;
let ctx: ServiceContext;
const made: Array<{ fx: Fixture; conn: Connection }> = [];
let n = 0;

const fixtures: Fixture[] = [
  {
    engine: postgres,
    fresh: async () => pgx.connectionTo(pgx.uniqueName('coffre_drsrc')),
    url: (c) => `${pgx.adminUrl.replace(/\/[^/]*$/, '')}/${encodeURIComponent(c.database)}`,
    seed: (c) => pgx.execSql(c, pgx.seedSql),
    fingerprint: pgx.fingerprint,
    drop: pgx.dropDatabase,
    assertion: 'SELECT count(*) > 3 FROM items',
    countMethod: 'copy-rows',
    scratchExists: (c, s) => pgx.databaseExists(c, s),
  },
  {
    engine: mysql,
    fresh: async () => my.connectionFor(my.hostileName()),
    url: (c) => `mysql://root@${my.HOST}:${my.PORT}/${encodeURIComponent(c.database)}`,
    seed: my.seed,
    fingerprint: my.fingerprint,
    drop: (c) => my.dropDatabase(c.database),
    assertion: 'SELECT COUNT(*) >= 1 FROM `odd ``name`` t`',
    countMethod: 'insert-tuples',
    scratchExists: async (_c, s) => Number((await my.adminSql(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${s}';`))[0][0]) > 0,
  },
  {
    engine: mongodb,
    fresh: async () => mongo.mongoConnection(mongo.uniqueDatabase('coffre_drsrc')),
    url: (c) => `${mongo.mongoBase}/${c.database}`,
    seed: mongo.mongoFixture.seed,
    fingerprint: mongo.fingerprint,
    drop: mongo.mongoFixture.drop,
    assertion: JSON.stringify({ collection: 'kinds', filter: {}, min: 2 }),
    countMethod: 'bson-documents',
    scratchExists: (_c, s) =>
      mongo.withMongo(async (client) => ((await client.db('admin').command({ listDatabases: 1, nameOnly: true })).databases as Array<{ name: string }>).some((d) => d.name === s)),
  },
  {
    engine: sqlite,
    fresh: async () => parseConnectionUrl(`sqlite:${path.join(dir, `src-${++n}.db`)}`),
    url: (c) => `sqlite:${c.path}`,
    seed: async (c) => {
      const db = new DatabaseSync(c.path!);
      db.exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER, note TEXT);
               CREATE TABLE "odd ""t""" (k TEXT PRIMARY KEY) WITHOUT ROWID;
               CREATE TABLE empty_one (x);
               CREATE VIEW big AS SELECT * FROM orders WHERE total > 10;`);
      const ins = db.prepare('INSERT INTO orders (total, note) VALUES (?, ?)');
      for (let i = 0; i < 1500; i++) ins.run(i, `line\n${i} 'q' "dq"`);
      db.prepare(`INSERT INTO "odd ""t""" VALUES (?)`).run('a');
      db.close();
    },
    fingerprint: async (c) => sqliteFingerprint(c.path!),
    drop: async (c) => rm(c.path!, { force: true }),
    assertion: 'SELECT count(*) = 1500 FROM orders',
    countMethod: 'snapshot-count',
    scratchExists: async (_c, s) => existsSync(s),
  },
];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffre-drills-'));
  backups = path.join(dir, 'backups');
  ctx = await openContext({ config: loadConfig({ DATA_DIR: path.join(dir, 'data') }), announce: () => {} });
  await addDestination(ctx, { name: 'disk', type: 'local', path: backups }, { via: 'cli' });
});

after(async () => {
  for (const m of made) await m.fx.drop(m.conn).catch(() => {});
  if (ctx) await closeContext(ctx);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A seeded source, its target and a plan (with options). */
async function setup(fx: Fixture, plan: Record<string, unknown> = {}): Promise<{ conn: Connection; plan: string }> {
  const conn = await fx.fresh();
  made.push({ fx, conn });
  await fx.seed(conn);
  const name = `${fx.engine.name}-${++n}`;
  await addTarget(ctx, { name, url: fx.url(conn) }, { via: 'cli' });
  await addPlan(ctx, { name, target: name, destination: 'disk', compression: 'zstd', ...plan });
  return { conn, plan: name };
}

async function backup(plan: string, kind?: string): Promise<BackupView> {
  const outcome = await runBackup(ctx, { plan, kind });
  assert.equal(outcome.error, undefined, `backup failed: ${outcome.error?.message}`);
  return outcome.view;
}

/** Runs a drill, checking that its scratch database exists once restored; returns the outcome. */
async function drill(fx: Fixture, conn: Connection, plan: string, options: { backup?: string } = {}) {
  let sawScratch = false;
  const outcome = await runDrill(ctx, {
    plan,
    backup: options.backup,
    onRestored: async (scratch) => {
      sawScratch = await fx.scratchExists(conn, scratch);
    },
  });
  const v = outcome.view;
  assert.equal(await fx.scratchExists(conn, v.scratch), false, `the scratch database ${v.scratch} is gone after the drill`);
  return { ...outcome, sawScratch };
}

function check(v: DrillView, name: string, assertion?: string) {
  const c = v.checks.find((x) => x.name === name && (assertion === undefined || x.assertion === assertion));
  assert.ok(c, `drill has a ${name} check: ${JSON.stringify(v.checks)}`);
  return c;
}

for (const fx of fixtures) {
  test(`${fx.engine.name}: a drill restores into a scratch database, finds the recorded row counts, runs the assertion, drops it, leaves the source as it was`, async () => {
    const { conn, plan } = await setup(fx, { drill: { assertions: [fx.assertion], rto: '1h' } });
    const b = await backup(plan);
    // The counts recorded at backup time (journal and manifest) are the source's exact counts.
    const row = await getBackup(ctx.catalog.db, b.id);
    const recorded = JSON.parse(String(row.rowCounts)) as RowCounts;
    const manifest = JSON.parse(await readFile(path.join(backups, `${b.artifact}.manifest.json`), 'utf8')) as Manifest;
    assert.deepEqual(manifest.rowCounts, recorded);
    assert.equal(recorded.method, fx.countMethod);
    const tables = Object.keys(recorded.tables);
    assert.ok(tables.length >= 2, `several tables counted: ${JSON.stringify(recorded)}`);
    assert.ok(
      Object.values(recorded.tables).some((v) => v > 1),
      'some table has rows',
    );
    assert.deepEqual(await fx.engine.drill.countRows(conn, tables), recorded.tables, "the recorded counts are the source's exact counts");

    const before = await fx.fingerprint(conn);
    const { view, error, sawScratch } = await drill(fx, conn, plan);
    assert.equal(error, undefined, `drill failed: ${error?.message} ${JSON.stringify(view.checks)}`);
    assert.equal(view.status, 'success');
    assert.ok(sawScratch, 'the scratch database existed while the drill checked it');
    assert.match(view.scratch, /coffre_drill_[0-9a-f]{8}_[0-9a-f]{12}/);
    assert.deepEqual(
      view.checks.map((c) => `${c.name}:${c.status}`),
      ['restore:passed', 'row-counts:passed', 'assertion:passed', 'rto:passed'],
    );
    assert.equal(view.backupId, b.id);
    assert.ok(view.rtoMs !== null && view.rtoMs > 0);
    assert.equal(view.scratchCreated && view.scratchDropped, true);
    assert.equal(await fx.fingerprint(conn), before, 'the source database is unchanged');
  });
}

describe('failing drills (PostgreSQL)', () => {
  const fx = fixtures[0];
  let conn: Connection;
  let plan: string;
  let b: BackupView;
  let rx: Receiver;
  let notifications: Notifications;

  before(async () => {
    ({ conn, plan } = await setup(fx));
    b = await backup(plan);
    rx = await startReceiver();
    await addNotifier(ctx, { name: 'ops', type: 'webhook', url: `${rx.url}/hook`, default: true });
    notifications = new Notifications(ctx, { log: () => {} }).attach();
  });
  after(async () => {
    notifications?.stop();
    await rx?.close();
  });

  const failedWith = async (name: string, assertion?: string) => {
    const { view, error } = await drill(fx, conn, plan);
    assert.equal(view.status, 'failed');
    assert.ok(error && isCoffreError(error) && error.code === 'COFFRE_E_DRILL_FAILED', `a DRILL_FAILED error: ${error?.message}`);
    const c = check(view, name, assertion);
    assert.equal(c.status, 'failed', JSON.stringify(view.checks));
    assert.match(String(view.message), new RegExp(`Failed: ${name}`));
    return { view, c };
  };

  test('a failing assertion fails the drill naming it, and the drill alert reaches the receiver', async () => {
    const a = 'SELECT count(*) > 1000000 FROM items';
    await updatePlan(ctx, plan, { drill: { assertions: ['SELECT count(*) > 0 FROM items', a] } });
    const { view, c } = await failedWith('assertion', a);
    assert.equal(check(view, 'assertion', 'SELECT count(*) > 0 FROM items').status, 'passed', 'each assertion has its own result');
    assert.match(c.message, /Does not hold: it gave false/);
    const [hit] = await rx.waitFor('/hook', 1);
    const body = JSON.parse(hit.body) as Record<string, unknown>;
    assert.equal(body.event, 'drill');
    assert.equal(body.journalId, view.id);
    assert.equal(body.status, 'failed');
    assert.equal(body.plan, plan);
  });

  test('an assertion runs read-only: a data-modifying query fails and the source keeps its rows', async () => {
    const before = await fx.fingerprint(conn);
    const a = 'WITH gone AS (DELETE FROM items RETURNING 1) SELECT count(*) = 0 FROM gone';
    await updatePlan(ctx, plan, { drill: { assertions: [a] } });
    const { c } = await failedWith('assertion', a);
    assert.match(c.message, /read-only transaction/);
    assert.equal(await fx.fingerprint(conn), before);
  });

  test('assertions that are not one query are refused when the plan is saved', async () => {
    for (const bad of ['SELECT 1; DROP TABLE items', 'DELETE FROM items', '   ']) {
      await assert.rejects(
        updatePlan(ctx, plan, { drill: { assertions: [bad] } }),
        (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_BAD_DRILL_ASSERTION' && err.kind === 'usage',
        bad,
      );
    }
  });

  test('an assertion over its timeout is cancelled and fails the drill', async () => {
    const a = 'SELECT (SELECT 1 FROM pg_sleep(5)) = 1';
    await updatePlan(ctx, plan, { drill: { assertions: [a], assertTimeout: 1 } });
    const { c } = await failedWith('assertion', a);
    assert.match(c.message, /timeout/);
  });

  test('an RTO objective shorter than the drill fails the rto check', async () => {
    // The assertion sleeps 1.2 s, so the drill cannot take less than that: an objective of 1 s is missed.
    await updatePlan(ctx, plan, { drill: { assertions: ['SELECT (SELECT 1 FROM pg_sleep(1.2)) = 1'], assertTimeout: 60, rto: 1 } });
    const { view, c } = await failedWith('rto');
    assert.match(c.message, /over the 1 s objective/);
    assert.equal(check(view, 'assertion').status, 'passed');
    assert.ok(view.rtoMs! >= 1200);
    await updatePlan(ctx, plan, { drill: { assertions: [], rto: null } });
  });

  test("a row count that differs from the backup's fails the row-counts check naming the table", async () => {
    const row = await getBackup(ctx.catalog.db, b.id);
    const counts = JSON.parse(String(row.rowCounts)) as RowCounts;
    const key = Object.keys(counts.tables).find((k) => k.endsWith('.items'))!;
    const tampered = { ...counts, tables: { ...counts.tables, [key]: counts.tables[key] + 7 } };
    await ctx.catalog.db
      .updateTable('backups')
      .set({ row_counts: JSON.stringify(tampered) })
      .where('id', '=', b.id)
      .execute();
    try {
      const { c } = await failedWith('row-counts');
      assert.match(c.message, new RegExp(`${key.replace('.', '\\.')}: ${counts.tables[key]} instead of ${counts.tables[key] + 7}`));
      assert.deepEqual(c.mismatches, [{ table: key, expected: counts.tables[key] + 7, found: counts.tables[key] }]);
    } finally {
      await ctx.catalog.db.updateTable('backups').set({ row_counts: row.rowCounts }).where('id', '=', b.id).execute();
    }
  });

  test('a corrupted artifact fails the restore check; the later checks are skipped', async () => {
    const file = path.join(backups, b.artifact!);
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    damaged[damaged.length >> 1] ^= 0xff;
    await writeFile(file, damaged);
    try {
      const { view, c } = await failedWith('restore');
      assert.match(c.message, /corrupt|sha256/i);
      assert.deepEqual(
        view.checks.map((x) => `${x.name}:${x.status}`),
        ['restore:failed', 'row-counts:skipped', 'rto:skipped'],
      );
    } finally {
      await writeFile(file, original);
    }
    const ok = await drill(fx, conn, plan);
    assert.equal(ok.view.status, 'success', 'the repaired artifact drills again');
  });
});

test('postgres: an incremental drills through its chain; a missing link fails the restore check', async () => {
  const fx = fixtures[0];
  const { conn, plan } = await setup(fx, { kind: 'incremental' });
  const full = await backup(plan, 'full');
  await pgx.execSql(conn, "INSERT INTO items (label, qty) VALUES ('after the full', 3); DELETE FROM audit WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT 1);");
  const inc = await backup(plan, 'incremental');
  assert.equal(inc.parentId, full.id);
  const { view, error } = await drill(fx, conn, plan);
  assert.equal(error, undefined, `chain drill failed: ${error?.message} ${JSON.stringify(view.checks)}`);
  assert.equal(view.backupId, inc.id, 'the latest backup, the incremental, is drilled');
  assert.match(check(view, 'restore').message, /incremental, through its chain/);
  assert.equal(check(view, 'row-counts').status, 'passed', "the incremental's counts match the rebuilt chain");

  await rm(path.join(backups, full.artifact!));
  const broken = await drill(fx, conn, plan);
  assert.equal(broken.view.status, 'failed');
  assert.equal(check(broken.view, 'restore').status, 'failed');
  assert.match(check(broken.view, 'restore').message, new RegExp(full.id));
});

test("API: GET /api/drills (viewer and up, 401 without a token), the plan's drill settings, /metrics and /api/status", async () => {
  const { inProcess } = await import('./support/api.ts');
  const { createToken } = await import('../src/services/tokens.ts');
  const ADMIN = 'admin-token-0123456789abcdef';
  const s = await inProcess({ API_TOKEN: ADMIN, MAX_CONCURRENT_PER_TARGET: '1' });
  try {
    const viewer = (await createToken(s.ctx, 'watcher', 'viewer')).token;
    const src = path.join(s.dir, 'src.db');
    const db = new DatabaseSync(src);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);');
    db.close();
    assert.equal((await s.call('POST', '/api/sgbd-targets', { token: ADMIN, body: { name: 'lite', url: `sqlite:${src}` } })).status, 201);
    assert.equal((await s.call('POST', '/api/destinations', { token: ADMIN, body: { name: 'disk', type: 'local', path: path.join(s.dir, 'data', 'backups') } })).status, 201);
    const made = await s.call('POST', '/api/plans', {
      token: ADMIN,
      body: { name: 'p', targetId: 'lite', destinationId: 'disk', drill: { assertions: ['SELECT count(*) = 2 FROM t'], rto: '5m', cron: '0 4 * * *' } },
    });
    assert.equal(made.status, 201, made.text);
    assert.deepEqual(
      { ...made.json().drill, nextDrills: undefined },
      { cron: '0 4 * * *', rtoSeconds: 300, target: null, assertions: ['SELECT count(*) = 2 FROM t'], assertTimeoutSeconds: 60, nextDrills: undefined },
    );
    const bad = await s.call('PATCH', '/api/plans/p', { token: ADMIN, body: { drill: { assertions: ['SELECT 1; DELETE FROM t'] } } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'COFFRE_E_BAD_DRILL_ASSERTION');
    assert.equal((await runBackup(s.ctx, { plan: 'p' })).error, undefined);
    const outcome = await runDrill(s.ctx, { plan: 'p', trigger: 'api' });
    assert.equal(outcome.view.status, 'success', JSON.stringify(outcome.view.checks));

    assert.equal((await s.call('GET', '/api/drills')).status, 401);
    const page = await s.call('GET', '/api/drills?planId=p', { token: viewer });
    assert.equal(page.status, 200, page.text);
    const items = page.json().items;
    assert.equal(items.length, 1);
    assert.equal(items[0].id, outcome.view.id);
    assert.deepEqual(
      items[0].checks.map((c: { name: string }) => c.name),
      ['restore', 'row-counts', 'assertion', 'rto'],
    );
    assert.equal((await s.call('GET', `/api/drills/${outcome.view.id.slice(0, 12)}`, { token: viewer })).json().status, 'success');
    assert.equal((await s.call('GET', '/api/drills/ffffffffffff', { token: viewer })).status, 404);

    const metrics = (await s.call('GET', '/metrics', { token: ADMIN })).text;
    assert.match(metrics, /coffre_drill_runs_total\{plan="p",status="success"\} 1/);
    assert.match(metrics, new RegExp(`coffre_drill_rto_seconds\\{plan="p"\\} ${(outcome.view.rtoMs! / 1000).toString().replace('.', '\\.')}`));
    assert.match(metrics, /coffre_drill_last_success_timestamp_seconds\{plan="p"\} \d+/);
    const status = (await s.call('GET', '/api/status', { token: viewer })).json();
    const row = status.plans.find((p: { plan: string }) => p.plan === 'p');
    assert.equal(row.lastDrillStatus, 'success');
    assert.equal(row.lastDrillRtoMs, outcome.view.rtoMs);
  } finally {
    await s.close();
  }
});
