// The one backup flow, as streams: engine.dump -> hash+count raw -> [tee to the raw cache] -> [delta
// against the parent's raw dump] -> codec.compress -> [age encryption] -> hash+count stored -> fan-out -> storage.put, once per
// destination (pipeline/fan-out.ts). The pipeline and the uploads run side by side: a failure upstream (a
// dead child, a codec error) fails every upload, and each storage, by contract, leaves nothing under the
// key; a failed upload is dropped while the others go on, and only when all failed does the dump stop.
// No temporary files, bounded memory.

import { pipeline } from 'node:stream/promises';
import type { Connection } from '../core/connection.ts';
import type { Codec, Engine, ProgressListener, PutResult, RawFormat, RowCounts, ToolInfo } from '../core/types.ts';
import { asCoffreError, failure, type CoffreError } from '../core/errors.ts';
import { createMeter } from './meter.ts';
import { allFailed, fanOut, type CopyOutcome, type FanTarget } from './fan-out.ts';
import { createCoalescer } from './coalesce.ts';
import { createReclaimer } from './reclaim.ts';
import type { Duplex as Transform } from 'node:stream';
import { createDeltaEncoder } from '../delta/index.ts';
import { createAgeEncryptor, type AgeRecipient } from '../crypto/age.ts';
import { createRowCounter } from './row-count.ts';

export interface BackupStreamInput {
  engine: Engine;
  conn: Connection;
  codec: Codec;
  /** Every destination to upload to (at least one); each gets the same bytes under `key`. */
  storages: FanTarget[];
  key: string;
  /** Name of the dump inside archive formats (zip, tar.gz). */
  entryName: string;
  signal?: AbortSignal;
  /** Raw dump bytes so far. */
  onProgress?: ProgressListener;
  /**
   * Store a delta against this parent instead of the whole dump (differential and incremental backups):
   * the raw dump goes through the delta encoder before the codec. The dump must be in `rawFormat`.
   */
  delta?: { parentPath: string; parentSha256: string; rawFormat: RawFormat };
  /** A pass-through given every raw byte (after the raw meter), e.g. the tee into the raw-dump cache. */
  rawTap?: Transform;
  /** Encrypt the compressed bytes to these age recipients (src/crypto/age.ts); what is hashed and stored is the age file. */
  encryptTo?: readonly AgeRecipient[];
}

export interface BackupStreamResult extends ToolInfo {
  rawFormat: RawFormat;
  rawSizeBytes: number;
  rawSha256: string;
  sizeBytes: number;
  sha256: string;
  /** What the first storage that took the artifact says it stored. */
  put: PutResult;
  /** One outcome per destination, in the order given; a failed one's storage holds nothing under the key. */
  copies: CopyOutcome[];
  /** Rows per table of the dump (for restore drills), when the engine or the raw stream tells them. */
  rowCounts?: RowCounts;
}

/**
 * Runs the backup pipeline into every storage under `key`. Resolves when at least one upload landed and
 * checked out (see `copies` for each); rejects with a coded error when the dump failed or no upload did.
 */
