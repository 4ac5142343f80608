// The shared scenario for differential and incremental backups, run against each engine's real server
// through the services (the CLI is a thin shell over them): full -> incremental -> incremental (with the
// raw-dump cache deleted before the second, so its parent is rebuilt from storage) -> differential, with
// inserts, updates, deletes and a schema change before each step; every point restored into a new
// database and compared with the fingerprint taken at that point; verify of a delta; and a corrupted or
// missing middle link refused with the target untouched.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Connection } from '../../src/core/connection.ts';
import type { Engine, Manifest } from '../../src/core/types.ts';
import { loadConfig } from '../../src/config.ts';
import { openContext, closeContext, type ServiceContext } from '../../src/services/context.ts';
import { addTarget } from '../../src/services/targets.ts';
import { addDestination } from '../../src/services/destinations.ts';
import { addPlan } from '../../src/services/plans.ts';
import { runBackup, verifyBackup, type BackupView } from '../../src/services/backups.ts';
import { runRestore } from '../../src/services/restores.ts';

export interface ChainFixture {
  engine: Engine;
  /** A new database with a unique name, not created. */
  fresh(): Promise<Connection>;
  /** The target URL of a connection. */
  url(conn: Connection): string;
  seed(conn: Connection): Promise<void>;
  /** Step n's changes: inserts, updates, deletes and a schema change. */
  change(conn: Connection, step: number): Promise<void>;
  fingerprint(conn: Connection): Promise<string>;
  drop(conn: Connection): Promise<void>;
}

/** Flips one byte in the middle of a file; returns a function that puts it back. */
async function flipByte(file: string): Promise<() => Promise<void>> {
  const original = await readFile(file);
  const damaged = Buffer.from(original);
  damaged[damaged.length >> 1] ^= 0xff;
  await writeFile(file, damaged);
  return () => writeFile(file, original);
}

