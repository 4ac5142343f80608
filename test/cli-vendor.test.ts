// The installed `coffre` command (bin/coffre.js) loads Kysely and zod from the bundles that
// scripts/build-vendor.ts makes (built by `npm ci`'s prepare script, or here when missing): a fresh catalog
// (every migration through the bundled Migrator), a backup, its verify and a restore all work through them,
// and the bundles are what actually loaded. It runs with COFFRE_APP_BUNDLE=0: the sources, as bin/coffre.js
// does whenever the app bundle (test/cli-app-bundle.test.ts) is not fresh.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'bin', 'coffre.js');
const stamp = path.join(root, 'node_modules', '.cache', 'coffre-vendor', 'stamp.json');

function coffre(args: string[], env: NodeJS.ProcessEnv, preload: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', preload, bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('bin/coffre.js runs a catalog, a backup, verify and restore on the vendor bundles', async () => {
  if (!existsSync(stamp)) {
    const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-vendor.ts')], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
  }
  assert.ok(existsSync(stamp), 'scripts/build-vendor.ts wrote no stamp (is esbuild installed?)');
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-vendor-'));
  try {
    // A load hook registered before bin/coffre.js's resolve hook sees every file that loads: it lists them.
    const loaded = path.join(dir, 'loaded.txt');
    const preload = path.join(dir, 'preload.mjs');
    await writeFile(
      preload,
      `import { registerHooks } from 'node:module'; import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(loaded)}, url + '\\n'); return next(url, context); } });\n`,
    );
    // The sources with the vendor bundles: what bin/coffre.js runs when the app bundle is not fresh (test/cli-app-bundle.test.ts).
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: path.join(dir, 'data'), COFFRE_APP_BUNDLE: '0' };
    for (const k of ['DATABASE_URL', 'ENCRYPTION_SECRET', 'BACKUP_ROOT', 'DEFAULT_COMPRESSION', 'COFFRE_DEBUG', 'NODE_TEST_CONTEXT']) delete env[k];
    const src = path.join(dir, 'shop.db');
    const db = new DatabaseSync(src);
    db.exec('CREATE TABLE orders(id INTEGER PRIMARY KEY, total INTEGER); INSERT INTO orders(total) VALUES (10),(20),(30);');
    db.close();
    const ok = async (args: string[]) => {
      const r = await coffre(args, env, preload);
      assert.equal(r.code, 0, `coffre ${args.join(' ')}: ${r.stderr}${r.stdout}`);
      return r;
    };
    await ok(['target', 'add', 'shop', '--url', `sqlite:${src}`]);
    await ok(['target', 'add', 'copy', '--url', `sqlite:${path.join(dir, 'copy.db')}`]);
    await ok(['destination', 'add', 'disk', '--type', 'local']);
    await ok(['plan', 'add', 'nightly', '--target', 'shop', '--destination', 'disk', '--compression', 'zstd']);
    const backup = JSON.parse((await ok(['backup', 'nightly', '--json'])).stdout) as { id: string; status: string };
    assert.equal(backup.status, 'success');
    assert.equal((JSON.parse((await ok(['verify', backup.id, '--json'])).stdout) as { status: string }).status, 'success');
    await ok(['restore', backup.id, '--to', 'copy']);
    const copy = new DatabaseSync(path.join(dir, 'copy.db'));
    assert.deepEqual(
      copy
        .prepare('SELECT total FROM orders ORDER BY id')
        .all()
        .map((r) => r.total),
      [10, 20, 30],
    );
    copy.close();
    const urls = (await readFile(loaded, 'utf8')).split('\n');
    const bundles = new Set(urls.filter((u) => u.includes('/coffre-vendor/')).map((u) => path.basename(u)));
    for (const name of ['kysely.mjs', 'kysely-migration.mjs', 'zod.mjs']) assert.ok(bundles.has(name), `${name} was not loaded`);
    assert.deepEqual(
      urls.filter((u) => /\/node_modules\/(kysely|zod)\//.test(u)),
      [],
      'a file of the kysely or zod package loaded beside the bundles',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