export async function streamBackup(input: BackupStreamInput): Promise<BackupStreamResult> {
  const internal = new AbortController();
  const signal = input.signal ? AbortSignal.any([input.signal, internal.signal]) : internal.signal;
  const dump = await input.engine.dump(input.conn, { signal });
  if (input.delta && dump.format !== input.delta.rawFormat) {
    dump.stream.destroy();
    throw failure('DELTA_FORMAT_CHANGED', `The dump is in ${dump.format} format and its parent in ${input.delta.rawFormat}: run a full backup ({hint}).`, {
      hint: { kind: 'full' },
    });
  }
  // Spent chunks are freed as data goes by, raw and stored alike (pipeline/reclaim.ts): bounded memory.
  const reclaim = createReclaimer();
  // `weight`: the buffers made per byte counted (an encrypted backup leaves the compressor's and the cipher's).
  const counting = (then?: ProgressListener, weight = 1): ProgressListener => {
    let seen = 0;
    return (bytes) => {
      reclaim((bytes - seen) * weight);
      seen = bytes;
      then?.(bytes);
    };
  };
  const raw = createMeter({ onProgress: counting(input.onProgress) });
  const encrypting = (input.encryptTo?.length ?? 0) > 0;
  const stored = createMeter({ onProgress: counting(undefined, encrypting ? 2 : 1) });
  const middle: Transform[] = [];
  if (input.rawTap) middle.push(input.rawTap);
  // The raw meter upstream has hashed every byte by the time the encoder's input ends: its digest goes in the delta's trailer.
  if (input.delta) middle.push(createDeltaEncoder({ parentPath: input.delta.parentPath, parentSha256: input.delta.parentSha256, newSha256: () => raw.digest() }));

  let firstError: unknown;
  const fail = (err: unknown) => {
    firstError ??= err;
    internal.abort();
  };
  const fan = fanOut(input.storages, input.key, signal);
  // On any failure pipeline() destroys every stage, the fan's sink included, which fails every upload.
  const encrypt = encrypting ? [createAgeEncryptor(input.encryptTo!)] : [];
  // Dump tools write 4-16 KiB at a time; regroup them (coalesce.ts) unless every stage after takes them as they come.
  const regroup = input.delta || input.rawTap || !input.codec.takesSmallChunks?.() ? [createCoalescer()] : [];
  const flow = pipeline(
    [dump.stream, ...regroup, raw, ...middle, input.codec.compress({ entryName: input.entryName, delta: input.delta !== undefined }), ...encrypt, stored, fan.sink],
    { signal },
  ).catch(fail);
  // Row counts for restore drills: the engine's own (MongoDB, SQLite), else read off the raw dump's chunks
  // by a listener beside the pipe (pipeline/row-count.ts), no stage of its own.
  const counter = dump.rowCounts ? undefined : createRowCounter(dump.format, input.engine.name);
  if (counter) dump.stream.on('data', counter.update);
  const [, copies] = await Promise.all([flow, fan.done]);

  if (firstError !== undefined) {
    if (input.signal?.aborted) throw failure('INTERRUPTED', 'The backup was interrupted before it finished.');
    if (fan.exhausted()) throw allFailed(input.storages, copies);
    throw asCoffreError(firstError, 'BACKUP_FAILED');
  }

  const result: BackupStreamResult = {
    tool: dump.tool,
    clientVersion: dump.clientVersion,
    serverVersion: dump.serverVersion,
    rawFormat: dump.format,
    rawSizeBytes: raw.bytes,
    rawSha256: raw.digest(),
    sizeBytes: stored.bytes,
    sha256: stored.digest(),
    put: { size: 0 },
    copies,
    rowCounts: counter ? counter.result() : dump.rowCounts?.(),
  };
  // A copy whose storage reports other bytes than were sent is failed and removed.
  for (let i = 0; i < copies.length; i++) {
    const put = copies[i].put;
    const mismatch = put && checkPut(put, result);
    if (mismatch) {
      copies[i] = { error: mismatch };
      await input.storages[i].storage.delete(input.key).catch(() => {});
    }
  }
  const first = copies.find((c) => c.put);
  if (!first?.put) throw allFailed(input.storages, copies);
  result.put = first.put;
  return result;
}

/** Compares what a storage reports with what went into it. */
function checkPut(put: PutResult, r: { sizeBytes: number; sha256: string }): CoffreError | undefined {
  if (put.size !== r.sizeBytes) {
    return failure('STORAGE_SIZE_MISMATCH', `The storage reports ${put.size} bytes stored but ${r.sizeBytes} were sent: the copy is incomplete.`);
  }
  if (put.sha256 && put.sha256 !== r.sha256) {
    return failure('STORAGE_CHECKSUM_MISMATCH', `The storage reports sha256 ${put.sha256} but the bytes sent hash to ${r.sha256}: the copy is corrupt.`);
  }
  return undefined;
}
