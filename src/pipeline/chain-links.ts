// Reading a differential or incremental backup back: its chain (the full backup, then each delta up to
// it) is fetched from storage into private temporary files (each remote link downloaded once), and the
// delta chain applier rebuilds the raw dump from them. Order matters for safety: every link is first
// checked to exist, then its stored bytes are hashed against the journal, and only then is any of them
// decompressed; so a missing or corrupt link fails with a message naming that link's journal id and
// artifact before anything reaches a target. Decompression sniffs each artifact's layers from its bytes
// (the full must be a raw dump of the journal's format, every other link a coffre delta) and re-checks
// the stored hash on the fly.

import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RawFormat, Storage } from '../core/types.ts';
import { asCoffreError, failure, isCoffreError, type CoffreError } from '../core/errors.ts';
import { openDelta, openDump } from '../codecs/sniff.ts';
import { applyChain } from '../delta/index.ts';
import { createMeter } from './meter.ts';
import { openEncrypted, type AgeIdentity } from '../crypto/age.ts';
import { discard } from './restore.ts';

/** One backup of a chain, as the journal describes it. */
export interface ChainLink {
  /** Journal id. */
  id: string;
  kind: string;
  key: string;
  storage: Storage;
  sha256: string;
  sizeBytes: number | null;
  rawSha256: string;
  rawSizeBytes: number | null;
  rawFormat: RawFormat;
  /** The age recipients the link's artifact is encrypted to (empty: not encrypted): links of one chain may differ. */
  recipients: readonly string[];
}

/** Where each link was decompressed: the full's raw dump, then each delta, oldest first. */
export interface FetchedChain {
  basePath: string;
  deltaPaths: string[];
}

function describeLink(links: readonly ChainLink[], i: number): string {
  const link = links[i];
  return `link ${i + 1} of ${links.length} (the ${link.kind} backup ${link.id}, artifact ${link.key})`;
}

/** A link's artifact is not in its storage. */
export function linkMissing(links: readonly ChainLink[], i: number, cause?: unknown): CoffreError {
  return failure(
    'CHAIN_LINK_MISSING',
    `The backup chain is broken: ${describeLink(links, i)} is missing from its destination. Nothing was restored; restore an earlier backup, or put the artifact back.`,
    { cause, details: { backupId: links[i].id, artifact: links[i].key, link: i + 1 } },
  );
}

/** A link's stored bytes do not match the journal, or do not decompress. */
export function linkCorrupt(links: readonly ChainLink[], i: number, what: string, cause?: unknown): CoffreError {
  return failure(
    'CHAIN_LINK_CORRUPT',
    `The backup chain is broken: ${describeLink(links, i)} is corrupt: ${what}. Nothing was restored; restore an earlier backup, or put back an intact copy of the artifact.`,
    { cause, details: { backupId: links[i].id, artifact: links[i].key, link: i + 1 } },
  );
}

/** Fails with CHAIN_LINK_MISSING for the first link whose artifact is absent (or of the wrong size). */
export async function checkLinksPresent(links: readonly ChainLink[]): Promise<void> {
  for (let i = 0; i < links.length; i++) {
    let info;
    try {
      info = await links[i].storage.stat(links[i].key);
    } catch (err) {
      throw linkMissing(links, i, err);
    }
    if (!info) throw linkMissing(links, i);
    if (links[i].sizeBytes !== null && info.size !== links[i].sizeBytes) {
      throw linkCorrupt(links, i, `it holds ${info.size} bytes, and the journal recorded ${links[i].sizeBytes}`);
    }
  }
}

/** Where checkLinkHashes keeps the stored bytes of a remote link for fetchChain. */
function storedCopy(dir: string, link: ChainLink): string {
  return path.join(dir, `${link.id}.stored`);
}

/**
 * Hashes every link's stored bytes against the journal (a full read of each artifact, nothing decoded).
 * With `dir`, a link on a remote storage is kept there (0600) as it is read, so that fetchChain decodes
 * that copy rather than downloading it a second time; a local link is read again in place.
 */
export async function checkLinkHashes(links: readonly ChainLink[], signal?: AbortSignal, dir?: string): Promise<void> {
  for (let i = 0; i < links.length; i++) {
    const keep = dir !== undefined && links[i].storage.type !== 'local' ? storedCopy(dir, links[i]) : undefined;
    const meter = createMeter();
    try {
      await pipeline(await links[i].storage.get(links[i].key), meter, keep ? fs.createWriteStream(keep, { mode: 0o600, highWaterMark: 1 << 20 }) : discard(), { signal });
    } catch (err) {
      if (keep) fs.rmSync(keep, { force: true });
      if (signal?.aborted) throw err;
      if (isCoffreError(err) && err.kind === 'not_found') throw linkMissing(links, i, err);
      throw linkCorrupt(links, i, `it could not be read (${asCoffreError(err).message})`, err);
    }
    const sha = meter.digest();
    if (sha !== links[i].sha256) {
      if (keep) fs.rmSync(keep, { force: true });
      throw linkCorrupt(links, i, `its sha256 is ${sha}, and the journal recorded ${links[i].sha256}`);
    }
  }
}

