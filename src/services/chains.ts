// Differential and incremental backups, seen from the journal. A differential is a delta against the
// plan's latest successful full backup; an incremental against its latest successful backup of any kind.
// The parent must be of the same engine and raw format and its whole chain (parent links up to a full)
// must be intact in the journal and present in storage; otherwise the run is a full and its journal
// message says why (requested_kind keeps what was asked). A restore or verify of a delta walks the same
// links, checks every artifact, and rebuilds the raw dump (pipeline/chain-links.ts).
//
// The parent's raw dump must be a local file (the encoder needs random access): it comes from the raw-dump
// cache (pipeline/raw-cache.ts) when there, else it is rebuilt from storage; the cache is never needed
// for correctness.

import fs from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BackupKind, EngineName, RawFormat } from '../core/types.ts';
import { asCoffreError, failure, isCoffreError } from '../core/errors.ts';
import { getBackup, type BackupRecord } from '../catalog/journal.ts';
import { latestSuccessfulBackup } from '../catalog/chains.ts';
import type { PlanRecord } from '../catalog/plans.ts';
import { RawCache, type CacheTee } from '../pipeline/raw-cache.ts';
import { checkLinkHashes, checkLinksPresent, fetchChain, rebuildFromChain, type ChainLink } from '../pipeline/chain-links.ts';
import { createMeter } from '../pipeline/meter.ts';
import { discard } from '../pipeline/restore.ts';
import type { VerifyOutcome } from '../pipeline/verify.ts';
import type { ServiceContext } from './context.ts';
import { locateCopy } from './copies.ts';
import { restorableStatuses } from '../catalog/journal.ts';

/** Inserted before the codec's extension in a delta artifact's key: `...-incremental-<id>.sql.delta.zst`. */
export const DELTA_EXTENSION = '.delta';
/** A chain longer than this makes the next incremental a full (restore time grows with the chain). */
export const MAX_CHAIN_LINKS = 100;
const DEFAULT_CACHE_BYTES = 2 * 1024 ** 3;

/** The raw-dump cache of this DATA_DIR. */
export function rawCacheOf(ctx: ServiceContext): RawCache {
  return new RawCache(ctx.config.dataDir, ctx.config.deltaCacheMaxBytes ?? DEFAULT_CACHE_BYTES);
}

function chainBroken(top: BackupRecord, at: BackupRecord, why: string): Error {
  return failure('CHAIN_BROKEN', `The chain of backup ${top.id} is broken at backup ${at.id}: ${why}. Restore an earlier backup, or make a full backup.`, { details: { backupId: at.id } });
}

/**
 * The chain of a backup from its full to itself, as journal rows with their storage. Fails with
 * COFFRE_E_CHAIN_BROKEN naming the first link that is not a successful, complete, consistent journal row.
 */
