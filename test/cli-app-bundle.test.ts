// The installed `coffre` command (bin/coffre.js) runs the bundle scripts/build-app.ts makes from coffre's
// sources (built by `npm ci`'s prepare script, or here when missing or stale) only while it is fresh for the
// tree (bin/app-bundle.js), and its sources otherwise. Through the bundle: a fresh catalog, a backup, its
// verify and a restore (ENCRYPTION_SECRET derived through the bundle's secrets entry), and `coffre serve`
// answering its API and the dashboard (whose files it finds from its source's own location), with no source
// file loaded. The other CLI tests (test/support/cli.ts) run bin/coffre.js too: in CI, on the fresh bundle.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { APP_BUNDLE_FORMAT, appBundleState, freshAppBundle } from '../bin/app-bundle.js';
import { installed, root, sqliteRoundTrip } from './support/installed.ts';

const sources = `${pathToFileURL(path.join(root, 'src')).href}/`;

test('the bundle is fresh only while every source it was made from is unchanged, with the same Kysely and zod', async () => {
  const tree = await mkdtemp(path.join(tmpdir(), 'coffre-app-tree-'));
  try {
    const dir = path.join(tree, 'bundle');
    await mkdir(path.join(tree, 'src'), { recursive: true });
    await mkdir(dir);
    for (const [name, version] of [
      ['kysely', '1.2.3'],
      ['zod', '4.5.6'],
    ]) {
      await mkdir(path.join(tree, 'node_modules', name), { recursive: true });
      await writeFile(path.join(tree, 'node_modules', name, 'package.json'), JSON.stringify({ version }));
    }
    const a = path.join(tree, 'src', 'a.ts');
    await writeFile(a, 'export const a = 1;\n');
    const when = new Date('2026-01-02T03:04:05.678Z');
    await utimes(a, when, when);
    const stamp = (over: Record<string, unknown> = {}) =>
      writeFile(
        path.join(dir, 'stamp.json'),
        JSON.stringify({
          format: APP_BUNDLE_FORMAT,
          build: 'b-1',
          packages: [
            { name: 'kysely', version: '1.2.3' },
            { name: 'zod', version: '4.5.6' },
          ],
          sources: [['src/a.ts', 20, when.getTime()]],
          ...over,
        }),
      );
    assert.equal(freshAppBundle(tree, dir), undefined, 'no stamp: the sources');
    await stamp();
    assert.equal(freshAppBundle(tree, dir), `file://${path.join(dir, 'b-1', 'main.mjs')}`);
    await stamp({ format: APP_BUNDLE_FORMAT + 1 });
    assert.equal(freshAppBundle(tree, dir), undefined, 'another format');
    await stamp({ build: '../b-1' });
    assert.equal(freshAppBundle(tree, dir), undefined, 'a build folder outside the cache');
    assert.match(appBundleState(tree, dir).stale ?? '', /no build folder/);
    await stamp({ packages: [{ name: 'zod', version: '4.5.7' }] });
    assert.equal(freshAppBundle(tree, dir), undefined, 'another zod');
    await stamp();
    const later = new Date(when.getTime() + 1000);
    await utimes(a, later, later);
    assert.equal(freshAppBundle(tree, dir), undefined, 'a source touched since');
    await utimes(a, when, when);
    assert.ok(freshAppBundle(tree, dir));
    await writeFile(a, 'export const a = 22;\n');
    await utimes(a, when, when);
    assert.equal(freshAppBundle(tree, dir), undefined, 'a source of another size');
    assert.match(appBundleState(tree, dir).stale ?? '', /^src\/a\.ts: 21 bytes at \d+, built from 20 bytes/);
    await rm(a);
    assert.equal(freshAppBundle(tree, dir), undefined, 'a source gone');
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
});

const buildApp = () => {
  const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-app.ts')], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
};

test('bin/coffre.js runs a catalog, a backup, verify, restore and serve from the bundle, loading no source file; a rebuild leaves the running build whole', async (t) => {
  const state = appBundleState(root);
  if (state.stale) {
    t.diagnostic(`the app bundle is not fresh (${state.stale}): building it`);
    buildApp();
  }
  const first = freshAppBundle(root);
  assert.ok(first, 'scripts/build-app.ts made no fresh bundle (is esbuild installed?)');
  if (!existsSync(path.join(root, 'web', 'dist', 'index.html'))) {
    const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-web.ts')], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-app-'));
  try {
    // With ENCRYPTION_SECRET, bin/coffre.js starts its scrypt through the bundle's secrets.mjs before the command loads.
    const coffre = await installed(dir, { ENCRYPTION_SECRET: 'a-long-random-secret-for-the-app-bundle-test' });
    await sqliteRoundTrip(coffre, dir);
    // The manifest names coffre's version, which manifest.ts reads from package.json beside its source.
    const backups = path.join(dir, 'data', 'backups');
    const manifestName = (await readdir(backups, { recursive: true })).find((f) => f.endsWith('.manifest.json'));
    assert.ok(manifestName, `a manifest under ${backups}`);
    const manifest = JSON.parse(await readFile(path.join(backups, manifestName), 'utf8')) as unknown;
    const version = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')).version as string;
    assert.ok(JSON.stringify(manifest).includes(`"${version}"`), `the manifest names coffre ${version}: ${JSON.stringify(manifest).slice(0, 300)}`);

    // serve: the API and the dashboard's files.
    const server = coffre.start(['serve', '--port', '0']);
    try {
      let log = '';
      const url = await new Promise<string>((resolve, reject) => {
        const onData = (c: string) => {
          log += c;
          const m = /listening on (http:\/\/\S+) /.exec(log);
          if (m) resolve(m[1]);
        };
        server.stdout!.setEncoding('utf8').on('data', onData);
        server.stderr!.setEncoding('utf8').on('data', onData);
        server.on('close', (code) => reject(new Error(`serve exited ${code}: ${log}`)));
      });
      const health = await fetch(`${url}/api/openapi.json`);
      assert.equal(health.status, 200);
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<div id="app"|<script type="module"/);

      // A rebuild while this server (and other tests' commands) run from the build the stamp names: the new
      // build gets a folder of its own and the stamp moves to it; the running one stays whole.
      const running = path.dirname(fileURLToPath(first));
      const files = await readdir(running);
      buildApp();
      const rebuilt = freshAppBundle(root);
      assert.ok(rebuilt && rebuilt !== first, `the stamp names the new build (${rebuilt})`);
      assert.deepEqual(await readdir(running), files, 'the running build is whole');
      const builds = (await readdir(path.dirname(running))).filter((f) => f.startsWith('b-'));
      assert.ok(builds.length <= 3, `older builds but the last two are removed: ${builds.join(', ')}`);
      assert.equal((await fetch(`${url}/api/openapi.json`)).status, 200);
    } finally {
      const closed = new Promise((resolve) => server.once('close', resolve));
      server.kill('SIGTERM');
      await closed;
    }

    const urls = await coffre.loaded();
    assert.ok(
      urls.some((u) => /\/coffre-app\/b-[^/]+\/main\.mjs$/.test(u)) && urls.some((u) => /\/coffre-app\/b-[^/]+\/secrets\.mjs$/.test(u)),
      'the bundle loaded, its secrets entry first',
    );
    assert.deepEqual(
      urls.filter((u) => u.startsWith(sources) || /\/node_modules\/(kysely|zod)\//.test(u)),
      [],
      'no source file (nor the bundled packages) loaded beside the bundle',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