/**
 * Decompresses every link into `dir` (0600 files): the full's raw dump (checked against its raw sha256) and
 * each delta, from the copy checkLinkHashes kept there when it did, else from the storage. The stored hash
 * is checked again as the bytes stream; an encrypted link is decrypted with `identities` in between (a
 * link no identity opens fails with its COFFRE_E_AGE_* usage error).
 */
export async function fetchChain(links: readonly ChainLink[], dir: string, signal?: AbortSignal, identities: readonly AgeIdentity[] = []): Promise<FetchedChain> {
  const files: string[] = [];
  for (let i = 0; i < links.length; i++) {
    const link = links[i];
    const file = path.join(dir, i === 0 ? `${link.id}.raw` : `${link.id}.delta`);
    const stored = createMeter({
      expect: { sha256: link.sha256, size: link.sizeBytes ?? undefined, error: (a) => linkCorrupt(links, i, `its sha256 is ${a.sha256}, and the journal recorded ${link.sha256}`) },
    });
    const raw = createMeter(
      i === 0
        ? {
            expect: {
              sha256: link.rawSha256,
              size: link.rawSizeBytes ?? undefined,
              error: (a) => linkCorrupt(links, i, `it decompresses to a dump with sha256 ${a.sha256}, and the journal recorded ${link.rawSha256}`),
            },
          }
        : {},
    );
    // Destroyed on any failure: an S3 body left open would keep its socket, and the process, alive until the
    // server's timeout (a backup whose encrypted parent no identity opens waited two minutes to exit).
    let source: Readable | undefined;
    try {
      const kept = storedCopy(dir, link);
      source = fs.existsSync(kept) ? fs.createReadStream(kept, { highWaterMark: 1 << 20 }) : await link.storage.get(link.key);
      source.on('error', (err) => stored.destroy(err));
      const what = `The ${link.kind} backup ${link.id} (link ${i + 1} of ${links.length})`;
      const input = (await openEncrypted(source.pipe(stored), { identities, recipients: link.recipients, what })).stream;
      let stream: Readable;
      if (i === 0) {
        const opened = await openDump(input);
        if (opened.format !== link.rawFormat) {
          opened.stream.destroy();
          throw linkCorrupt(links, i, `it holds a ${opened.format} dump, and the journal recorded ${link.rawFormat}`);
        }
        stream = opened.stream;
      } else {
        stream = (await openDelta(input)).stream;
      }
      await pipeline(stream, raw, fs.createWriteStream(file, { mode: 0o600, highWaterMark: 1 << 20 }), { signal });
      fs.rmSync(kept, { force: true }); // decoded: the stored copy is no longer needed
    } catch (err) {
      source?.destroy();
      stored.destroy();
      if (signal?.aborted) throw err;
      if (isCoffreError(err) && (err.code === 'COFFRE_E_CHAIN_LINK_CORRUPT' || err.code === 'COFFRE_E_CHAIN_LINK_MISSING')) throw err;
      if (isCoffreError(err) && err.kind === 'usage' && err.code.startsWith('COFFRE_E_AGE_')) throw err; // no identity for it
      if (isCoffreError(err) && err.kind === 'not_found') throw linkMissing(links, i, err);
      throw linkCorrupt(links, i, `it does not decompress (${asCoffreError(err).message})`, err);
    }
    files.push(file);
  }
  return { basePath: files[0], deltaPaths: files.slice(1) };
}

/**
 * The raw dump of the chain's last link, rebuilt from fetched files. The stream fails instead of ending
 * when the result's sha256 differs from the last link's recorded raw sha256 (or any delta is damaged).
 */
export function rebuildFromChain(links: readonly ChainLink[], fetched: FetchedChain, tempDir: string): Readable {
  const top = links[links.length - 1];
  const rebuilt = applyChain({ basePath: fetched.basePath, baseSha256: links[0].rawSha256, deltaPaths: fetched.deltaPaths, expectedSha256: top.rawSha256, tempDir });
  const meter = createMeter({
    expect: {
      sha256: top.rawSha256,
      size: top.rawSizeBytes ?? undefined,
      error: (a) =>
        failure(
          'CHAIN_MISMATCH',
          `The chain of backup ${top.id} rebuilds a dump with sha256 ${a.sha256} (${a.size} bytes), and the journal recorded ${top.rawSha256}. Nothing was restored.`,
        ),
    },
  });
  rebuilt.on('error', (err) => meter.destroy(err));
  meter.once('close', () => rebuilt.destroy()); // a consumer that stops early closes the chain's files
  return rebuilt.pipe(meter);
}
