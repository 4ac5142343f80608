// Exactly one message per event across a cluster: two `coffre serve --no-api` workers on one PostgreSQL catalog
// (a database made for this test and dropped after), a plan that fails at every tick (every 2 seconds, whichever
// worker takes it) and has a 2-second RPO that both workers check every 0.3 s. The first failed run is announced
// once, its later failures and the breach's repeated checks are not re-announced, and the breach is announced
// once: the claims are made in the catalog, not in either process.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';

const PG = 'postgres://root@127.0.0.1:5432';
const dbName = `coffre_notify_${randomBytes(4).toString('hex')}`;
let ws: Workspace;
let rx: Receiver;
let env: NodeJS.ProcessEnv;
let client: pg.Client;
const workers: ChildProcess[] = [];
const logs = new Map<ChildProcess, string>();

async function admin(q: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${PG}/postgres` });
  await c.connect();
  try {
    await c.query(q);
  } finally {
    await c.end();
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, limitMs: number): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}\n${[...logs.values()].join('\n---\n').slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  await admin(`CREATE DATABASE ${dbName}`);
  ws = await workspace('coffre-notify-cluster-');
  rx = await startReceiver();
  env = {
    DATABASE_URL: `${PG}/${dbName}`,
    ENCRYPTION_SECRET: 'notify-cluster-secret-0123456789',
    CLUSTER_LEASE_SECONDS: '10',
    SCHEDULER_RELOAD_SECONDS: '1',
    NOTIFY_CHECK_SECONDS: '0.3',
    NOTIFY_RETRY_BASE_MS: '50',
    ALERT_URL: `${rx.url}/alerts`,
  };
  client = new pg.Client({ connectionString: `${PG}/${dbName}` });
  await client.connect();
});

after(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await client?.end().catch(() => {});
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
  await rx?.close();
  await ws?.cleanup();
});

test('two workers on one PostgreSQL catalog: a failing plan and its RPO breach are each announced exactly once', { timeout: 170000 }, async () => {
  for (const args of [
    ['target', 'add', 'gone', '--url', `sqlite:${path.join(ws.dir, 'missing.db')}`],
    ['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')],
    ['notify', 'add', 'oncall', '--type', 'webhook', '--url-env', 'ALERT_URL'],
  ])
    expectCode(await ws.run(args, env), 0, args.join(' '));
  for (let i = 0; i < 2; i++) {
    const child = ws.start(['serve', '--no-api'], env);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => logs.set(child, (out += c)));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => logs.set(child, (out += c)));
    workers.push(child);
  }
  await until('both workers up', async () => workers.every((w) => /worker running without API \(cluster mode/.test(logs.get(w) ?? '')), 60000);
  expectCode(
    await ws.run(['plan', 'add', 'doomed', '--target', 'gone', '--destination', 'disk', '--cron', '*/2 * * * * *', '--notify', 'oncall', '--rpo', '2'], env),
    0,
    'plan add',
  );

  // Wait for four failed runs (about 8 s: many RPO checks by each worker), and both announcements.
  const failed = await until(
    'four failed runs',
    async () => {
      const r = await client.query(`SELECT id FROM backups WHERE plan_name = 'doomed' AND status = 'failed' ORDER BY started_at`);
      return r.rows.length >= 4 && (r.rows.map((x) => x.id) as string[]);
    },
    90000,
  );
  const events = () => rx.at('/alerts').map((r) => JSON.parse(r.body) as { event: string; journalId: string | null });
  await until('the failure and rpo messages', async () => events().some((e) => e.event === 'failure') && events().some((e) => e.event === 'rpo'), 30000);
  // Both workers keep checking every 0.3 s and running ticks meanwhile; wait for two more failed runs before counting.
  await until(
    'two more failed runs',
    async () => Number((await client.query(`SELECT count(*) AS n FROM backups WHERE plan_name = 'doomed' AND status = 'failed'`)).rows[0].n) >= failed.length + 2,
    30000,
  );
  const seen = events();
  assert.equal(seen.filter((e) => e.event === 'failure').length, 1, JSON.stringify(seen));
  assert.equal(seen.filter((e) => e.event === 'failure')[0].journalId, failed[0], 'the first failed run is the one announced');
  assert.equal(seen.filter((e) => e.event === 'rpo').length, 1, JSON.stringify(seen));
  assert.equal(seen.length, 2, JSON.stringify(seen));
  const journal = await client.query(`SELECT e.event, d.status, d.attempts FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id ORDER BY d.created_at`);
  assert.deepEqual(journal.rows.map((r) => [r.event, r.status]).sort(), [
    ['failure', 'sent'],
    ['rpo', 'sent'],
  ]);
});
