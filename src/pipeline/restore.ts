// The backup flow run backwards: storage.get -> verify hash -> [decrypt, age sniffed from the bytes] ->
// decompress (format sniffed from the bytes) -> engine.restore. The stored artifact's sha256 is checked in a first full read before the target is
// touched; the second read is checked again on the fly (a meter that errors instead of ending), so bytes
// that changed in between never get committed either.

import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createReadStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Connection } from '../core/connection.ts';
import { enginesReading } from '../core/engine-names.ts';
import type { Engine, ProgressListener, RawFormat, RestoreResult, SqlRestoreOptions, Storage, CompressionName } from '../core/types.ts';
import { asCoffreError, failure, isCoffreError, notFound, usageError } from '../core/errors.ts';
import { openDump } from '../codecs/sniff.ts';
import { extractTree } from '../codecs/archive-tree.ts';
import { scanDumpFolder } from '../formats/mongo-folder.ts';
import { createMeter } from './meter.ts';
import { openEncrypted, type AgeIdentity } from '../crypto/age.ts';
import { filterSql, notInDump, scanSql, severalDatabases, type SqlDialect } from '../sql/filter.ts';

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
    await folderFormat(file); // refuses a folder that holds no dump
    return file;
  }
  if (!info.isFile()) throw usageError('UNKNOWN_FORMAT', `${file} is neither a file nor a dump folder.`);
  return createReadStream(file, { highWaterMark: 1 << 20 });
}

/**
 * What a folder holds, from its layout: a pg_dump -Fd dump (toc.dat) or mongodump's output (`<db>/<coll>.bson`
 * files). Folders that hold only one folder (how a tar or zip of a dump unpacks) are looked through.
 */
export async function folderFormat(dir: string): Promise<{ format: 'pg-directory' | 'mongo-directory'; path: string }> {
  for (let at = dir, depth = 0; depth <= 4; depth++) {
    if ((await stat(path.join(at, 'toc.dat')).catch(() => undefined))?.isFile()) return { format: 'pg-directory', path: at };
    const entries = await readdir(at, { withFileTypes: true });
    if (entries.length !== 1 || !entries[0].isDirectory()) break;
    at = path.join(at, entries[0].name);
  }
  if (await scanDumpFolder(dir)) return { format: 'mongo-directory', path: dir };
  throw usageError(
    'UNKNOWN_FORMAT',
    `The folder ${dir} holds no dump coffre knows: neither a pg_dump directory-format dump (toc.dat) nor mongodump output (<db>/<collection>.bson and .metadata.json files).`,
  );
}

/** A restore input named by the user: a path (a file or a pg_dump -Fd folder), or a stream read once (stdin). */
export type RestoreInput = { path: string } | { stream: Readable; name: string };

export interface RestoreStreamInput {
  engine: Engine;
  conn: Connection;
  /** The bytes of an artifact or dump file (any compression), or a pg_dump -Fd folder. */
  source?: Readable | string;
  /** Or inputs named by the user, restored in order as one run (several only for plain SQL). */
  inputs?: RestoreInput[];
  replace: boolean;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  sql?: SqlRestoreOptions;
  /** Identities for age-encrypted inputs (sniffed from their first bytes), and the recipients the journal recorded. */
  identities?: readonly AgeIdentity[];
  recipients?: readonly string[];
  /** Names a journal artifact in messages ("The artifact of backup …"). */
  what?: string;
}

export interface RestoreStreamResult extends RestoreResult {
  rawFormat: RawFormat;
  layers: CompressionName[];
  /** Raw bytes fed to the engine (0 for a folder). */
  rawSizeBytes: number;
  /** An input was an age file, decrypted on the way. */
  encrypted: boolean;
}

interface OpenedInput {
  name: string;
  format: RawFormat;
  layers: CompressionName[];
  /** The raw dump; undefined for a folder. */
  stream?: Readable;
  folder?: string;
  /** A temporary folder an archive of a dump folder was unpacked into, removed once the restore ends. */
  unpacked?: string;
  sqlDialect?: string;
  pgDumpMajor?: number;
  encrypted: boolean;
}

/** How to open age-encrypted inputs. */
interface InputKeys {
  identities: readonly AgeIdentity[];
  recipients?: readonly string[];
  what?: string;
}

function inputName(input: RestoreInput): string {
  return 'path' in input ? input.path : input.name;
}

