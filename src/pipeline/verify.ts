// Verification of a stored backup without touching any database: re-hash the artifact against the
// journal, then decompress it end to end (format sniffed, as a restore would) and compare the raw dump's
// sha256 and size with those recorded at backup time.

import { pipeline } from 'node:stream/promises';
import type { RawFormat, Storage } from '../core/types.ts';
import { asCoffreError } from '../core/errors.ts';
import { openDump } from '../codecs/sniff.ts';
import { createMeter } from './meter.ts';
import { discard } from './restore.ts';

export interface VerifyExpectation {
  sha256: string;
  sizeBytes: number;
  rawSha256: string;
  rawSizeBytes: number;
}

export interface VerifyOutcome {
  status: 'success' | 'failed';
  message: string;
  sizeBytes?: number;
  sha256?: string;
  rawSizeBytes?: number;
  rawSha256?: string;
  rawFormat?: RawFormat;
}

/** Checks a stored artifact against what the journal says; never throws for a bad artifact, only reports. */
export async function verifyArtifact(storage: Storage, key: string, expected: VerifyExpectation, signal?: AbortSignal): Promise<VerifyOutcome> {
  const stored = createMeter();
  try {
    await pipeline(await storage.get(key), stored, discard(), { signal });
  } catch (err) {
    return { status: 'failed', message: `The artifact ${key} could not be read: ${asCoffreError(err).message}` };
  }
  const sha256 = stored.digest();
  if (sha256 !== expected.sha256 || stored.bytes !== expected.sizeBytes) {
    return {
      status: 'failed',
      message: `The artifact ${key} is corrupt: sha256 ${sha256} (${stored.bytes} bytes) instead of ${expected.sha256} (${expected.sizeBytes} bytes).`,
      sizeBytes: stored.bytes,
      sha256,
    };
  }
  const raw = createMeter();
  let rawFormat: RawFormat | undefined;
  try {
    const opened = await openDump(await storage.get(key));
    rawFormat = opened.format;
    await pipeline(opened.stream, raw, discard(), { signal });
  } catch (err) {
    return { status: 'failed', message: `The artifact ${key} hashes right but does not decompress: ${asCoffreError(err).message}`, sizeBytes: stored.bytes, sha256 };
  }
  const rawSha256 = raw.digest();
  const base = { sizeBytes: stored.bytes, sha256, rawSizeBytes: raw.bytes, rawSha256, rawFormat };
  if (rawSha256 !== expected.rawSha256 || raw.bytes !== expected.rawSizeBytes) {
    return {
      ...base,
      status: 'failed',
      message: `The artifact ${key} decompresses to a different dump: raw sha256 ${rawSha256} (${raw.bytes} bytes) instead of ${expected.rawSha256} (${expected.rawSizeBytes} bytes).`,
    };
  }
  return { ...base, status: 'success', message: `sha256 and raw dump (${raw.bytes} bytes, ${rawFormat}) match the journal.` };
}
