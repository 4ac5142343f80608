// Verification of a stored backup without touching any database: re-hash the artifact against the
// journal, then (decrypt and) decompress it end to end (format sniffed, as a restore would) and compare
// the raw dump's sha256 and size with those recorded at backup time.

import { pipeline } from 'node:stream/promises';
import type { RawFormat, Storage } from '../core/types.ts';
import { asCoffreError, isCoffreError } from '../core/errors.ts';
import { openDump } from '../codecs/sniff.ts';
import { createMeter } from './meter.ts';
import { discard } from './restore.ts';
import { openEncrypted, type AgeIdentity } from '../crypto/age.ts';

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

/** How to open an encrypted artifact: the identities to try and the recipients the journal recorded. */
export interface VerifyKeys {
  identities: readonly AgeIdentity[];
  recipients: readonly string[];
}

/**
 * Checks a stored artifact against what the journal says; never throws for a bad artifact, only reports.
 * An encrypted artifact with no identity given is checked by its sha256 only, and the message says so.
 */
export async function verifyArtifact(
  storage: Storage,
  key: string,
  expected: VerifyExpectation,
  signal?: AbortSignal,
  keys: VerifyKeys = { identities: [], recipients: [] },
): Promise<VerifyOutcome> {
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
  if (keys.recipients.length > 0 && keys.identities.length === 0) {
    return {
      status: 'success',
      message: `sha256 matches the journal (${stored.bytes} bytes). The artifact is encrypted (to ${keys.recipients.join(', ')}) and was NOT decrypted: give --identity to check the dump inside.`,
      sizeBytes: stored.bytes,
      sha256,
    };
  }
  const raw = createMeter();
  let rawFormat: RawFormat | undefined;
  try {
    const plain = await openEncrypted(await storage.get(key), { identities: keys.identities, recipients: keys.recipients, what: `The artifact ${key}` });
    const opened = await openDump(plain.stream);
    rawFormat = opened.format;
    await pipeline(opened.stream, raw, discard(), { signal });
  } catch (err) {
    if (isCoffreError(err) && err.kind === 'usage' && err.code.startsWith('COFFRE_E_AGE_')) throw err; // no identity that opens it: exit 2
    return {
      status: 'failed',
      message: `The artifact ${key} hashes right but does not ${keys.recipients.length ? 'decrypt or ' : ''}decompress: ${asCoffreError(err).message}`,
      sizeBytes: stored.bytes,
      sha256,
    };
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