async function openInput(input: RestoreInput | Readable | string, keys: InputKeys): Promise<OpenedInput> {
  const source = typeof input === 'string' || input instanceof Readable ? input : 'path' in input ? await openInputPath(input.path) : input.stream;
  const name = typeof input === 'string' ? input : input instanceof Readable ? 'the artifact' : inputName(input);
  if (typeof source === 'string') {
    const found = await folderFormat(source);
    return { name, format: found.format, layers: [], folder: found.path, encrypted: false };
  }
  // Encryption is the outermost layer (compressed, then encrypted): peeled first, then the codecs.
  const what = keys.what ?? (name === 'the artifact' ? 'The artifact' : `The file ${name}`);
  const plain = await openEncrypted(source, { identities: keys.identities, recipients: keys.recipients, what });
  const opened = await openDump(plain.stream, { trees: true });
  if (opened.tree) {
    // A tar or zip of a dump folder: unpacked (entry rules of codecs/archive-rules.ts) into a private
    // temporary folder, restored from there, and removed whatever happens.
    const dir = await mkdtemp(path.join(tmpdir(), 'coffre-unpacked-'));
    try {
      await extractTree(opened.stream, opened.tree, dir);
      const found = await folderFormat(dir);
      return { name, format: found.format, layers: opened.layers, folder: found.path, unpacked: dir, encrypted: plain.encrypted };
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    } finally {
      opened.stream.destroy();
      source.destroy();
    }
  }
  return { name, format: opened.format, layers: opened.layers, stream: opened.stream, sqlDialect: opened.sqlDialect, pgDumpMajor: opened.pgDumpMajor, encrypted: plain.encrypted };
}

/** Refuses an input the target's engine cannot take, before the target is touched. */
function checkFits(engine: Engine, o: OpenedInput): void {
  if (!engine.restores.includes(o.format)) throw formatMismatch(engine, o.format);
  if (o.sqlDialect && o.sqlDialect !== engine.name) {
    // Caught here, before the target is touched, rather than as a syntax error halfway through psql.
    const tool = o.sqlDialect === 'mysql' ? 'mysqldump/mariadb-dump' : o.sqlDialect === 'sqlite' ? 'sqlite3 .dump' : 'pg_dump';
    throw usageError(
      'FORMAT_MISMATCH',
      `The dump ${o.name === 'the artifact' ? '' : `${o.name} `}is ${tool} SQL, which a ${engine.name} target cannot run: restore it into a ${o.sqlDialect} target.`,
      {
        format: o.format,
        dialect: o.sqlDialect,
        engine: engine.name,
      },
    );
  }
}

/**
 * Sniffs the input(s), checks the target's engine can take them, and restores them. SQL text goes through
 * the restore filter (src/sql/filter.ts); inputs given by path are read a first time for what they hold
 * (databases, refused commands), so that such a refusal comes before anything runs.
 */
