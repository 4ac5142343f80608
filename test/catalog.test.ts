// The catalog: one migration set on SQLite and on PostgreSQL, secrets sealed at rest, a wrong key refused
// with a clear error, and a PostgreSQL catalog refused without ENCRYPTION_SECRET.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext } from '../src/services/context.ts';
import { addTarget, listTargets, connectionOf, findTargetRecord } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan, listPlans } from '../src/services/plans.ts';
import { isCoffreError } from '../src/core/errors.ts';

const PASSWORD = `Pw-${randomBytes(6).toString('hex')}`;
const tables = ['targets', 'destinations', 'plans', 'backups', 'backup_copies', 'restores'];
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'coffre-catalog-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function exercise(env: NodeJS.ProcessEnv): Promise<void> {
  const ctx = await openContext({ config: loadConfig(env), announce: () => {} });
  try {
    const t = await addTarget(ctx, { name: 'db-1', url: `postgres://app:${PASSWORD}@127.0.0.1:5432/shop` });
    assert.equal(t.url.includes(PASSWORD), false);
    assert.match(t.url, /app:\*\*\*@/);
    await addDestination(ctx, { name: 'disk', type: 'local', path: path.join(await tempDir(), 'b') }, { via: 'cli' });
    const plan = await addPlan(ctx, { name: 'nightly', target: 'db-1', destination: 'disk', compression: 'zstd', cron: '0 3 * * *' });
    assert.equal(plan.kind, 'full');
    assert.equal(plan.target, 'db-1');
    assert.deepEqual(
      (await listTargets(ctx)).map((x) => x.name),
      ['db-1'],
    );
    assert.deepEqual(
      (await listPlans(ctx)).map((x) => [x.name, x.compression, x.cron]),
      [['nightly', 'zstd', '0 3 * * *']],
    );
    // The sealed URL opens back to the original, with its password.
    assert.equal(connectionOf(ctx, await findTargetRecord(ctx, 'db-1')).password, PASSWORD);
    const raw = await ctx.catalog.db.selectFrom('targets').selectAll().execute();
    assert.equal(JSON.stringify(raw).includes(PASSWORD), false, 'no row holds the password in clear');
    assert.match(raw[0].url_enc, /^v1:/);
  } finally {
    await closeContext(ctx);
  }
  // A second open runs no migration again and keeps the data.
  const again = await openContext({ config: loadConfig(env), announce: () => {} });
  try {
    assert.equal((await listTargets(again)).length, 1);
  } finally {
    await closeContext(again);
  }
}

test('SQLite catalog: migrations, key file 0600, secrets sealed at rest', async () => {
  const dataDir = path.join(await tempDir(), 'data');
  const notices: string[] = [];
  const ctx = await openContext({ config: loadConfig({ DATA_DIR: dataDir }), announce: (m) => notices.push(m) });
  const names = (await ctx.catalog.db.introspection.getTables()).map((t) => t.name);
  await closeContext(ctx);
  for (const t of tables) assert.ok(names.includes(t), `table ${t} exists`);
  assert.equal(notices.length, 1, 'the generated key is announced once');
  assert.equal((await stat(path.join(dataDir, 'secret.key'))).mode & 0o777, 0o600);
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  await exercise({ DATA_DIR: dataDir });
  for (const f of await readdir(dataDir)) {
    if (!f.startsWith('coffre.db')) continue;
    const bytes = await readFile(path.join(dataDir, f));
    assert.equal(bytes.includes(Buffer.from(PASSWORD)), false, `${f} does not contain the password`);
  }
  // Opening again announces nothing: the key is reused.
  const quiet: string[] = [];
  await closeContext(await openContext({ config: loadConfig({ DATA_DIR: dataDir }), announce: (m) => quiet.push(m) }));
  assert.equal(quiet.length, 0);
});

test('an up-to-date catalog opens without the migrator; one with a migration this code does not know is still refused', async () => {
  const dataDir = path.join(await tempDir(), 'data');
  const config = loadConfig({ DATA_DIR: dataDir, ENCRYPTION_SECRET: 'the-right-secret-0123456789' });
  await closeContext(await openContext({ config, announce: () => {} })); // a fresh catalog: the migrator runs
  const file = path.join(dataDir, 'coffre.db');
  const tablesOf = () => {
    const db = new DatabaseSync(file);
    try {
      return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    } finally {
      db.close();
    }
  };
  assert.ok(tablesOf().includes('coffre_migrations_lock'), 'the migrator made its lock table');
  // The migrator recreates its lock table whenever it runs: an open that finds every migration applied
  // must not run it, so the table stays gone.
  const raw = new DatabaseSync(file);
  raw.exec('DROP TABLE coffre_migrations_lock');
  raw.close();
  await closeContext(await openContext({ config, announce: () => {} }));
  assert.equal(tablesOf().includes('coffre_migrations_lock'), false, 'an up-to-date open did not run the migrator');
  // A catalog migrated by a newer coffre (a migration unknown here) goes to the migrator, which refuses it.
  const newer = new DatabaseSync(file);
  newer.prepare('INSERT INTO coffre_migrations (name, timestamp) VALUES (?, ?)').run('9999-from-a-newer-coffre', new Date().toISOString());
  newer.close();
  await assert.rejects(openContext({ config, announce: () => {} }), (err) => isCoffreError(err) && err.code === 'COFFRE_E_CATALOG_MIGRATION_FAILED');
});

test('a wrong ENCRYPTION_SECRET is refused with a clear error', async () => {
  const dataDir = path.join(await tempDir(), 'data');
  await exercise({ DATA_DIR: dataDir, ENCRYPTION_SECRET: 'the-right-secret-0123456789' });
  await assert.rejects(
    openContext({ config: loadConfig({ DATA_DIR: dataDir, ENCRYPTION_SECRET: 'another-secret-0123456789' }), announce: () => {} }),
    (err) => isCoffreError(err) && err.code === 'COFFRE_E_SECRET_UNREADABLE' && /ENCRYPTION_SECRET differs/.test(err.message),
  );
  // Without it, the generated key file differs too.
  await assert.rejects(openContext({ config: loadConfig({ DATA_DIR: dataDir }), announce: () => {} }), (err) => isCoffreError(err) && err.code === 'COFFRE_E_SECRET_UNREADABLE');
});

test('PostgreSQL catalog: same migrations, and ENCRYPTION_SECRET required', async (t) => {
  const name = `coffre_catalog_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  t.after(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const url = `postgres://postgres@127.0.0.1:5432/${name}`;
  const dataDir = path.join(await tempDir(), 'data');
  await assert.rejects(
    openContext({ config: loadConfig({ DATA_DIR: dataDir, DATABASE_URL: url }), announce: () => {} }),
    (err) => isCoffreError(err) && err.kind === 'usage' && /ENCRYPTION_SECRET/.test(err.message),
  );
  await exercise({ DATA_DIR: dataDir, DATABASE_URL: url, ENCRYPTION_SECRET: 'pg-catalog-secret-0123456789' });
  const inside = new pg.Client({ connectionString: url });
  await inside.connect();
  try {
    const { rows } = await inside.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`);
    for (const table of tables)
      assert.ok(
        rows.some((r) => r.table_name === table),
        `table ${table} exists in PostgreSQL`,
      );
    const sealed = await inside.query<{ url_enc: string }>('SELECT url_enc FROM targets');
    assert.equal(sealed.rows.length, 1);
    assert.equal(sealed.rows[0].url_enc.includes(PASSWORD), false);
  } finally {
    await inside.end();
  }
});
