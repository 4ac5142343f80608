// Restore drill RTOs: the bench-sized table (BENCH_ROWS, default 1,100,000 rows of ints, text, timestamps,
// numerics, json, booleans, NULLs; the same rows in every engine) backed up with zstd and drilled (restore
// into a scratch database, row counts, one assertion), on each engine of BENCH_ENGINES (default
// postgres,mysql,sqlite,mongodb; MongoDB, which FerretDB loads slowly, at BENCH_MONGO_ROWS, default 100,000),
// and Pagila (../shared/fixtures/real-world/pg, loaded with psql) on PostgreSQL. Prints one line per drill:
// rows, raw dump size, backup time, the drill's RTO and each check's time. Not a timed test.
//
//   npx node bench/drill-rto.ts
//   BENCH_ENGINES=postgres BENCH_ROWS=200000 npx node bench/drill-rto.ts

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { MongoClient } from 'mongodb';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext } from '../src/services/context.ts';
import { addTarget } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan } from '../src/services/plans.ts';
import { runBackup } from '../src/services/backups.ts';
import { runDrill } from '../src/services/drills.ts';

const rows = Number(process.env.BENCH_ROWS ?? 1_100_000);
const mongoRows = Number(process.env.BENCH_MONGO_ROWS ?? 100_000);
const enginesWanted = (process.env.BENCH_ENGINES ?? 'postgres,mysql,sqlite,mongodb,pagila').split(',');
const PG = 'postgres://root@127.0.0.1:5432';
const stamp = `${process.pid}_${Date.now().toString(36)}`;

