// Preparing a delta run's parent, in one place: choosing it from the journal (the plan's latest successful
// full for a differential, its latest successful backup for an incremental; same engine, chain intact in the
// journal and present in storage, at most MAX_CHAIN_LINKS links), then getting its raw dump as a local file
// (the encoder needs random access): from the raw-dump cache (pipeline/raw-cache.ts) when there, else rebuilt
// from storage (pipeline/chain-links.ts). When no parent is usable the run is a full and says why. All of it
// happens before the run is journaled, so a run's kind, parent and key never change once its row exists.

import fs from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BackupKind, EngineName, RawFormat } from '../core/types.ts';
import { asCoffreError, isCoffreError } from '../core/errors.ts';
import { latestSuccessfulBackup } from '../catalog/chains.ts';
import type { PlanRecord } from '../catalog/plans.ts';
import type { CacheTee } from '../pipeline/raw-cache.ts';
import { checkLinksPresent, fetchChain, rebuildFromChain, type ChainLink } from '../pipeline/chain-links.ts';
import type { ServiceContext } from './service-context.ts';
import { chainOf, MAX_CHAIN_LINKS, rawCacheOf } from './chains.ts';
import type { AgeIdentity } from '../crypto/age.ts';

/** What a run will be: a full, or a delta against the last link of `links`. */
export interface ParentChoice {
  kind: BackupKind;
  requestedKind: BackupKind;
  /** The parent's chain, full first, the parent last (deltas only). */
  links?: ChainLink[];
  /** Why a full was made instead of the requested kind. */
  note: string | null;
}

/** Picks the parent of a new run of `plan` from the journal; never throws for a missing or broken parent. */
export async function chooseParent(ctx: ServiceContext, plan: PlanRecord, requestedKind: BackupKind, engine: EngineName, database?: string): Promise<ParentChoice> {
  if (requestedKind === 'full') return { kind: 'full', requestedKind, note: null };
  const full = (why: string): ParentChoice => ({
    kind: 'full',
    requestedKind,
    note: `${requestedKind === 'incremental' ? 'An' : 'A'} ${requestedKind} backup was requested; a full backup was made because ${why}.`,
  });
  const candidate = await latestSuccessfulBackup(ctx.catalog.db, plan.id, requestedKind === 'differential' ? 'full' : undefined, database);
  if (!candidate)
    return full(
      database !== undefined
        ? `database "${database}" of plan "${plan.name}" has no successful ${requestedKind === 'differential' ? 'full ' : ''}backup yet`
        : `plan "${plan.name}" has no successful ${requestedKind === 'differential' ? 'full ' : ''}backup yet`,
    );
  if (candidate.engine !== engine) return full(`its parent ${candidate.id} is a ${candidate.engine} dump and the plan's target is now ${engine}`);
  let links: ChainLink[];
  try {
    links = await chainOf(ctx, candidate);
    await checkLinksPresent(links);
  } catch (err) {
    return full(`the chain of its parent ${candidate.id} is not intact (${asCoffreError(err).message})`);
  }
  if (links.length > MAX_CHAIN_LINKS) return full(`the chain of its parent ${candidate.id} already has ${links.length} links (at most ${MAX_CHAIN_LINKS})`);
  return { kind: requestedKind, requestedKind, links, note: null };
}

/** The parent's raw dump as a local file; release() removes it when it is a temporary file. */
export interface ParentDump {
  path: string;
  fromCache: boolean;
  release(): Promise<void>;
}

