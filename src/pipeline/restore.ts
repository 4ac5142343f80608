// The backup flow run backwards: storage.get -> verify hash -> decompress (format sniffed from the bytes)
// -> engine.restore. The stored artifact's sha256 is checked in a first full read before the target is
// touched; the second read is checked again on the fly (a meter that errors instead of ending), so bytes
// that changed in between never get committed either.

import { stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Connection } from '../core/connection.ts';
import type { Engine, EngineName, ProgressListener, RawFormat, RestoreResult, Storage, CompressionName } from '../core/types.ts';
import { asCoffreError, failure, isCoffreError, notFound, usageError } from '../core/errors.ts';
import { openDump } from '../codecs/sniff.ts';
import { createMeter } from './meter.ts';

/** Which engines write each raw format: for an error message when a file does not fit the target. */
const formatEngines: Record<RawFormat, EngineName[]> = {
  sql: ['postgres', 'mysql'],
  'pg-custom': ['postgres'],
  'pg-tar': ['postgres'],
  'pg-directory': ['postgres'],
  'mongo-archive': ['mongodb'],
  sqlite: ['sqlite'],
};

export interface Expected {
  sha256: string;
  size?: number;
}

function checksumError(what: string, expected: Expected, actual: { sha256: string; size: number }): Error {
  const sizeNote = expected.size !== undefined && expected.size !== actual.size ? ` and ${actual.size} bytes instead of ${expected.size}` : '';
  return failure('CHECKSUM_MISMATCH', `${what} is corrupt: its sha256 is ${actual.sha256}, not ${expected.sha256}${sizeNote}. Nothing was restored.`);
}

/** A sink that discards bytes (for reads whose only purpose is a hash). */
export function discard(): Writable {
  return new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() });
}

/** Reads a stored artifact once and fails unless its sha256 (and size) match. */
export async function checkStoredArtifact(storage: Storage, key: string, expected: Expected, signal?: AbortSignal): Promise<void> {
  const meter = createMeter({ expect: { ...expected, error: (actual) => checksumError(`The artifact ${key}`, expected, actual) } });
  try {
    await pipeline(await storage.get(key), meter, discard(), { signal });
  } catch (err) {
    throw asCoffreError(err, 'STORAGE_READ_FAILED');
  }
}

/** Opens a stored artifact for restore, checking its bytes against `expected` as they stream. */
export async function openStoredArtifact(storage: Storage, key: string, expected: Expected): Promise<Readable> {
  const source = await storage.get(key);
  const meter = createMeter({ expect: { ...expected, error: (actual) => checksumError(`The artifact ${key}`, expected, actual) } });
  source.on('error', (err) => meter.destroy(err));
  return source.pipe(meter);
}

/** Opens a restore input given as a path: a dump file (any compression) or a pg_dump -Fd folder. */
export async function openInputPath(file: string): Promise<Readable | string> {
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('FILE_NOT_FOUND', `The file ${file} does not exist.`);
    throw asCoffreError(err, 'FILE_UNREADABLE');
  }
  if (info.isDirectory()) {
    const toc = await stat(`${file}/toc.dat`).catch(() => undefined);
    if (!toc) throw usageError('UNKNOWN_FORMAT', `The folder ${file} is not a pg_dump directory-format dump (it has no toc.dat).`);
    return file;
  }
  if (!info.isFile()) throw usageError('UNKNOWN_FORMAT', `${file} is neither a file nor a pg_dump folder.`);
  return createReadStream(file, { highWaterMark: 1 << 20 });
}

export interface RestoreStreamInput {
  engine: Engine;
  conn: Connection;
  /** The bytes of an artifact or dump file (any compression), or a pg_dump -Fd folder. */
  source: Readable | string;
  replace: boolean;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

export interface RestoreStreamResult extends RestoreResult {
  rawFormat: RawFormat;
  layers: CompressionName[];
  /** Raw bytes fed to the engine (0 for a folder). */
  rawSizeBytes: number;
}

/** Sniffs the input, checks the target's engine can take it, and restores it. */
export async function streamRestore(input: RestoreStreamInput): Promise<RestoreStreamResult> {
  const { engine } = input;
  if (typeof input.source === 'string') {
    if (!engine.restores.includes('pg-directory')) throw formatMismatch(engine, 'pg-directory');
    const result = await input.engine.restore(input.conn, input.source, 'pg-directory', { replace: input.replace, signal: input.signal, onProgress: input.onProgress });
    return { ...result, rawFormat: 'pg-directory', layers: [], rawSizeBytes: 0 };
  }
  const source = input.source;
  const opened = await openDump(source);
  if (!engine.restores.includes(opened.format)) {
    opened.stream.destroy();
    source.destroy();
    throw formatMismatch(engine, opened.format);
  }
  if (opened.sqlDialect && opened.sqlDialect !== engine.name) {
    // Caught here, before the target is touched, rather than as a syntax error halfway through psql.
    opened.stream.destroy();
    source.destroy();
    const tool = opened.sqlDialect === 'mysql' ? 'mysqldump/mariadb-dump' : 'pg_dump';
    throw usageError(
      'FORMAT_MISMATCH',
      `The dump is ${tool} SQL, which a ${engine.name} target cannot run: restore it into a ${opened.sqlDialect} target.`,
      { format: opened.format, dialect: opened.sqlDialect, engine: engine.name },
    );
  }
  const raw = createMeter();
  // Every stream of the pipeline gets a listener before anything can fail: an engine that refuses the
  // target before reading (TARGET_NOT_EMPTY) leaves the input unread, and a layer that breaks later
  // (an archive's second entry) must then become this run's error, never an unhandled 'error' event.
  let streamError: unknown;
  const note = (err: unknown) => {
    streamError ??= err;
  };
  opened.stream.on('error', (err) => {
    note(err);
    raw.destroy(err);
  });
  raw.on('error', note);
  try {
    const result = await engine.restore(input.conn, opened.stream.pipe(raw), opened.format, { replace: input.replace, signal: input.signal, onProgress: input.onProgress });
    if (streamError !== undefined) throw streamError;
    return { ...result, rawFormat: opened.format, layers: opened.layers, rawSizeBytes: raw.bytes };
  } catch (err) {
    throw preferStreamError(err, streamError);
  } finally {
    raw.destroy();
    opened.stream.destroy();
    source.destroy();
  }
}

/**
 * The error a failed restore reports: the engine's own when it refused or failed for its reasons, the
 * input's when the input broke first (a tool that exits 1 on a cut input says less than the layer that cut it).
 */
function preferStreamError(engineError: unknown, streamError: unknown): unknown {
  if (streamError === undefined || engineError === streamError) return engineError;
  if (isCoffreError(engineError) && engineError.kind !== 'failed') return engineError;
  return isCoffreError(streamError) ? streamError : engineError;
}

function formatMismatch(engine: Engine, format: RawFormat): Error {
  const fits = formatEngines[format];
  return usageError(
    'FORMAT_MISMATCH',
    `The dump is in ${format} format, which a ${engine.name} target cannot restore: restore it into a ${fits.join(' or ')} target.`,
    { format, engine: engine.name },
  );
}
