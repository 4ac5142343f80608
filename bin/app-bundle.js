// Whether bin/coffre.js may run the bundle scripts/build-app.ts made (node_modules/.cache/coffre-app)
// instead of the sources: only when its stamp is of this format, was made with the Kysely and zod versions
// installed now, and every source file it was made from still has the size and modification time it
// had then (an edit, a checkout or a deletion shows there; a new file only matters once an existing one
// imports it, which changes that one). About 0.5 ms for ~180 files. Plain JavaScript, as bin/coffre.js.

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const APP_BUNDLE_FORMAT = 1;

/** The URL of the bundle's main module when it is fresh for the tree at `root`, else undefined. */
export function freshAppBundle(root, dir = path.join(root, 'node_modules', '.cache', 'coffre-app')) {
  try {
    const stamp = JSON.parse(readFileSync(path.join(dir, 'stamp.json'), 'utf8'));
    if (stamp.format !== APP_BUNDLE_FORMAT) return undefined;
    for (const { name, version } of stamp.packages) {
      if (JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version !== version) return undefined;
    }
    for (const [file, size, mtimeMs] of stamp.sources) {
      const s = statSync(path.join(root, file));
      if (s.size !== size || s.mtimeMs !== mtimeMs) return undefined;
    }
    return pathToFileURL(path.join(dir, 'main.mjs')).href;
  } catch {
    return undefined; // not built, unreadable, or a source gone: the sources
  }
}
