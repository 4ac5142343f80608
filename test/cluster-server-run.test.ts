// Cluster mode for real, for a server target (issue 15): two `coffre serve --no-api` workers on one
// PostgreSQL catalog, a plan on a PostgreSQL server target whose filter picks this test's two databases. The
// worker running the server run is killed with SIGKILL while it dumps the first database: after the lease
// (CLUSTER_LEASE_SECONDS=10) the other worker retries the tick, and the dead attempt's group and its running
// row end `interrupted` (the group stayed `running` for ever before; from another host, its row too, and every
// later tick of the plan was skipped as busy), then it runs the tick anew to a `success` group with one success
// row per database. Both workers run on this host, so the survivor's recovery sweep (a pid gone) or the
// retried job (test/server-run-leases.test.ts covers the lease alone) finishes them, whichever comes first.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expectCode } from './support/cli.ts';
import { filesUnder } from './support/files.ts';
import { startCluster, type Cluster } from './support/cluster.ts';
import { adminUrl, connectionTo, execSql } from './support/postgres.ts';

let cluster: Cluster;
const prefix = `coffre_csr_${randomBytes(3).toString('hex')}_`;
const names = [`${prefix}a`, `${prefix}b`];
const admin = connectionTo('postgres');

before(async () => {
  cluster = await startCluster('cluster_srv', { MAX_CONCURRENT_JOBS: '2' });
  // The first database is big enough that its dump is still going when the worker is killed.
  await execSql(admin, `CREATE DATABASE "${names[0]}"`);
  await execSql(
    connectionTo(names[0]),
    `CREATE TABLE t (id int primary key, pad text); INSERT INTO t SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 1500000) g;`,
  );
  await execSql(admin, `CREATE DATABASE "${names[1]}"`);
  await execSql(connectionTo(names[1]), `CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, 10);`);
});

after(async () => {
  await cluster?.close();
  for (const n of names) await execSql(admin, `DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`).catch(() => {});
});

test('a worker killed in the middle of a server run: the other finishes the dead group and its row interrupted, then runs the tick to success', { timeout: 170000 }, async () => {
  const { ws, env, client, until } = cluster;
  const backups = path.join(ws.dir, 'backups');
  const base = adminUrl.replace(/\/[^/]*$/, '/');
  for (const args of [
    ['target', 'add', 'srv', '--url', base, '--include', `${prefix}*`],
    ['destination', 'add', 'disk', '--type', 'local', '--path', backups],
  ])
    expectCode(await ws.run(args, env), 0, args.join(' '));
  await cluster.startWorkers(2);
  expectCode(await ws.run(['plan', 'add', 'srvplan', '--target', 'srv', '--destination', 'disk', '--compression', 'gzip', '--cron', '*/4 * * * * *'], env), 0, 'plan add');
  const planId = (await client.query(`SELECT id FROM plans WHERE name = 'srvplan'`)).rows[0].id as string;

  // A group that a worker took for its job, and its first database's row writing its artifact.
  const victim = await until(
    "a server run's first database being written",
    async () => {
      const r = await client.query(
        `SELECT g.id, g.pid, g.job_id, b.id AS row_id FROM server_runs g JOIN backups b ON b.run_id = g.id
          WHERE g.plan_id = $1 AND g.status = 'running' AND g.job_id IS NOT NULL AND b.status = 'running' AND b.database = $2`,
        [planId, names[0]],
      );
      if (!r.rows.length) return undefined;
      return (await filesUnder(backups)).some((f) => f.endsWith('.partial')) && r.rows[0];
    },
    60000,
  );
  await client.query(`UPDATE plans SET enabled = 0 WHERE id = $1`, [planId]); // no further ticks
  await cluster.killWorker(victim.pid);

  // The other worker retries the job: the dead group and its row are finished, and a new group succeeds.
  const retried = await until(
    'the retried server run to succeed on the other worker',
    async () => {
      const r = await client.query(`SELECT id, pid, status FROM server_runs WHERE plan_id = $1 AND job_id = $2 AND status = 'success'`, [planId, victim.job_id]);
      return r.rows.length > 0 && r.rows[0];
    },
    120000,
  );
  assert.notEqual(retried.pid, victim.pid, 'completed by the other worker');
  const dead = (await client.query(`SELECT status, message FROM server_runs WHERE id = $1`, [victim.id])).rows[0];
  assert.equal(dead.status, 'interrupted');
  // Both workers run on this host, so the survivor's recovery sweep may see the pid gone before the lease ends.
  assert.match(dead.message, /The (worker|process) running this server run \(pid \d+ on .*\) (stopped answering \(lease expired\)|stopped before it finished)/);
  const deadRow = (await client.query(`SELECT status, message FROM backups WHERE id = $1`, [victim.row_id])).rows[0];
  assert.equal(deadRow.status, 'interrupted');
  assert.match(deadRow.message, /stopped answering \(lease expired\)|stopped before it finished/);
  const rows = (await client.query(`SELECT database, status FROM backups WHERE run_id = $1 ORDER BY database`, [retried.id])).rows;
  assert.deepEqual(
    rows.filter((r) => r.database !== '(globals)').map((r) => [r.database, r.status]),
    names.map((n) => [n, 'success']),
  );
  assert.deepEqual(
    (
      await client.query(`SELECT id FROM server_runs WHERE plan_id = $1 AND status = 'running' UNION ALL SELECT id FROM backups WHERE plan_id = $1 AND status = 'running'`, [
        planId,
      ])
    ).rows,
    [],
    'nothing of the plan is left running',
  );
  assert.deepEqual(
    (await filesUnder(backups)).filter((f) => f.endsWith('.partial')),
    [],
    'no partial file left',
  );
});