/** Finds the parent's raw dump in the cache, or rebuilds it from storage (and caches it when it fits). */
export async function parentRawDump(ctx: ServiceContext, links: readonly ChainLink[], signal?: AbortSignal, identities: readonly AgeIdentity[] = []): Promise<ParentDump> {
  const parent = links[links.length - 1];
  const cache = rawCacheOf(ctx);
  const hit = await cache.lookup(parent.id, parent.rawSha256, parent.rawSizeBytes);
  if (hit) return { path: hit, fromCache: true, release: async () => {} };
  const dir = await cache.tempDir('parent');
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const fetched = await fetchChain(links, dir, signal, identities);
    let file = fetched.basePath; // a full's raw dump, its sha256 already checked
    if (links.length > 1) {
      file = path.join(dir, 'rebuilt.raw');
      await pipeline(rebuildFromChain(links, fetched, dir), fs.createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 }), { signal });
      for (const f of [fetched.basePath, ...fetched.deltaPaths]) await rm(f, { force: true });
    }
    const cached = await cache.adopt(parent.id, file, parent.rawSha256);
    if (cached) {
      await cleanup();
      return { path: cached, fromCache: false, release: async () => {} };
    }
    return { path: file, fromCache: false, release: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Whether a run's raw dump should be teed into the cache: when a later run of the plan may use it as a parent. */
export function worthCaching(planKind: string, requestedKind: BackupKind, kind: BackupKind): boolean {
  if (planKind === 'incremental' || requestedKind === 'incremental') return true;
  return kind === 'full' && (planKind !== 'full' || requestedKind !== 'full');
}

/** Everything a delta run needs besides the plain pipeline. */
export interface DeltaSetup {
  kind: BackupKind;
  note: string | null;
  parent?: ChainLink;
  delta?: { parentPath: string; parentSha256: string; rawFormat: RawFormat };
  tee?: CacheTee;
  /**
   * After a failed attempt: when the cached parent turned out damaged (the encoder's own hash of it
   * differed), drops it, rebuilds the parent from storage and returns a new setup to try again.
   */
  retry(err: unknown): Promise<DeltaSetup | undefined>;
  /** Ends the run: caches its raw dump when it succeeded (rawSha256 given), frees temporary files. */
  finish(rawSha256?: string): Promise<void>;
}

export interface DeltaSetupOptions {
  backupId: string;
  planKind: string;
  signal?: AbortSignal;
  /** Identities to open encrypted links with when the parent is not in the cache (those kept in the catalog). */
  identities?: readonly AgeIdentity[];
}

/**
 * Prepares the parent and the cache tee of a run chosen by chooseParent. When the parent's raw dump cannot
 * be rebuilt (a link went missing or corrupt since it was chosen), the run becomes a full and says why.
 */
export async function prepareDelta(ctx: ServiceContext, choice: ParentChoice, options: DeltaSetupOptions): Promise<DeltaSetup> {
  const cache = rawCacheOf(ctx);
  let kind = choice.kind;
  let note = choice.note;
  let parentDump: ParentDump | undefined;
  const parent = choice.links?.[choice.links.length - 1];
  if (choice.links && parent) {
    try {
      parentDump = await parentRawDump(ctx, choice.links, options.signal, options.identities);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      kind = 'full';
      const why =
        isCoffreError(err) && err.code.startsWith('COFFRE_E_AGE_') && err.kind === 'usage'
          ? 'it is encrypted, no longer in the local cache, and no identity kept in the catalog opens it (coffre key import)'
          : asCoffreError(err).message;
      note = `${choice.requestedKind === 'incremental' ? 'An' : 'A'} ${choice.requestedKind} backup was requested; a full backup was made because the raw dump of its parent ${parent.id} could not be rebuilt from storage (${why}).`;
    }
  }
  const tee = cache.enabled && worthCaching(options.planKind, choice.requestedKind, kind) ? await cache.tee(options.backupId) : undefined;
  const setup: DeltaSetup = {
    kind,
    note,
    parent: kind === 'full' ? undefined : parent,
    delta: parentDump && parent ? { parentPath: parentDump.path, parentSha256: parent.rawSha256, rawFormat: parent.rawFormat } : undefined,
    tee,
    async retry(err) {
      const wrongParent = isCoffreError(err) && (err.code === 'COFFRE_E_DELTA_WRONG_PARENT' || err.code === 'COFFRE_E_DELTA_PARENT_MISSING');
      if (!wrongParent || !parentDump?.fromCache || !parent) return undefined;
      await setup.finish();
      await cache.remove(parent.id);
      return prepareDelta(ctx, choice, options);
    },
    async finish(rawSha256) {
      if (tee) await (rawSha256 ? tee.commit(rawSha256) : tee.discard());
      await parentDump?.release();
    },
  };
  return setup;
}

/**
 * Decides a new run's kind and parent, and readies the parent's raw dump and the cache tee: chooseParent,
 * then prepareDelta. `backupId` is the run's id-to-be (its cache entry is named after it).
 */
export async function prepareParent(
  ctx: ServiceContext,
  plan: PlanRecord,
  requestedKind: BackupKind,
  engine: EngineName,
  options: { backupId: string; signal?: AbortSignal; identities?: readonly AgeIdentity[]; database?: string },
): Promise<DeltaSetup> {
  const choice = await chooseParent(ctx, plan, requestedKind, engine, options.database);
  return prepareDelta(ctx, choice, { backupId: options.backupId, planKind: plan.kind, signal: options.signal, identities: options.identities });
}