export function incrementalScenario(fx: ChainFixture, options: { compression?: string } = {}): void {
  const name = fx.engine.name;
  const made: Connection[] = [];
  let dir: string;
  let backups: string;
  let ctx: ServiceContext;
  let source: Connection;
  let targets = 0;
  const points: { backup: BackupView; fingerprint: string }[] = [];

  const fresh = async (): Promise<Connection> => {
    const conn = await fx.fresh();
    made.push(conn);
    return conn;
  };
  /** A new target in the catalog for a new (not created) database. */
  const freshTarget = async (): Promise<{ name: string; conn: Connection }> => {
    const conn = await fresh();
    const target = `restore-${++targets}`;
    await addTarget(ctx, { name: target, url: fx.url(conn) }, { via: 'cli' });
    return { name: target, conn };
  };
  const backup = async (kind?: string): Promise<BackupView> => {
    const outcome = await runBackup(ctx, { plan: 'chain', kind });
    assert.equal(outcome.error, undefined, `backup failed: ${outcome.error?.message}`);
    return outcome.view;
  };
  const manifestOf = async (b: BackupView): Promise<Manifest> => JSON.parse(await readFile(path.join(backups, `${b.artifact}.manifest.json`), 'utf8')) as Manifest;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), `coffre-inc-${name}-`));
    backups = path.join(dir, 'backups');
    ctx = await openContext({ config: loadConfig({ DATA_DIR: path.join(dir, 'data') }), announce: () => {} });
    source = await fresh();
    await fx.seed(source);
    await addTarget(ctx, { name: 'source', url: fx.url(source) }, { via: 'cli' });
    await addDestination(ctx, { name: 'disk', type: 'local', path: backups }, { via: 'cli' });
    await addPlan(ctx, { name: 'chain', target: 'source', destination: 'disk', kind: 'incremental', compression: options.compression ?? 'zstd' });
  });
  after(async () => {
    for (const c of made) await fx.drop(c).catch(() => {});
    if (ctx) await closeContext(ctx);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test(`${name}: full -> incremental -> incremental -> differential, each with changes`, async () => {
    const full = await backup('full');
    assert.equal(full.kind, 'full');
    points.push({ backup: full, fingerprint: await fx.fingerprint(source) });

    await fx.change(source, 1);
    const inc1 = await backup();
    assert.equal(inc1.kind, 'incremental');
    assert.equal(inc1.parentId, full.id);
    const ext = { zstd: 'zst', gzip: 'gz' }[options.compression ?? 'zstd'];
    assert.match(String(inc1.artifact), new RegExp(`-incremental-${inc1.id}\\.${fx.engine.extension}\\.delta\\.${ext}$`));
    assert.ok(inc1.sizeBytes! < full.sizeBytes!, `the incremental (${inc1.sizeBytes} B) stores less than the full (${full.sizeBytes} B)`);
    const m1 = await manifestOf(inc1);
    assert.deepEqual(m1.parent, { id: full.id, sha256: full.sha256, artifact: full.artifact });
    points.push({ backup: inc1, fingerprint: await fx.fingerprint(source) });

    // Without the cache, the parent's raw dump is rebuilt from storage (full + inc1).
    await rm(path.join(dir, 'data', 'cache'), { recursive: true, force: true });
    await fx.change(source, 2);
    const inc2 = await backup('incremental');
    assert.equal(inc2.kind, 'incremental');
    assert.equal(inc2.parentId, inc1.id);
    points.push({ backup: inc2, fingerprint: await fx.fingerprint(source) });

    await fx.change(source, 3);
    const diff = await backup('differential');
    assert.equal(diff.kind, 'differential');
    assert.equal(diff.parentId, full.id, 'a differential is made against the latest full');
    points.push({ backup: diff, fingerprint: await fx.fingerprint(source) });
    assert.equal(new Set(points.map((p) => p.fingerprint)).size, points.length, 'every step changed the database');
  });

  test(`${name}: every point of the chain restores into a new database as it was`, async () => {
    assert.equal(points.length, 4);
    for (const point of points) {
      const target = await freshTarget();
      const outcome = await runRestore(ctx, { backup: point.backup.id, to: target.name });
      assert.equal(outcome.error, undefined, `restore of the ${point.backup.kind} ${point.backup.id} failed: ${outcome.error?.message}`);
      assert.equal(await fx.fingerprint(target.conn), point.fingerprint, `restore of the ${point.backup.kind} ${point.backup.id}`);
    }
  });

  test(`${name}: verify of an incremental rebuilds its chain and checks the raw sha256`, async () => {
    const outcome = await verifyBackup(ctx, points[2].backup.id);
    assert.equal(outcome.error, undefined, outcome.view.message ?? '');
    assert.match(String(outcome.view.message), /3 links/);
  });

  test(`${name}: a corrupted middle link is detected and the restore refused, the target untouched`, async () => {
    const [, middle, top] = points.map((p) => p.backup);
    const putBack = await flipByte(path.join(backups, middle.artifact!));
    try {
      const target = await freshTarget();
      const outcome = await runRestore(ctx, { backup: top.id, to: target.name });
      assert.equal(outcome.error?.code, 'COFFRE_E_CHAIN_LINK_CORRUPT', outcome.error?.message);
      assert.match(outcome.error!.message, new RegExp(middle.id));
      assert.ok(outcome.error!.message.includes(middle.artifact!), 'the message names the artifact');
      assert.equal(outcome.view.status, 'failed');
      assert.deepEqual(await fx.engine.inspect(target.conn), { exists: false, empty: true }, 'nothing was written to the target');
      const verify = await verifyBackup(ctx, top.id);
      assert.equal(verify.view.status, 'failed');
      assert.match(String(verify.view.message), new RegExp(middle.id));
    } finally {
      await putBack();
    }
  });

  test(`${name}: a missing middle link is detected and the restore refused, the target untouched`, async () => {
    const [, middle, top] = points.map((p) => p.backup);
    const file = path.join(backups, middle.artifact!);
    await rename(file, `${file}.away`);
    try {
      const target = await freshTarget();
      const outcome = await runRestore(ctx, { backup: top.id, to: target.name });
      assert.equal(outcome.error?.code, 'COFFRE_E_CHAIN_LINK_MISSING', outcome.error?.message);
      assert.match(outcome.error!.message, new RegExp(`${middle.id}.*missing`));
      assert.deepEqual(await fx.engine.inspect(target.conn), { exists: false, empty: true }, 'nothing was written to the target');
    } finally {
      await rename(`${file}.away`, file);
    }
    // Put back, the chain restores again (the refusal was about the link, not a lasting state).
    const target = await freshTarget();
    const outcome = await runRestore(ctx, { backup: top.id, to: target.name });
    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(await fx.fingerprint(target.conn), points[2].fingerprint);
    assert.deepEqual(await readdir(path.join(dir, 'data', 'tmp')), [], 'the temporary files of every restore were removed');
  });
}
