// `npm run build:vendor` (also run by `npm ci`/`npm install` as the `prepare` script): bundles the two
// libraries every `coffre` command loads before it can do anything, Kysely (the catalog; ~255 module files)
// and zod (the configuration; ~95 files), into a few files under node_modules/.cache/coffre-vendor, with
// esbuild (installed with Vite). Node loads a module file in about 0.2 ms whatever its size, so the bundles
// take ~15 ms where the packages' own files took ~95 ms of every command's start-up.
//
// Only bin/coffre.js (the installed `coffre` command) uses them, through a resolve hook, and only while the
// stamp written here names the versions installed now; otherwise, or when this script could not run
// (no esbuild in a production install), it loads the packages as they are. The bundles are the very same
// code, generated, never committed; the sources, `node src/cli/main.ts` and the tests import the packages.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadEsbuild, nodeBundle } from './bundle-options.ts';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'node_modules', '.cache', 'coffre-vendor');
// Bump when this script's output changes shape: a stamp of another format is not used.
const FORMAT = 1;

/** Each bundled import specifier, the package it belongs to and the file of it that the bundle starts at. */
const entries = [
  { specifier: 'kysely', pkg: 'kysely', file: 'dist/index.js', name: 'kysely' },
  { specifier: 'kysely/migration', pkg: 'kysely', file: 'dist/migration/index.js', name: 'kysely-migration' },
  { specifier: 'zod', pkg: 'zod', file: 'index.js', name: 'zod' },
];

const version = async (pkg: string): Promise<string> => JSON.parse(await readFile(path.join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;

const esbuild = await loadEsbuild('vendor bundles', '`coffre` loads kysely and zod from node_modules');
if (!esbuild) process.exit(0);
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const started = Date.now();
// One build with code splitting: kysely and kysely/migration share their chunks, so both see one Kysely.
await esbuild.build({
  ...nodeBundle(out),
  entryPoints: Object.fromEntries(entries.map((e) => [e.name, path.join(root, 'node_modules', e.pkg, e.file)])),
});
const packages = [...new Set(entries.map((e) => e.pkg))];
const stamp = {
  format: FORMAT,
  packages: await Promise.all(packages.map(async (name) => ({ name, version: await version(name) }))),
  entries: Object.fromEntries(entries.map((e) => [e.specifier, `${e.name}.mjs`])),
};
// The stamp last: a build cut short leaves no stamp, so nothing half-built is used.
await writeFile(path.join(out, 'stamp.json'), `${JSON.stringify(stamp, null, 2)}\n`);
process.stdout.write(`vendor bundles: ${stamp.packages.map((p) => `${p.name} ${p.version}`).join(', ')} in ${Date.now() - started} ms\n`);
