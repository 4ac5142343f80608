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
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RawFormat } from '../core/types.ts';
import { asCoffreError, failure } from '../core/errors.ts';
import { getBackup, type BackupRecord } from '../catalog/journal.ts';
import { RawCache } from '../pipeline/raw-cache.ts';
import { checkLinkHashes, checkLinksPresent, fetchChain, rebuildFromChain, type ChainLink } from '../pipeline/chain-links.ts';
import { createMeter } from '../pipeline/meter.ts';
import { discard } from '../pipeline/restore.ts';
import type { VerifyOutcome } from '../pipeline/verify.ts';
import type { ServiceContext } from './service-context.ts';
import { locateCopy } from './copies.ts';
import { restorableStatuses } from '../catalog/journal.ts';
import { recordedRecipients } from './keys.ts';
import type { AgeIdentity } from '../crypto/age.ts';

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
  return failure('CHAIN_BROKEN', `The chain of backup ${top.id} is broken at backup ${at.id}: ${why}. Restore an earlier backup, or make a full backup.`, {
    details: { backupId: at.id },
  });
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
    if (!rec.artifactKey || !rec.sha256 || !rec.rawSha256 || !rec.rawFormat) throw chainBroken(top, rec, 'its journal row is incomplete');
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
    const recipients = recordedRecipients(r);
    links.push({
      id: r.id,
      kind: r.kind,
      key,
      storage,
      sha256: r.sha256!,
      sizeBytes: r.sizeBytes,
      rawSha256: r.rawSha256!,
      rawSizeBytes: r.rawSizeBytes,
      rawFormat: r.rawFormat as RawFormat,
      recipients,
    });
  }
  return links;
}

/**
 * Opens the rebuilt raw dump of a differential or incremental backup for restore. Before anything is
 * returned, every link is checked present and its stored sha256 checked, then fetched into a private
 * temporary folder under DATA_DIR (removed when the stream closes). The stream fails instead of ending when
 * the rebuilt dump's sha256 differs from the journal's.
 */
export async function openChainForRestore(ctx: ServiceContext, top: BackupRecord, signal?: AbortSignal, identities: readonly AgeIdentity[] = []): Promise<Readable> {
  const links = await chainOf(ctx, top);
  await checkLinksPresent(links);
  const dir = await rawCacheOf(ctx).tempDir('restore');
  try {
    await checkLinkHashes(links, signal, dir);
    const stream = rebuildFromChain(links, await fetchChain(links, dir, signal, identities), dir);
    stream.once('close', () => fs.rmSync(dir, { recursive: true, force: true }));
    return stream;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Verifies a differential or incremental backup: every link's sha256, then the rebuilt raw dump's. */
export async function verifyChain(ctx: ServiceContext, top: BackupRecord, signal?: AbortSignal, identities: readonly AgeIdentity[] = []): Promise<VerifyOutcome> {
  let dir: string | undefined;
  try {
    const links = await chainOf(ctx, top);
    await checkLinksPresent(links);
    dir = await rawCacheOf(ctx).tempDir('verify');
    await checkLinkHashes(links, signal, dir);
    const encrypted = [...new Set(links.flatMap((l) => l.recipients))];
    if (encrypted.length > 0 && identities.length === 0) {
      return {
        status: 'success',
        message: `The ${links.length} links of the chain match their sha256. They are encrypted (to ${encrypted.join(', ')}) and were NOT decrypted: give --identity to check the dump inside.`,
        sizeBytes: top.sizeBytes ?? undefined,
        sha256: top.sha256 ?? undefined,
      };
    }
    const raw = createMeter();
    await pipeline(rebuildFromChain(links, await fetchChain(links, dir, signal, identities), dir), raw, discard(), { signal });
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
