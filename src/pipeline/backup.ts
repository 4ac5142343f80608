// The one backup flow, as streams: engine.dump -> hash+count raw -> [tee to the raw cache] -> [delta
// against the parent's raw dump] -> codec.compress -> hash+count stored -> storage.put. One pipeline and the storage's put run side by side; the first failure of either aborts the
// other (which kills the dump's child), so a dead child, a codec error or a full disk all end the run, and
// the storage, by contract, leaves nothing under the key. No temporary files, bounded memory.

import { pipeline } from 'node:stream/promises';
import type { Connection } from '../core/connection.ts';
import type { Codec, Engine, ProgressListener, PutResult, RawFormat, Storage, ToolInfo } from '../core/types.ts';
import { asCoffreError, failure, type CoffreError } from '../core/errors.ts';
import { createMeter } from './meter.ts';
import { createCoalescer } from './coalesce.ts';
import type { Duplex as Transform } from 'node:stream';
import { createDeltaEncoder } from '../delta/index.ts';

export interface BackupStreamInput {
  engine: Engine;
  conn: Connection;
  codec: Codec;
  storage: Storage;
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
}

export interface BackupStreamResult extends ToolInfo {
  rawFormat: RawFormat;
  rawSizeBytes: number;
  rawSha256: string;
  sizeBytes: number;
  sha256: string;
  /** What the storage says it stored. */
  put: PutResult;
}

/** Runs the backup pipeline into `storage` under `key`; rejects with a coded error on any failure. */
export async function streamBackup(input: BackupStreamInput): Promise<BackupStreamResult> {
  const internal = new AbortController();
  const signal = input.signal ? AbortSignal.any([input.signal, internal.signal]) : internal.signal;
  const dump = await input.engine.dump(input.conn, { signal });
  if (input.delta && dump.format !== input.delta.rawFormat) {
    dump.stream.destroy();
    throw failure('DELTA_FORMAT_CHANGED', `The dump is in ${dump.format} format and its parent in ${input.delta.rawFormat}: run a full backup (--kind full).`);
  }
  const raw = createMeter({ onProgress: input.onProgress });
  const stored = createMeter();
  const middle: Transform[] = [];
  if (input.rawTap) middle.push(input.rawTap);
  if (input.delta) middle.push(createDeltaEncoder({ parentPath: input.delta.parentPath, parentSha256: input.delta.parentSha256 }));

  let firstError: unknown;
  const fail = (err: unknown) => {
    firstError ??= err;
    internal.abort();
  };
  const flow = pipeline([dump.stream, createCoalescer(), raw, ...middle, input.codec.compress({ entryName: input.entryName }), stored], { signal }).catch((err: unknown) => {
    fail(err);
    stored.destroy(err as Error); // put sees the failure and removes what it wrote
  });
  const upload = input.storage.put(input.key, stored, signal).catch((err: unknown) => {
    fail(err);
    return undefined;
  });
  const [, put] = await Promise.all([flow, upload]);

  if (firstError !== undefined || !put) {
    if (input.signal?.aborted) throw failure('INTERRUPTED', 'The backup was interrupted before it finished.');
    throw asCoffreError(firstError ?? new Error('The storage did not confirm the upload.'), 'BACKUP_FAILED');
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
    put,
  };
  const mismatch = checkPut(result);
  if (mismatch) throw mismatch;
  return result;
}

/** Compares what the storage reports with what went into it. */
function checkPut(r: BackupStreamResult): CoffreError | undefined {
  if (r.put.size !== r.sizeBytes) {
    return failure('STORAGE_SIZE_MISMATCH', `The storage reports ${r.put.size} bytes stored but ${r.sizeBytes} were sent: the copy is incomplete.`);
  }
  if (r.put.sha256 && r.put.sha256 !== r.sha256) {
    return failure('STORAGE_CHECKSUM_MISMATCH', `The storage reports sha256 ${r.put.sha256} but the bytes sent hash to ${r.sha256}: the copy is corrupt.`);
  }
  return undefined;
}