export async function streamRestore(input: RestoreStreamInput): Promise<RestoreStreamResult> {
  const { engine } = input;
  const specs: (RestoreInput | Readable | string)[] = input.inputs ?? (input.source !== undefined ? [input.source] : []);
  if (specs.length === 0) throw usageError('RESTORE_SOURCE', 'Nothing to restore: give a journal id or --file PATH.');
  const firstSpec = specs[0];
  const sourceName = typeof firstSpec === 'object' && !(firstSpec instanceof Readable) ? inputName(firstSpec) : undefined;
  const options = { replace: input.replace, signal: input.signal, onProgress: input.onProgress, sql: input.sql, database: input.sql?.database, sourceName };
  const keys: InputKeys = { identities: input.identities ?? [], recipients: input.recipients, what: input.what };
  const opened: OpenedInput[] = [];
  const destroyAll = () => {
    for (const o of opened) if (o.unpacked) void rm(o.unpacked, { recursive: true, force: true });
    for (const o of opened) o.stream?.destroy();
    for (const s of specs) if (s instanceof Readable) s.destroy();
    for (const s of specs) if (typeof s === 'object' && !(s instanceof Readable) && 'stream' in s) s.stream.destroy();
  };
  try {
    for (const spec of specs) {
      const o = await openInput(spec, keys);
      opened.push(o);
      checkFits(engine, o);
    }
    if (opened.length > 1 && opened.some((o) => o.format !== 'sql')) {
      const other = opened.find((o) => o.format !== 'sql')!;
      throw usageError(
        'SEVERAL_FILES',
        `Several --file inputs are restored as one SQL script, so each must be plain SQL; ${other.name} is a ${other.format} dump: restore it alone.`,
      );
    }
  } catch (err) {
    destroyAll();
    throw err;
  }

  // Every stream of the pipeline gets a listener before anything can fail: an engine that refuses the
  // target before reading (TARGET_NOT_EMPTY) leaves the input unread, and a layer that breaks later
  // (an archive's second entry) must then become this run's error, never an unhandled 'error' event.
  let streamError: unknown;
  const note = (err: unknown) => {
    streamError ??= err;
  };
  for (const o of opened) o.stream?.on('error', note);
  const first = opened[0];
  if (first.format !== 'sql') {
    if (first.folder !== undefined) {
      try {
        const result = await engine.restore(input.conn, first.folder, first.format, options);
        return { ...result, rawFormat: first.format, layers: first.layers, rawSizeBytes: 0, encrypted: first.encrypted };
      } finally {
        if (first.unpacked) await rm(first.unpacked, { recursive: true, force: true });
      }
    }
    const raw = createMeter();
    first.stream!.on('error', (err) => raw.destroy(err));
    raw.on('error', note);
    try {
      const result = await engine.restore(input.conn, first.stream!.pipe(raw), first.format, options);
      if (streamError !== undefined) throw streamError;
      return { ...result, rawFormat: first.format, layers: first.layers, rawSizeBytes: raw.bytes, encrypted: first.encrypted };
    } catch (err) {
      throw preferStreamError(err, streamError);
    } finally {
      raw.destroy();
      destroyAll();
    }
  }

  const dialect = engine.name as SqlDialect;
  const filterOptions = { dialect, select: input.sql?.database, allowProgram: input.sql?.allowProgram, serverStatements: engine.restoresServer === true };
  const names = opened.map((o) => o.name);
  const rereadable = specs.every((s) => typeof s === 'object' && !(s instanceof Readable) && 'path' in s);
  let streams: (Readable | (() => Promise<Readable>))[];
  if (rereadable) {
    // First pass: what the files hold. Then each is opened again, one at a time, for the restore.
    try {
      const report = await scanSql(
        opened.map((o) => async () => o.stream!),
        filterOptions,
        names,
      );
      if (filterOptions.select === undefined && report.databases.length > 1) throw severalDatabases(dialect, report.databases, true);
      if (filterOptions.select !== undefined && !report.databases.includes(filterOptions.select)) throw notInDump(dialect, filterOptions.select, report.databases);
    } catch (err) {
      destroyAll();
      throw err;
    }
    streams = specs.map((spec) => async () => {
      const again = await openInput(spec as RestoreInput, keys);
      if (again.format !== 'sql' || !again.stream) throw failure('INPUT_CHANGED', `${again.name} changed while it was being restored: nothing was restored.`);
      return again.stream;
    });
  } else {
    streams = opened.map((o) => o.stream!);
  }
  const filtered = filterSql(streams, filterOptions, names);
  const majors = opened.map((o) => o.pgDumpMajor ?? 0);
  const pgDumpMajor = Math.max(...majors) || undefined;
  filtered.on('error', note);
  try {
    const result = await engine.restore(input.conn, filtered, 'sql', { ...options, sql: { ...options.sql, pgDumpMajor } });
    if (streamError !== undefined) throw streamError;
    const layers = [...new Set(opened.flatMap((o) => o.layers))];
    return { ...result, rawFormat: 'sql', layers, rawSizeBytes: filtered.sqlFilter.report.bytesIn, encrypted: opened.some((o) => o.encrypted) };
  } catch (err) {
    throw preferStreamError(err, streamError);
  } finally {
    filtered.destroy();
    destroyAll();
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

/** Each raw format in a user's words, so a refusal names what was found (never "toc.dat" to a MongoDB target). */
const formatWords: Record<RawFormat, string> = {
  sql: 'SQL text',
  'pg-custom': 'a pg_dump custom-format (-Fc) archive',
  'pg-tar': 'a pg_dump tar-format (-Ft) archive',
  'pg-directory': 'a pg_dump directory-format (-Fd) dump',
  'mongo-archive': 'a mongodump archive',
  'mongo-directory': 'a mongodump folder (<db>/<collection>.bson)',
  'mongo-bson': "a collection's .bson file (mongodump)",
  sqlite: 'a SQLite database file',
};

function formatMismatch(engine: Engine, format: RawFormat): Error {
  const fits = enginesReading(format);
  return usageError('FORMAT_MISMATCH', `The dump is ${formatWords[format]}, which a ${engine.name} target cannot restore: restore it into a ${fits.join(' or ')} target.`, {
    format,
    engine: engine.name,
  });
}
