// What a caller may reach on this host. The API speaks for whoever holds a token, so every path it can name
// (a SQLite target, a local destination's folder, a restore's source file) must resolve, symlinks included,
// under ALLOWED_PATHS (BACKUP_ROOT is always in it). The CLI runs with its user's own rights: a path outside
// only draws a warning there. From anywhere, coffre's own DATA_DIR (the catalog, the encryption key, the
// delta cache) is never a target, a destination or a restore source; only the BACKUP_ROOT folder inside it
// (its default place) may be a destination or a restore source, and a SQLite target never lies in BACKUP_ROOT,
// whose files are the artifacts a restore with replace would otherwise overwrite.

import { realpathSync } from 'node:fs';
import path from 'node:path';
import { CoffreError, usageError } from '../core/errors.ts';
import type { Config } from '../config.ts';

/** Who asks: the API (bounded by ALLOWED_PATHS) or the CLI (warned when outside). */
export interface Reach {
  via: 'api' | 'cli';
  /** Where the CLI's warnings go. */
  warn?: (message: string) => void;
}

/** The API's reach: the default of every service call that takes one. */
export const apiReach: Reach = { via: 'api' };

export type PathUse = 'sqlite-target' | 'local-destination' | 'restore-source';

const useText: Record<PathUse, string> = {
  'sqlite-target': 'A SQLite target',
  'local-destination': 'A local destination',
  'restore-source': 'A restore source',
};

/**
 * The real path of p: symlinks of its longest existing ancestor resolved, the rest (not made yet) appended,
 * so that a file or folder to be created is judged by where it will land.
 */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  for (let at = abs; ; at = path.dirname(at)) {
    try {
      return path.join(realpathSync(at), ...rest.reverse());
    } catch {
      if (path.dirname(at) === at) return abs;
      rest.push(path.basename(at));
    }
  }
}

function inside(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Why a real path is coffre's own (never reachable), or undefined. */
function ownFiles(config: Config, real: string, use: PathUse): string | undefined {
  const dataDir = realPathOf(config.dataDir);
  const backupRoot = realPathOf(config.backupRoot);
  if (config.catalog.kind === 'sqlite') {
    const catalog = realPathOf(config.catalog.path);
    if (real === catalog || real.startsWith(`${catalog}-`)) return "is coffre's own catalog";
  }
  if (use === 'sqlite-target' && inside(real, backupRoot)) return 'lies in BACKUP_ROOT, which holds the artifacts';
  if (inside(real, dataDir) && !inside(real, backupRoot)) return "lies in coffre's DATA_DIR (its catalog, key and cache)";
  // A folder holding DATA_DIR would list and serve coffre's own files as storage keys.
  if (use !== 'sqlite-target' && inside(dataDir, real)) return "holds coffre's DATA_DIR";
  return undefined;
}

function reserved(config: Config, given: string, use: PathUse, why: string, hint: string): CoffreError {
  return usageError('PATH_RESERVED', `${useText[use]} cannot be ${given}: it ${why}; coffre keeps DATA_DIR (${config.dataDir}) for itself. ${hint}`, { path: given });
}

/** The folders the API may name paths under (ALLOWED_PATHS, BACKUP_ROOT included), each realpath-resolved. */
export function allowedRoots(config: Config): string[] {
  return [...new Set(config.allowedPaths.map(realPathOf))];
}

/**
 * Checks a path a caller names, and returns its real path. coffre's own files are refused from anywhere
 * (usage error: exit 2, HTTP 400); outside ALLOWED_PATHS the API is refused (forbidden: 403, the same answer
 * whether or not the path exists) and the CLI warned.
 */
export function checkReach(config: Config, given: string, use: PathUse, reach: Reach = apiReach): string {
  const real = realPathOf(given);
  const own = ownFiles(config, real, use);
  if (own) {
    throw reserved(config, given, use, own, 'Choose a path outside it.');
  }
  if (allowedRoots(config).some((root) => inside(real, root))) return real;
  if (reach.via === 'cli') {
    reach.warn?.(`warning: ${given} is outside ALLOWED_PATHS (${config.allowedPaths.join(', ')}): the API could not have named it.\n`);
    return real;
  }
  throw new CoffreError(
    'PATH_FORBIDDEN',
    `${useText[use]} must lie under ALLOWED_PATHS (the folders this server's API may name): ${given} does not. Add its folder to ALLOWED_PATHS, or use the CLI.`,
    {
      kind: 'forbidden',
      details: { field: use === 'restore-source' ? 'path' : use === 'local-destination' ? 'path' : 'url' },
    },
  );
}

/** Whether coffre's own files are at p (the check made each time a stored target or destination is opened). */
export function checkNotOwn(config: Config, given: string, use: PathUse): void {
  const own = ownFiles(config, realPathOf(given), use);
  if (!own) return;
  throw reserved(
    config,
    given,
    use,
    own,
    use === 'restore-source' ? 'Choose a path outside it.' : `Point it elsewhere (coffre ${use === 'sqlite-target' ? 'target' : 'destination'} edit).`,
  );
}
