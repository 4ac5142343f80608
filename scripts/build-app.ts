// `npm run build:app` (also run by `npm ci`/`npm install` as part of the `prepare` script): bundles coffre's
// own sources, from src/cli/main.ts, with Kysely and zod, into node_modules/.cache/coffre-app with esbuild
// (installed with Vite). Node spends about 0.15 ms per module file it resolves, reads, strips of its types
// and links, whatever its size: `coffre backup` loaded ~180 files (sources and the vendor bundles) where the
// bundle is one file per command and a few shared chunks, and a small backup's whole run took 0.13 s instead
// of 0.16 s.
//
// Only bin/coffre.js (the installed `coffre` command) uses it, and only while every source file the bundle
// was made from still has the size and modification time the stamp written here records (bin/app-bundle.js);
// an edited, added-to or checked-out tree, a missing bundle or COFFRE_APP_BUNDLE=0 runs the sources, as
// before. The bundle is the very same code, generated, never committed. Other packages stay outside it
// (loaded from node_modules as usual), and each source keeps its own `import.meta.url`, `dirname` and
// `filename`, so that what it finds beside itself (web/dist, package.json, the delta index worker, which
// runs from its source file) is found the same way from the bundle.

import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadEsbuild, nodeBundle } from './bundle-options.ts';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'node_modules', '.cache', 'coffre-app');
// Bump when this script's output changes shape: bin/app-bundle.js uses a stamp of its own format only.
const FORMAT = 2;
/** Builds kept besides the new one, for commands still loading chunks from the build they started with. */
const KEEP_OLDER = 2;
/** The packages bundled in (those every command loads first); the stamp records their versions. */
const BUNDLED = /^(kysely|zod)(\/|$)/;

const esbuild = await loadEsbuild('app bundle', '`coffre` runs from its sources');
if (!esbuild) process.exit(0);

const ownMeta: import('esbuild').Plugin = {
  name: 'own-import-meta',
  setup(build) {
    // Each source file's import.meta.{url,dirname,filename} stays its own (not the bundle's).
    build.onLoad({ filter: new RegExp(`^${path.join(root, 'src').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/.*\\.ts$`) }, async (args) => {
      const text = (await readFile(args.path, 'utf8'))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(path.dirname(args.path)))
        .replaceAll('import.meta.filename', JSON.stringify(args.path));
      return { contents: text, loader: 'ts' };
    });
    // Every package but the bundled ones is loaded from node_modules at run time.
    build.onResolve({ filter: /^[^./]/ }, (args) => (BUNDLED.test(args.path) || args.path.startsWith('node:') ? undefined : { path: args.path, external: true }));
  },
};

// A folder of its own: commands started from the build the stamp names now keep loading their chunks from
// it, whole, while this one is written (bin/app-bundle.js).
const build = `b-${Date.now().toString(36)}-${process.pid}`;
const started = Date.now();
const result = await esbuild.build({
  ...nodeBundle(path.join(out, build)),
  // secrets.mjs: what bin/coffre.js imports first, to start the catalog key's scrypt (src/core/secrets.ts) before the command loads.
  entryPoints: { main: path.join(root, 'src', 'cli', 'main.ts'), secrets: path.join(root, 'src', 'core', 'secrets.ts') },
  // Commands (and backends) load on demand, as from the sources: one chunk each (splitting), shared code in common chunks.
  metafile: true,
  plugins: [ownMeta],
});
const inputs = Object.keys(result.metafile.inputs).map((f) => path.resolve(root, f));
const sources = await Promise.all(
  inputs
    .filter((f) => f.startsWith(path.join(root, 'src') + path.sep))
    .map(async (f) => {
      const s = await stat(f);
      return [path.relative(root, f), s.size, s.mtimeMs] as const;
    }),
);
const packages = await Promise.all(
  ['kysely', 'zod'].map(async (name) => ({ name, version: JSON.parse(await readFile(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version as string })),
);
const stamp = { format: FORMAT, build, packages, sources };
// The stamp last, in one rename: a build cut short is never named, and a reader sees the old stamp or the new one.
const next = path.join(out, `stamp.json.${process.pid}`);
await writeFile(next, `${JSON.stringify(stamp)}\n`);
await rename(next, path.join(out, 'stamp.json'));
// Older builds but the last few go, as does what an earlier format left at the top (its chunks); another build's
// stamp in the making stays.
const entries = await readdir(out, { withFileTypes: true });
const builds = await Promise.all(
  entries.filter((e) => e.isDirectory() && e.name.startsWith('b-') && e.name !== build).map(async (e) => ({ name: e.name, at: (await stat(path.join(out, e.name))).mtimeMs })),
);
const gone = [
  ...builds
    .sort((a, b) => b.at - a.at)
    .slice(KEEP_OLDER)
    .map((b) => b.name),
  ...entries.filter((e) => e.isFile() && !e.name.startsWith('stamp.json')).map((e) => e.name),
];
await Promise.all(gone.map((name) => rm(path.join(out, name), { recursive: true, force: true })));
process.stdout.write(`app bundle: ${sources.length} source files in ${Object.keys(result.metafile.outputs).length} files, ${Date.now() - started} ms\n`);
