// Benchmark of the REST API's two busiest reads: `GET /api/journals` (a page of 50 rows, newest first, and
// the same filtered by plan) and `GET /api/plans` over a catalog holding 10,000 journal rows and 20 plans.
// The server is the real `coffre serve` in a child process (SQLite catalog, Bearer token checked on every
// request); autocannon drives it over loopback and the requests/s and latency percentiles are printed.
// Run: npx node bench/api.ts   (BENCH_API_ROWS, BENCH_API_SECONDS, BENCH_API_CONNECTIONS to change the load)

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext } from '../src/services/context.ts';
import { addTarget } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan } from '../src/services/plans.ts';
import type { BackupRecord } from '../src/catalog/journal.ts';
import { importBackup } from '../src/catalog/runs.ts';
import { newId } from '../src/core/ids.ts';

const rows = Number(process.env.BENCH_API_ROWS ?? 10_000);
const seconds = Number(process.env.BENCH_API_SECONDS ?? 10);
const connections = Number(process.env.BENCH_API_CONNECTIONS ?? 10);
const token = 'bench-token-0123456789abcdef';
const dir = await mkdtemp(path.join(tmpdir(), 'coffre-bench-api-'));
const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: path.join(dir, 'data'), API_TOKEN: token, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' };
for (const k of ['DATABASE_URL', 'BACKUP_ROOT', 'ENCRYPTION_SECRET']) delete env[k];

async function seed(): Promise<string> {
  const ctx = await openContext({ config: loadConfig(env), announce: () => {} });
  try {
    const target = await addTarget(ctx, { name: 'app', url: `sqlite:${path.join(dir, 'app.db')}` }, { via: 'cli' });
    const dest = await addDestination(ctx, { name: 'disk', type: 'local', path: path.join(dir, 'backups') }, { via: 'cli' });
    const plans: Array<Awaited<ReturnType<typeof addPlan>>> = [];
    for (let i = 0; i < 20; i++)
      plans.push(await addPlan(ctx, { name: `plan-${String(i).padStart(2, '0')}`, target: target.id, destination: dest.id, compression: 'zstd', cron: '0 3 * * *' }));
    const start = Date.now() - rows * 60_000;
    await ctx.catalog.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows; i++) {
        const plan = plans[i % plans.length];
        const startedAt = new Date(start + i * 60_000);
        const ok = i % 17 !== 0;
        const rec: BackupRecord = {
          id: newId(startedAt.getTime()),
          planId: plan.id,
          planName: plan.name,
          targetId: target.id,
          targetName: target.name,
          engine: 'sqlite',
          database: path.join(dir, 'app.db'),
          kind: 'full',
          requestedKind: 'full',
          parentId: null,
          parentSha256: null,
          status: ok ? 'success' : 'failed',
          trigger: 'schedule',
          compression: 'zstd',
          rawFormat: 'sqlite',
          startedAt: startedAt.toISOString(),
          finishedAt: new Date(startedAt.getTime() + 1234).toISOString(),
          durationMs: 1234,
          rawSizeBytes: 1_000_000 + i,
          sizeBytes: ok ? 250_000 + i : null,
          sha256: ok ? 'ab'.repeat(32) : null,
          rawSha256: ok ? 'cd'.repeat(32) : null,
          artifactKey: `${plan.name}/${startedAt.toISOString()}-full.sqlite.zst`,
          serverVersion: '3.45.0',
          clientVersion: '3.45.0',
          tool: 'node:sqlite',
          message: ok ? null : 'The dump failed: disk full.',
          pid: null,
          host: 'bench',
        };
        await importBackup({ catalog: { db: trx }, events: ctx.events }, rec);
      }
    });
    return plans[3].id;
  } finally {
    await closeContext(ctx);
  }
}

async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.resolve(import.meta.dirname, '../src/cli/main.ts'), 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`coffre serve exited ${code}: ${err}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function load(url: string, title: string): Promise<void> {
  const result = await autocannon({ url, connections, duration: seconds, headers: { authorization: `Bearer ${token}` } });
  const bad = result.non2xx + result.errors + result.timeouts;
  process.stdout.write(
    `${title.padEnd(44)} ${result.requests.average.toFixed(0).padStart(6)} req/s   p50 ${String(result.latency.p50).padStart(4)} ms   p99 ${String(result.latency.p99).padStart(4)} ms   ` +
      `${(result.throughput.average / 1e6).toFixed(1)} MB/s${bad ? `   ${bad} failed requests!` : ''}\n`,
  );
}

try {
  const t0 = Date.now();
  const planId = await seed();
  process.stdout.write(`seeded ${rows} journal rows and 20 plans in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${connections} connections, ${seconds} s per route\n`);
  const server = await startServer();
  try {
    const probe = await fetch(`${server.url}/api/journals?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    if (probe.status !== 200) throw new Error(`GET /api/journals answered ${probe.status}`);
    await load(`${server.url}/api/journals`, 'GET /api/journals (50 newest)');
    await load(`${server.url}/api/journals?planId=${planId}&status=success&offset=200`, 'GET /api/journals?planId&status&offset=200');
    await load(`${server.url}/api/plans`, 'GET /api/plans (20 plans)');
  } finally {
    await server.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
