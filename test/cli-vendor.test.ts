// The installed `coffre` command (bin/coffre.js) loads Kysely and zod from the bundles that
// scripts/build-vendor.ts makes (built by `npm ci`'s prepare script, or here when missing): a fresh catalog
// (every migration through the bundled Migrator), a backup, its verify and a restore all work through them,
// and the bundles are what actually loaded. It runs with COFFRE_APP_BUNDLE=0: the sources, as bin/coffre.js
// does whenever the app bundle (test/cli-app-bundle.test.ts) is not fresh.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { installed, root, sqliteRoundTrip } from './support/installed.ts';

const stamp = path.join(root, 'node_modules', '.cache', 'coffre-vendor', 'stamp.json');

test('bin/coffre.js runs a catalog, a backup, verify and restore on the vendor bundles', async () => {
  if (!existsSync(stamp)) {
    const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-vendor.ts')], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
  }
  assert.ok(existsSync(stamp), 'scripts/build-vendor.ts wrote no stamp (is esbuild installed?)');
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-vendor-'));
  try {
    // The sources with the vendor bundles: what bin/coffre.js runs when the app bundle is not fresh (test/cli-app-bundle.test.ts).
    const coffre = await installed(dir, { COFFRE_APP_BUNDLE: '0' });
    await sqliteRoundTrip(coffre, dir);
    const urls = await coffre.loaded();
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
