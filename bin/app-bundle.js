// Whether bin/coffre.js may run the bundle scripts/build-app.ts made (node_modules/.cache/coffre-app)
// instead of the sources: only when its stamp is of this format, was made with the Kysely and zod versions
// installed now, and every source file it was made from still has the size and modification time it
// had then (an edit, a checkout or a deletion shows there; a new file only matters once an existing one
// imports it, which changes that one). About 0.5 ms for ~180 files. Plain JavaScript, as bin/coffre.js.
//
// Each build is a folder of its own (`b-…`), which the stamp names; a rebuild writes a new folder and then
// replaces the stamp in one rename, so a command that read the old stamp goes on loading its chunks from
// the old folder, whole, while the new one is written (scripts/build-app.ts keeps the last few).

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const APP_BUNDLE_FORMAT = 2;

/**
 * `{ url }`, the URL of the bundle's main module, when it is fresh for the tree at `root`; else
 * `{ stale }`, why not (for a test's diagnostics).
 */
export function appBundleState(root, dir = path.join(root, 'node_modules', '.cache', 'coffre-app')) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(path.join(dir, 'stamp.json'), 'utf8'));
  } catch (e) {
    return { stale: `no stamp (${e.code ?? e.message})` };
  }
  if (stamp.format !== APP_BUNDLE_FORMAT) return { stale: `stamp format ${stamp.format}, not ${APP_BUNDLE_FORMAT}` };
  if (typeof stamp.build !== 'string' || !/^b-[a-z0-9-]+$/.test(stamp.build)) return { stale: `the stamp names no build folder (${stamp.build})` };
  try {
    for (const { name, version } of stamp.packages) {
      const now = JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
      if (now !== version) return { stale: `${name} ${now}, built with ${version}` };
    }
    for (const [file, size, mtimeMs] of stamp.sources) {
      const s = statSync(path.join(root, file));
      if (s.size !== size || s.mtimeMs !== mtimeMs) return { stale: `${file}: ${s.size} bytes at ${s.mtimeMs}, built from ${size} bytes at ${mtimeMs}` };
    }
  } catch (e) {
    return { stale: e.message }; // a package or a source gone, or unreadable
  }
  return { url: pathToFileURL(path.join(dir, stamp.build, 'main.mjs')).href };
}

/** The URL of the bundle's main module when it is fresh for the tree at `root`, else undefined. */
export function freshAppBundle(root, dir) {
  return appBundleState(root, dir).url;
}