export async function chainOf(ctx: ServiceContext, top: BackupRecord): Promise<ChainLink[]> {
  const records: BackupRecord[] = [];
  const seen = new Set<string>();
  let rec = top;
  for (;;) {
    // The top may be `partial` (complete on some destinations); every parent is a success.
    if (rec === top ? !restorableStatuses.includes(rec.status) : rec.status !== 'success') throw chainBroken(top, rec, `it is ${rec.status}`);
    if (!rec.artifactKey || !rec.sha256 || !rec.rawSha256 || !rec.rawFormat || !rec.destinationId) throw chainBroken(top, rec, 'its journal row is incomplete');
    if (seen.has(rec.id)) throw chainBroken(top, rec, 'its parent links loop');
    seen.add(rec.id);
    records.unshift(rec);
    if (records.length > MAX_CHAIN_LINKS + 1) throw chainBroken(top, rec, `the chain is longer than ${MAX_CHAIN_LINKS} links`);
    if (!rec.parentId) break;
    let parent: BackupRecord;
    try {
      parent = await getBackup(ctx.catalog.db, rec.parentId);
    } catch {
      throw chainBroken(top, rec, `its parent ${rec.parentId} is no longer in the journal`);
    }
    if (parent.sha256 !== rec.parentSha256) throw chainBroken(top, rec, `its parent ${parent.id} has sha256 ${parent.sha256}, and this link was made against ${rec.parentSha256}`);
    if (parent.engine !== rec.engine || parent.rawFormat !== rec.rawFormat) throw chainBroken(top, rec, `its parent ${parent.id} is a ${parent.engine} ${parent.rawFormat} dump`);
    rec = parent;
  }
  if (records[0].kind !== 'full') throw chainBroken(top, records[0], `it is a ${records[0].kind} backup with no parent`);
  // Each link is read from wherever a copy of it is (local first): links of one chain may live on
  // different destinations once one of them lost a copy.
  const links: ChainLink[] = [];
  for (const r of records) {
    let located;
    try {
      located = await locateCopy(ctx, r, { orFirst: true });
    } catch (err) {
      throw chainBroken(top, r, asCoffreError(err).message);
    }
    const { storage, key } = located;
    links.push({ id: r.id, kind: r.kind, key, storage, sha256: r.sha256!, sizeBytes: r.sizeBytes, rawSha256: r.rawSha256!, rawSizeBytes: r.rawSizeBytes, rawFormat: r.rawFormat as RawFormat });
  }
  return links;
}

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
export async function chooseParent(ctx: ServiceContext, plan: PlanRecord, requestedKind: BackupKind, engine: EngineName): Promise<ParentChoice> {
  if (requestedKind === 'full') return { kind: 'full', requestedKind, note: null };
  const full = (why: string): ParentChoice => ({ kind: 'full', requestedKind, note: `${requestedKind === 'incremental' ? 'An' : 'A'} ${requestedKind} backup was requested; a full backup was made because ${why}.` });
  const candidate = await latestSuccessfulBackup(ctx.catalog.db, plan.id, requestedKind === 'differential' ? 'full' : undefined);
  if (!candidate) return full(`plan "${plan.name}" has no successful ${requestedKind === 'differential' ? 'full ' : ''}backup yet`);
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
export async function parentRawDump(ctx: ServiceContext, links: readonly ChainLink[], signal?: AbortSignal): Promise<ParentDump> {
  const parent = links[links.length - 1];
  const cache = rawCacheOf(ctx);
  const hit = await cache.lookup(parent.id, parent.rawSha256, parent.rawSizeBytes);
  if (hit) return { path: hit, fromCache: true, release: async () => {} };
  const dir = await cache.tempDir('parent');
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const fetched = await fetchChain(links, dir, signal);
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
      parentDump = await parentRawDump(ctx, choice.links, options.signal);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      kind = 'full';
      note = `${choice.requestedKind === 'incremental' ? 'An' : 'A'} ${choice.requestedKind} backup was requested; a full backup was made because the raw dump of its parent ${parent.id} could not be rebuilt from storage (${asCoffreError(err).message}).`;
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
 * Opens the rebuilt raw dump of a differential or incremental backup for restore. Before anything is
 * returned, every link is checked present and its stored sha256 checked, then fetched into a private
 * temporary folder under DATA_DIR (removed when the stream closes). The stream fails instead of ending when
 * the rebuilt dump's sha256 differs from the journal's.
 */
export async function openChainForRestore(ctx: ServiceContext, top: BackupRecord, signal?: AbortSignal): Promise<Readable> {
  const links = await chainOf(ctx, top);
  await checkLinksPresent(links);
  const dir = await rawCacheOf(ctx).tempDir('restore');
  try {
    await checkLinkHashes(links, signal, dir);
    const stream = rebuildFromChain(links, await fetchChain(links, dir, signal), dir);
    stream.once('close', () => fs.rmSync(dir, { recursive: true, force: true }));
    return stream;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Verifies a differential or incremental backup: every link's sha256, then the rebuilt raw dump's. */
export async function verifyChain(ctx: ServiceContext, top: BackupRecord, signal?: AbortSignal): Promise<VerifyOutcome> {
  let dir: string | undefined;
  try {
    const links = await chainOf(ctx, top);
    await checkLinksPresent(links);
    dir = await rawCacheOf(ctx).tempDir('verify');
    await checkLinkHashes(links, signal, dir);
    const raw = createMeter();
    await pipeline(rebuildFromChain(links, await fetchChain(links, dir, signal), dir), raw, discard(), { signal });
    return {
      status: 'success',
      message: `The ${links.length} links of the chain match their sha256, and the rebuilt dump (${raw.bytes} bytes, ${top.rawFormat}) has the recorded raw sha256.`,
      sizeBytes: top.sizeBytes ?? undefined,
      sha256: top.sha256 ?? undefined,
      rawSizeBytes: raw.bytes,
      rawSha256: raw.digest(),
      rawFormat: top.rawFormat as RawFormat,
    };
  } catch (err) {
    return { status: 'failed', message: asCoffreError(err).message };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
