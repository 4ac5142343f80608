// Exactly one message per event across a cluster: two `coffre serve --no-api` workers on one PostgreSQL catalog
// (a database made for this test and dropped after), a plan that fails at every tick (every 2 seconds, whichever
// worker takes it) and has a 2-second RPO that both workers check every 0.3 s. The first failed run is announced
// once, its later failures and the breach's repeated checks are not re-announced, and the breach is announced
// once: the claims are made in the catalog, not in either process.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { expectCode } from './support/cli.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';
import { startCluster, type Cluster } from './support/cluster.ts';

let cluster: Cluster;
let rx: Receiver;

before(async () => {
  rx = await startReceiver();
  cluster = await startCluster('notify', { NOTIFY_CHECK_SECONDS: '0.3', NOTIFY_RETRY_BASE_MS: '50', ALERT_URL: `${rx.url}/alerts` });
});

after(async () => {
  await cluster?.close();
  await rx?.close();
});

test('two workers on one PostgreSQL catalog: a failing plan and its RPO breach are each announced exactly once', { timeout: 170000 }, async () => {
  const { ws, env, client, until } = cluster;
  for (const args of [
    ['target', 'add', 'gone', '--url', `sqlite:${path.join(ws.dir, 'missing.db')}`],
    ['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')],
    ['notify', 'add', 'oncall', '--type', 'webhook', '--url-env', 'ALERT_URL'],
  ])
    expectCode(await ws.run(args, env), 0, args.join(' '));
  await cluster.startWorkers(2);
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
