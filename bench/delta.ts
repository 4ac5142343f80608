// Benchmark of the delta format on a real PostgreSQL table: how much an incremental stores and costs
// next to a full (pg_dump | gzip -6), and next to xdelta3, zstd --patch-from and restic on the same dumps.
// Run: npx node bench/delta.ts [rows]   (default 3,000,000 rows, about 360 MB of plain SQL; or DELTA_BENCH_ROWS)
// Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust), pg_dump, psql, gzip, zstd; xdelta3 and restic
// are optional references.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { applyChain, createDeltaDecoder, createDeltaEncoder } from '../src/delta/index.ts';

const rows = Number(process.argv[2] ?? process.env.DELTA_BENCH_ROWS ?? 3_000_000);
const links = 7;
const pg = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres'];
const db = `coffre_bench_delta_${process.pid}`;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-bench-delta-'));
const file = (name: string): string => path.join(work, name);

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const has = (cmd: string): boolean => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0;
const sql = (text: string, database = db): string => run('psql', [...pg, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database, '-Atc', text]);
const size = (p: string): number => fs.statSync(p).size;
const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`;
const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(2)} %`;

/** Waits for a child and fails on a non-zero exit. */
function exited(child: ReturnType<typeof spawn>, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${name} exited with ${code}`))));
  });
}

/** pg_dump of the bench database, through `middle` stages, into `compressor` (argv) writing to outPath. Returns seconds. */
async function dumpThrough(outPath: string, compressor: string[], middle?: () => import('node:stream').Duplex): Promise<number> {
  const started = performance.now();
  const out = fs.openSync(outPath, 'w');
  const dump = spawn('pg_dump', [...pg, '-d', db], { stdio: ['ignore', 'pipe', 'inherit'] });
  const waits = [exited(dump, 'pg_dump')];
  if (middle === undefined) {
    const comp = spawn(compressor[0], compressor.slice(1), { stdio: [dump.stdout, out, 'inherit'] });
    dump.stdout!.destroy(); // the compressor reads the pipe itself
    waits.push(exited(comp, compressor[0]));
  } else {
    const comp = spawn(compressor[0], compressor.slice(1), { stdio: ['pipe', out, 'inherit'] });
    waits.push(exited(comp, compressor[0]), pipeline(dump.stdout!, middle(), comp.stdin as Writable));
  }
  await Promise.all(waits);
  fs.closeSync(out);
  return (performance.now() - started) / 1000;
}

async function dumpTo(p: string): Promise<void> {
  await dumpThrough(p, ['cat']);
}

function changeRows(share: number, round: number): void {
  const n = Math.max(1, Math.round(rows * share));
  sql(`UPDATE t SET amount = amount + 1, status = 'updated-${round}' WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT ${n})`);
  sql(`INSERT INTO t (name, email, amount, status, created, note, tags)
       SELECT 'customer ' || g, 'user' || g || '@example.org', round((random() * 10000)::numeric, 2), 'new-${round}',
              now() - g * interval '1 second', md5(g::text) || ' ' || repeat(chr(65 + g % 26), g % 30), jsonb_build_object('g', g % 100, 'r', ${round})
       FROM generate_series(1, ${n}) g`);
}

async function main(): Promise<void> {
  for (const tool of ['psql', 'pg_dump', 'gzip', 'zstd']) if (!has(tool)) throw new Error(`${tool} is needed`);
  console.log(`coffre delta bench: ${rows} rows, work folder ${work}`);
  run('psql', [...pg, '-X', '-q', '-d', 'postgres', '-c', `CREATE DATABASE ${db}`]);
  try {
    sql(`CREATE TABLE t (id bigserial PRIMARY KEY, name text, email text, amount numeric(12,2), status text, created timestamptz, note text, tags jsonb)`);
    sql(`INSERT INTO t (name, email, amount, status, created, note, tags)
         SELECT 'customer ' || g, 'user' || g || '@example.org', round((random() * 10000)::numeric, 2), (ARRAY['new','paid','shipped','void'])[1 + g % 4],
                timestamptz '2024-01-01' + g * interval '7 seconds', md5(g::text) || ' ' || repeat(chr(65 + g % 26), g % 30), jsonb_build_object('g', g % 100, 'k', md5((g * 7)::text))
         FROM generate_series(1, ${rows}) g`);
    await dumpTo(file('day1.sql'));
    changeRows(0.01, 1);
    await dumpTo(file('day2.sql'));
    const raw = size(file('day2.sql'));
    console.log(`day 1 raw ${mb(size(file('day1.sql')))}, day 2 raw ${mb(raw)} (1 % of rows updated, 1 % inserted)`);

    // Full: pg_dump | gzip -6, and pg_dump | zstd -3.
    const fullGzipSec = await dumpThrough(file('full.sql.gz'), ['gzip', '-6']);
    await dumpThrough(file('full.sql.zst'), ['zstd', '-3', '-q']);
    // Incremental: pg_dump | coffre delta | gzip -6 (and zstd -3 of the same delta).
    let stats: ReturnType<typeof createDeltaEncoder>['stats'];
    const incGzipSec = await dumpThrough(file('inc.delta.gz'), ['gzip', '-6'], () => {
      const e = createDeltaEncoder({ parentPath: file('day1.sql') });
      e.once('end', () => (stats = e.stats));
      return e;
    });
    const rssAfterEncode = process.resourceUsage().maxRSS * 1024;
    const encodeStarted = performance.now();
    await pipeline(fs.createReadStream(file('day2.sql')), createDeltaEncoder({ parentPath: file('day1.sql') }), fs.createWriteStream(file('inc.delta')));
    const encodeSec = (performance.now() - encodeStarted) / 1000;
    run('zstd', ['-3', '-q', '-f', file('inc.delta'), '-o', file('inc.delta.zst')]);
    const fullGz = size(file('full.sql.gz'));
    const fullZst = size(file('full.sql.zst'));
    console.log('\n== sizes (day 2) ==');
    console.log(`full: gzip -6 ${mb(fullGz)}, zstd -3 ${mb(fullZst)}`);
    console.log(
      `coffre delta: raw ${mb(size(file('inc.delta')))} (copies ${stats?.copies}, literal ${mb(stats?.literalBytes ?? 0)}, anchor stride ${stats?.anchorStride}, index entries ${stats?.indexEntries})`,
    );
    console.log(`coffre delta + gzip -6: ${mb(size(file('inc.delta.gz')))} = ${pct(size(file('inc.delta.gz')), fullGz)} of the full's gzip`);
    console.log(`coffre delta + zstd -3: ${mb(size(file('inc.delta.zst')))} = ${pct(size(file('inc.delta.zst')), fullZst)} of the full's zstd`);

    if (has('xdelta3')) {
      run('xdelta3', ['-e', '-f', '-s', file('day1.sql'), file('day2.sql'), file('x.vcdiff')]);
      console.log(`xdelta3 -e -s: ${mb(size(file('x.vcdiff')))} = ${pct(size(file('x.vcdiff')), fullGz)} of the full's gzip`);
    } else console.log('xdelta3: not installed');
    run('zstd', ['-3', '-q', '-f', '--long=31', `--patch-from=${file('day1.sql')}`, file('day2.sql'), '-o', file('z.patch')]);
    console.log(`zstd -3 --patch-from: ${mb(size(file('z.patch')))} = ${pct(size(file('z.patch')), fullZst)} of the full's zstd`);
    if (has('restic')) {
      const repo = file('restic');
      const env = { ...process.env, RESTIC_PASSWORD: 'bench-only', RESTIC_REPOSITORY: repo, RESTIC_CACHE_DIR: file('restic-cache') };
      const restic = (args: string[]): void => {
        const r = spawnSync('restic', args, { env, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`restic ${args[0]} failed: ${r.stderr}`);
      };
      const du = (): number => Number(run('du', ['-sb', repo]).split('\t')[0]);
      restic(['init', '--repository-version', '2', '-q']);
      restic(['backup', '-q', '--compression', 'auto', file('day1.sql')]);
      const before = du();
      restic(['backup', '-q', '--compression', 'auto', file('day2.sql')]);
      console.log(`restic (compression auto): day 2 adds ${mb(du() - before)} = ${pct(du() - before, fullGz)} of the full's gzip`);
    } else console.log('restic: not installed');

    console.log('\n== time ==');
    console.log(`full backup (pg_dump | gzip -6): ${fullGzipSec.toFixed(2)} s`);
    console.log(`incremental backup (pg_dump | coffre delta | gzip -6): ${incGzipSec.toFixed(2)} s = ${(incGzipSec / fullGzipSec).toFixed(2)}x the full`);
    console.log(`encode alone from the dump file (index + match): ${encodeSec.toFixed(2)} s`);
    const decodeStarted = performance.now();
    await pipeline(fs.createReadStream(file('inc.delta')), createDeltaDecoder({ parentPath: file('day1.sql') }), fs.createWriteStream('/dev/null'));
    const decodeSec = (performance.now() - decodeStarted) / 1000;
    const gunzipStarted = performance.now();
    run('sh', ['-c', 'gunzip -c "$1" > /dev/null', 'sh', file('full.sql.gz')]);
    console.log(`decode one delta: ${decodeSec.toFixed(2)} s (gunzip of the full: ${((performance.now() - gunzipStarted) / 1000).toFixed(2)} s)`);
    console.log(`peak RSS of this process after the incremental backup: ${mb(rssAfterEncode)}`);

    // A chain of 7 incrementals, then restore the last one both ways into fresh databases.
    const chain: string[] = [];
    let parentPath = file('day2.sql');
    for (let k = 1; k <= links; k++) {
      changeRows(0.002, 10 + k);
      const next = file(`chain${k}.sql`);
      await dumpTo(next);
      const delta = file(`chain${k}.delta.gz`);
      await pipeline(fs.createReadStream(next), createDeltaEncoder({ parentPath }), (await import('node:zlib')).createGzip({ level: 6 }), fs.createWriteStream(delta));
      chain.push(delta);
      if (parentPath !== file('day2.sql')) fs.rmSync(parentPath);
      parentPath = next;
    }
    run('sh', ['-c', 'gzip -6 -c "$1" > "$2"', 'sh', parentPath, file('last.sql.gz')]);
    fs.rmSync(parentPath);
    const restoreInto = async (name: string, source: () => Promise<Readable>): Promise<number> => {
      run('psql', [...pg, '-X', '-q', '-d', 'postgres', '-c', `CREATE DATABASE ${name}`]);
      const started = performance.now();
      const psql = spawn('psql', [...pg, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', name], { stdio: ['pipe', 'ignore', 'inherit'] });
      await Promise.all([exited(psql, 'psql'), pipeline(await source(), psql.stdin)]);
      return (performance.now() - started) / 1000;
    };
    const zlib = await import('node:zlib');
    const fullRestore = await restoreInto(`${db}_full`, async () => fs.createReadStream(file('last.sql.gz')).pipe(zlib.createGunzip()));
    const chainRestore = await restoreInto(`${db}_chain`, async () => {
      const plain: string[] = [];
      for (const [k, gz] of chain.entries()) {
        plain.push(file(`chain${k + 1}.delta`));
        await pipeline(fs.createReadStream(gz), zlib.createGunzip(), fs.createWriteStream(plain[k]));
      }
      return applyChain({ basePath: file('day2.sql'), deltaPaths: plain });
    });
    const chainOnlyStarted = performance.now();
    await pipeline(applyChain({ basePath: file('day2.sql'), deltaPaths: chain.map((_, k) => file(`chain${k + 1}.delta`)) }), fs.createWriteStream('/dev/null'));
    const chainOnly = (performance.now() - chainOnlyStarted) / 1000;
    const counts = [`${db}_full`, `${db}_chain`].map((d) => sql('SELECT count(*), sum(amount) FROM t', d).trim());
    if (counts[0] !== counts[1]) throw new Error(`the two restores differ: ${counts.join(' vs ')}`);
    console.log(`\n== restore of the 7th incremental (each link: 0.2 % updated, 0.2 % inserted) ==`);
    console.log(`full (gunzip | psql): ${fullRestore.toFixed(2)} s`);
    console.log(`chain (gunzip 7 deltas, apply chain | psql): ${chainRestore.toFixed(2)} s = ${(chainRestore / fullRestore).toFixed(2)}x the full`);
    console.log(
      `apply chain alone (base + 7 deltas -> /dev/null): ${chainOnly.toFixed(2)} s; stored chain ${mb(chain.reduce((s, p) => s + size(p), 0))} vs one full ${mb(size(file('last.sql.gz')))}`,
    );
    console.log(`peak RSS of this process: ${mb(process.resourceUsage().maxRSS * 1024)}`);
    for (const d of [`${db}_full`, `${db}_chain`]) run('psql', [...pg, '-X', '-q', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${d}`]);
  } finally {
    run('psql', [...pg, '-X', '-q', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${db}`]);
    for (const d of [`${db}_full`, `${db}_chain`]) spawnSync('psql', [...pg, '-X', '-q', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${d}`]);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
