// The copies of a backup: one artifact uploaded to each of its plan's destinations, each upload journaled in
// `backup_copies`. Reading a backup (restore, verify, a delta's chain) uses any copy that landed, local ones
// first (no egress, no latency), falling back to the next when one is missing or of the wrong size; removing
// a backup (retention, a dead run) removes it from every destination that may hold it (migration 0006 gave
// rows made before copies were journaled the copy row they stood for).

import type { Storage } from '../core/types.ts';
import { failure } from '../core/errors.ts';
import { listCopies, listCopiesOf, type BackupCopyRecord, type BackupRecord } from '../catalog/journal.ts';
import { getDestination, type DestinationRecord } from '../catalog/destinations.ts';
import { removeArtifact } from '../pipeline/manifest.ts';
import type { ServiceContext } from './service-context.ts';
import { storageOf } from './destinations.ts';

/** One copy as shown to users (journal views, CLI --json, API). */
export interface CopyView {
  destination: string;
  destinationId: string;
  type: string | null;
  key: string;
  status: string;
  sizeBytes: number | null;
  checksum: string | null;
  message: string | null;
}

/** The copies of several runs, as views, by run id (destination names resolved once). */
export async function copyViewsOf(ctx: ServiceContext, backupIds: readonly string[]): Promise<Map<string, CopyView[]>> {
  const byRun = await listCopiesOf(ctx.catalog.db, backupIds);
  const names = new Map<string, DestinationRecord | undefined>();
  const out = new Map<string, CopyView[]>();
  for (const [id, copies] of byRun) {
    const views: CopyView[] = [];
    for (const c of copies) {
      if (!names.has(c.destinationId)) names.set(c.destinationId, await getDestination(ctx.catalog.db, c.destinationId));
      const d = names.get(c.destinationId);
      views.push({
        destination: d?.name ?? '(removed)',
        destinationId: c.destinationId,
        type: d?.type ?? null,
        key: c.key,
        status: c.status,
        sizeBytes: c.sizeBytes === null ? null : Number(c.sizeBytes),
        checksum: c.checksum,
        message: c.message,
      });
    }
    out.set(id, views);
  }
  return out;
}

/** A place a backup's artifact can be read from. */
export interface CopyLocation {
  destinationId: string;
  destination: string;
  storage: Storage;
  key: string;
}

/** Where a run's artifact may be: its landed copies. */
async function candidates(ctx: ServiceContext, run: BackupRecord, copies?: BackupCopyRecord[]): Promise<Array<{ destinationId: string; key: string }>> {
  const landed = (copies ?? (await listCopies(ctx.catalog.db, run.id))).filter((c) => c.status === 'success');
  return landed.map((c) => ({ destinationId: c.destinationId, key: c.key }));
}

/**
 * Every reachable location of a run's artifact, local destinations first; destinations removed from the
 * catalog are skipped. Nothing is read: callers check presence (stat) or hashes themselves.
 */
export async function copyLocations(ctx: ServiceContext, run: BackupRecord): Promise<CopyLocation[]> {
  const out: CopyLocation[] = [];
  for (const c of await candidates(ctx, run)) {
    const rec = await getDestination(ctx.catalog.db, c.destinationId);
    if (!rec) continue;
    out.push({ destinationId: rec.id, destination: rec.name, storage: await storageOf(ctx, rec), key: c.key });
  }
  return out.sort((a, b) => Number(a.storage.type !== 'local') - Number(b.storage.type !== 'local'));
}

/**
 * The first location holding the artifact with the journal's size, local first; with orFirst, the first
 * location when none does (for callers that report the missing artifact in their own words). Fails with
 * COFFRE_E_ARTIFACT_UNREACHABLE naming every destination tried and why when none does.
 */
export async function locateCopy(ctx: ServiceContext, run: BackupRecord, options: { orFirst?: boolean } = {}): Promise<CopyLocation> {
  const tried: string[] = [];
  const locations = await copyLocations(ctx, run);
  for (const loc of locations) {
    try {
      const info = await loc.storage.stat(loc.key);
      if (!info) tried.push(`${loc.destination}: missing`);
      else if (run.sizeBytes !== null && info.size !== Number(run.sizeBytes)) tried.push(`${loc.destination}: ${info.size} bytes instead of ${run.sizeBytes}`);
      else return loc;
    } catch (err) {
      tried.push(`${loc.destination}: ${(err as Error).message}`);
    }
  }
  // The caller reports a missing or damaged artifact itself (a chain link names its position).
  if (options.orFirst && locations[0]) return locations[0];
  throw failure(
    'ARTIFACT_UNREACHABLE',
    tried.length
      ? `No destination holds an intact copy of backup ${run.id} (${tried.join('; ')}).`
      : `Backup ${run.id} has no copy on any destination still in the catalog: add its destination back (and reindex it) to reach the artifact.`,
    { details: { backupId: run.id } },
  );
}

/**
 * Removes a run's artifact and manifest from every destination that holds or may hold it (its copies).
 * Throws the first failure after trying them all; a destination no longer in the catalog is an error naming
 * the key to remove by hand, and so is a run that names no copy at all.
 */
export async function removeCopies(ctx: ServiceContext, run: Pick<BackupRecord, 'id' | 'artifactKey'>): Promise<void> {
  const all = await listCopies(ctx.catalog.db, run.id);
  if (all.length === 0 && run.artifactKey) throw failure('DESTINATION_GONE', `Backup ${run.id} names no destination: its artifact ${run.artifactKey} cannot be reached.`);
  // A failed upload left nothing (the put contract), so only landed or unfinished copies are visited.
  const copies = all.filter((c) => c.status !== 'failed' && c.status !== 'pruned');
  let first: unknown;
  for (const c of copies) {
    try {
      const rec = await getDestination(ctx.catalog.db, c.destinationId);
      if (!rec) throw failure('DESTINATION_GONE', `A destination of backup ${run.id} was removed from the catalog: remove ${c.key} from it by hand, or add the destination back.`);
      await removeArtifact(await storageOf(ctx, rec), c.key);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