async function pgAdmin(sql: string, db = 'postgres'): Promise<void> {
  const c = new pg.Client({ connectionString: `${PG}/${db}` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function mariadb(sql: string, db?: string): void {
  const r = spawnSync('mariadb', ['-uroot', '-h127.0.0.1', '--protocol=TCP', ...(db ? ['--', db] : [])], { input: sql, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`mariadb: ${r.stderr}`);
}

const pgTable = `CREATE TABLE bench_rows (id bigint PRIMARY KEY, account integer NOT NULL, kind smallint, label text NOT NULL, body text, created_at timestamptz NOT NULL, amount numeric(14,4), ratio double precision, attrs jsonb, active boolean);
INSERT INTO bench_rows SELECT g, ((g::bigint * 7919) % 100000)::integer, CASE WHEN g % 11 = 0 THEN NULL ELSE (g % 17)::smallint END, 'item-' || md5(g::text),
  CASE WHEN g % 7 = 0 THEN NULL ELSE repeat(md5((g * 31)::text), 1 + (g % 5)) END, timestamptz '2020-01-01 00:00:00+00' + g * interval '37 seconds',
  CASE WHEN g % 13 = 0 THEN NULL ELSE round((g * 0.37)::numeric, 4) END, g / 1000003.0,
  CASE WHEN g % 5 = 0 THEN NULL ELSE jsonb_build_object('n', g % 1000, 'tag', substr(md5((g % 977)::text), 1, 8), 'ok', g % 2 = 0) END,
  CASE WHEN g % 19 = 0 THEN NULL ELSE g % 3 = 0 END FROM generate_series(1, ${rows}) AS g;`;

const myTable = `CREATE TABLE bench_rows (id bigint PRIMARY KEY, account int NOT NULL, kind smallint, label varchar(64) NOT NULL, body text, created_at datetime(6) NOT NULL, amount decimal(14,4), ratio double, attrs json, active boolean);
INSERT INTO bench_rows SELECT seq, (seq * 7919) % 100000, IF(seq % 11 = 0, NULL, seq % 17), CONCAT('item-', MD5(seq)),
  IF(seq % 7 = 0, NULL, REPEAT(MD5(seq * 31), 1 + seq % 5)), TIMESTAMPADD(SECOND, seq * 37, '2020-01-01 00:00:00'),
  IF(seq % 13 = 0, NULL, ROUND(seq * 0.37, 4)), seq / 1000003.0,
  IF(seq % 5 = 0, NULL, JSON_OBJECT('n', seq % 1000, 'tag', SUBSTR(MD5(seq % 977), 1, 8), 'ok', seq % 2 = 0)),
  IF(seq % 19 = 0, NULL, seq % 3 = 0) FROM seq_1_to_${rows};`;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-bench-drill-'));
  const ctx = await openContext({ config: loadConfig({ DATA_DIR: path.join(dir, 'data') }), announce: () => {} });
  await addDestination(ctx, { name: 'disk', type: 'local', path: path.join(dir, 'backups') }, { via: 'cli' });
  console.log(
    `load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; ${rows} rows (MongoDB ${mongoRows})`,
  );
  const cleanups: Array<() => Promise<void>> = [];
  const measure = async (name: string, url: string, assertion: string, n: number) => {
    await addTarget(ctx, { name, url }, { via: 'cli' });
    await addPlan(ctx, { name, target: name, destination: 'disk', compression: 'zstd', drill: { assertions: [assertion], assertTimeout: '10m' } });
    const b = await runBackup(ctx, { plan: name });
    if (b.error) throw b.error;
    const d = await runDrill(ctx, { plan: name });
    const checks = d.view.checks.map((c) => `${c.name} ${c.status} ${((c.durationMs ?? 0) / 1000).toFixed(2)}s`).join(', ');
    console.log(
      `${name.padEnd(9)} rows ${String(n).padStart(8)}  raw ${((b.view.rawSizeBytes ?? 0) / 2 ** 20).toFixed(1).padStart(6)} MiB  backup ${((b.view.durationMs ?? 0) / 1000).toFixed(1).padStart(5)} s  drill ${d.view.status}  RTO ${((d.view.rtoMs ?? 0) / 1000).toFixed(1).padStart(5)} s  (${checks})`,
    );
  };
  try {
    if (enginesWanted.includes('postgres')) {
      const db = `coffre_bench_drill_${stamp}`;
      await pgAdmin(`CREATE DATABASE ${db}`);
      cleanups.push(() => pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
      await pgAdmin(pgTable, db);
      await measure('postgres', `${PG}/${db}`, `SELECT count(*) = ${rows} FROM bench_rows`, rows);
    }
    if (enginesWanted.includes('pagila')) {
      const fixtures = path.resolve(import.meta.dirname, '../../shared/fixtures/real-world/pg');
      if (existsSync(path.join(fixtures, 'pagila-data.sql'))) {
        const db = `coffre_bench_pagila_${stamp}`;
        await pgAdmin(`CREATE DATABASE ${db}`);
        cleanups.push(() => pgAdmin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
        for (const f of ['pagila-schema.sql', 'pagila-data.sql']) {
          const r = spawnSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-U', 'root', '-d', db, '-f', path.join(fixtures, f)], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`psql ${f}: ${r.stderr}`);
        }
        await measure('pagila', `${PG}/${db}`, 'SELECT count(*) > 16000 FROM rental', 0);
      }
    }
    if (enginesWanted.includes('mysql')) {
      const db = `coffre_bench_drill_${stamp}`;
      mariadb(`CREATE DATABASE ${db};`);
      cleanups.push(async () => mariadb(`DROP DATABASE IF EXISTS ${db};`));
      mariadb(myTable, db);
      await measure('mysql', `mysql://root@127.0.0.1:3306/${db}`, `SELECT COUNT(*) = ${rows} FROM bench_rows`, rows);
    }
    if (enginesWanted.includes('sqlite')) {
      const file = path.join(dir, 'bench.db');
      const s = new DatabaseSync(file);
      s.exec(`CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, account INTEGER NOT NULL, kind INTEGER, label TEXT NOT NULL, body TEXT, created_at TEXT NOT NULL, amount REAL, ratio REAL, attrs TEXT, active INTEGER);
        WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${rows})
        INSERT INTO bench_rows SELECT n, (n * 7919) % 100000, CASE WHEN n % 11 = 0 THEN NULL ELSE n % 17 END, 'item-' || hex(randomblob(16)),
          CASE WHEN n % 7 = 0 THEN NULL ELSE hex(randomblob(16 * (1 + n % 5))) END, datetime(1577836800 + n * 37, 'unixepoch'),
          CASE WHEN n % 13 = 0 THEN NULL ELSE round(n * 0.37, 4) END, n / 1000003.0,
          CASE WHEN n % 5 = 0 THEN NULL ELSE json_object('n', n % 1000, 'ok', n % 2 = 0) END, CASE WHEN n % 19 = 0 THEN NULL ELSE n % 3 = 0 END FROM g;`);
      s.close();
      await measure('sqlite', `sqlite:${file}`, `SELECT count(*) = ${rows} FROM bench_rows`, rows);
    }
    if (enginesWanted.includes('mongodb')) {
      const db = `coffre_bench_drill_${stamp}`;
      const client = new MongoClient('mongodb://127.0.0.1:27017');
      await client.connect();
      cleanups.push(async () => {
        await client
          .db(db)
          .dropDatabase()
          .catch(() => {});
        await client.close();
      });
      const coll = client.db(db).collection<{ _id: number; [k: string]: unknown }>('bench_rows');
      for (let from = 1; from <= mongoRows; from += 5000) {
        const batch = [];
        for (let g = from; g < Math.min(from + 5000, mongoRows + 1); g++)
          batch.push({
            _id: g,
            account: (g * 7919) % 100000,
            kind: g % 11 === 0 ? null : g % 17,
            label: `item-${g}`,
            body: g % 7 === 0 ? null : 'x'.repeat(32 * (1 + (g % 5))),
            created_at: new Date(1577836800000 + g * 37000),
            amount: g * 0.37,
            attrs: g % 5 === 0 ? null : { n: g % 1000, ok: g % 2 === 0 },
            active: g % 3 === 0,
          });
        await coll.insertMany(batch, { ordered: false });
      }
      await measure('mongodb', `mongodb://127.0.0.1:27017/${db}`, JSON.stringify({ collection: 'bench_rows', filter: {}, min: mongoRows, max: mongoRows }), mongoRows);
    }
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await closeContext(ctx);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
