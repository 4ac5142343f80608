// Cluster mode for real: `coffre serve --no-api` workers sharing one PostgreSQL catalog, a database made for
// the test (and dropped by close()). Waits fail early, with the workers' output, when a worker dies.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { workspace, type Workspace } from './cli.ts';
import { adminUrl, connectionTo, createDatabase, dropDatabase } from './postgres.ts';
import { until } from './wait.ts';

export interface Cluster {
  ws: Workspace;
  /** The workers' environment (DATABASE_URL of the catalog, short lease and reload, plus the test's own). */
  env: NodeJS.ProcessEnv;
  /** A session on the catalog database, for the test's queries. */
  client: pg.Client;
  workers: ChildProcess[];
  /** Starts `count` workers and waits until each says it runs in cluster mode. */
  startWorkers(count: number): Promise<ChildProcess[]>;
  /** until() that also fails as soon as a worker exits on its own, and names the workers' output on failure. */
  until<T>(what: string, fn: () => Promise<T | undefined | false>, limitMs: number): Promise<T>;
  /** Kills the worker whose pid is `pid` with SIGKILL (it must be one of ours) and resolves once it is gone. */
  killWorker(pid: number): Promise<ChildProcess>;
  /** Kills the workers still running, drops the catalog database and removes the workspace. */
  close(): Promise<void>;
}

/** A new catalog database `coffre_PREFIX_xxxx` and a workspace whose workers use it (none started yet). */
export async function startCluster(prefix: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Cluster> {
  const catalog = connectionTo(`coffre_${prefix}_${randomBytes(4).toString('hex')}`);
  await createDatabase(catalog);
  const url = new URL(adminUrl);
  url.pathname = `/${catalog.database}`;
  const ws = await workspace(`coffre-${prefix}-`);
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: url.href,
    ENCRYPTION_SECRET: `${prefix}-secret-${randomBytes(8).toString('hex')}`,
    CLUSTER_LEASE_SECONDS: '10',
    SCHEDULER_RELOAD_SECONDS: '1',
    ...extraEnv,
  };
  const client = new pg.Client({ connectionString: url.href });
  await client.connect();
  const workers: ChildProcess[] = [];
  const logs = new Map<ChildProcess, string>();
  const allOutput = () => [...logs.values()].join('\n---\n').slice(-4000);
  const cluster: Cluster = {
    ws,
    env,
    client,
    workers,
    async startWorkers(count) {
      const started: ChildProcess[] = [];
      for (let i = 0; i < count; i++) {
        const child = ws.start(['serve', '--no-api'], env);
        let out = '';
        const add = (c: string) => logs.set(child, (out += c));
        child.stdout!.setEncoding('utf8').on('data', add);
        child.stderr!.setEncoding('utf8').on('data', add);
        workers.push(child);
        started.push(child);
      }
      await cluster.until(`${count} workers up`, async () => started.every((w) => /worker running without API \(cluster mode/.test(logs.get(w) ?? '')), 60000);
      return started;
    },
    async until(what, fn, limitMs) {
      let died: Error | undefined;
      try {
        return await until(
          async () => {
            const dead = workers.find((w) => w.exitCode !== null && w.signalCode === null);
            if (dead) throw (died = new Error(`worker ${dead.pid} exited (${dead.exitCode}) while waiting for ${what}\n${logs.get(dead) ?? ''}`));
            return fn();
          },
          what,
          { limitMs, everyMs: 100 },
        );
      } catch (err) {
        if (err === died) throw err;
        throw new Error(`${(err as Error).message}\n${allOutput()}`);
      }
    },
    async killWorker(pid) {
      const dying = workers.find((w) => w.pid === pid);
      if (!dying) throw new Error(`pid ${pid} is none of this cluster's workers (${workers.map((w) => w.pid).join(', ')})`);
      const gone = new Promise((r) => dying.once('exit', r));
      dying.kill('SIGKILL');
      await gone;
      return dying;
    },
    async close() {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      await client.end().catch(() => {});
      await dropDatabase(catalog).catch(() => {});
      await ws.cleanup();
    },
  };
  return cluster;
}
