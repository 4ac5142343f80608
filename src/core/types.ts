// The extension points of coffre and the records that flow between them. Each interface states its
// contract; implementations are checked against it with `satisfies` and registered by name in their
// folder's index.ts. Bytes always move as streams: no method takes or returns a whole dump in memory.

import type { Readable } from 'node:stream';
import type { Connection } from './connection.ts';
import type { CompressionName } from './codec-names.ts';
import type { EngineName, RawFormat } from './engine-names.ts';

export { engineNames, type EngineName, type RawFormat } from './engine-names.ts';
export { canonicalCompression, compressionAliases, compressionNames, type CompressionName } from './codec-names.ts';

export type BackupKind = 'full' | 'differential' | 'incremental';
export const backupKinds: readonly BackupKind[] = ['full', 'differential', 'incremental'];

/** Set on progress callbacks: bytes so far of the raw dump (or of the restore input). */
export type ProgressListener = (bytes: number) => void;

export interface ToolInfo {
  /** The client program used (`pg_dump`, `mariadb-dump`, `coffre-mongo`, `node:sqlite`). */
  tool: string;
  /** Its version as it reports it, e.g. "15.19". */
  clientVersion: string;
  /** The server's version, e.g. "15.20" or "10.11.19-MariaDB". */
  serverVersion: string;
}

export interface DumpOptions {
  signal?: AbortSignal;
}

/**
 * Rows per table (collection) of one dump, recorded at backup time for restore drills, and how they were
 * counted: `copy-rows` (the data lines of pg_dump's COPY blocks), `insert-tuples` (the value tuples of
 * mariadb-dump's INSERT statements), `bson-documents` (the documents written to the archive), `snapshot-count`
 * (SELECT count(*) on the SQLite snapshot the dump streams). Keys: `schema.table` (PostgreSQL), the table
 * name (MySQL, SQLite), the collection name (MongoDB).
 */
export interface RowCounts {
  method: 'copy-rows' | 'insert-tuples' | 'bson-documents' | 'snapshot-count';
  tables: Record<string, number>;
}

export interface DumpSource extends ToolInfo {
  /**
   * The raw dump. It ends only when the dump is complete and every child exited 0; any failure
   * (exit code, signal, lost connection) makes it emit 'error' instead of 'end'.
   */
  stream: Readable;
  format: RawFormat;
  /**
   * Row counts the engine itself gathered while dumping (MongoDB: documents written; SQLite: the snapshot's
   * counts); valid once the stream has ended. Absent: the pipeline counts from the raw stream (SQL text).
   */
  rowCounts?: () => RowCounts | undefined;
}

/** One user assertion's outcome, as an engine reports it. */
export interface AssertionResult {
  ok: boolean;
  /** The value the assertion gave (first column of the first row; MongoDB: the count), for the journal. */
  value: string;
}

/**
 * What restore drills need of an engine, on top of restore(): all of it runs against the scratch database
 * coffre created for the drill (never the source), named by conn.
 */
export interface DrillSupport {
  /** Drops conn's database (SQLite: removes the file); a missing one is no error. */
  drop(conn: Connection, signal?: AbortSignal): Promise<void>;
  /** Exact row counts of the named tables (collections) in conn's database; a missing table is null. */
  countRows(conn: Connection, tables: readonly string[], signal?: AbortSignal): Promise<Record<string, number | null>>;
  /**
   * Runs one user assertion read-only (a read-only transaction where the engine has one) with a statement
   * timeout of `timeoutMs`; never through a shell. Throws a coded error when it cannot run (syntax, timeout).
   */
  assert(conn: Connection, assertion: string, timeoutMs: number, signal?: AbortSignal): Promise<AssertionResult>;
  /** Checks an assertion's text before a plan keeps it (no connection): throws COFFRE_E_BAD_DRILL_ASSERTION saying what is wrong. */
  checkAssertion(assertion: string): Promise<void>;
}

export interface RestoreOptions {
  signal?: AbortSignal;
  /** Allow overwriting a database (or file) that already holds data. Without it, such a target is refused. */
  replace: boolean;
  onProgress?: ProgressListener;
  /** SQL text restores: what the statement filter (src/sql/filter.ts) lets through. */
  sql?: SqlRestoreOptions;
  /** Which database of a dump that holds several to restore (`--database NAME`), for non-SQL dumps (mongodump). */
  database?: string;
  /** The input's file name, for formats whose bytes do not carry a name (a lone `.bson`: its collection). */
  sourceName?: string;
}

export interface SqlRestoreOptions {
  /** The one database of a dump holding several to restore (`--database NAME`). */
  database?: string;
  /** Let COPY ... FROM/TO PROGRAM in the dump run (`--allow-program`). */
  allowProgram?: boolean;
  /** The newest pg_dump major version that wrote one of the SQL inputs, from their headers. */
  pgDumpMajor?: number;
}

export interface RestoreResult extends ToolInfo {
  /** The database (or SQLite file) that now holds the data. */
  database: string;
  /** What the restore changed or skipped on its way (statements dropped or rewritten, server collections, oplog entries not replayed), for the journal. */
  notes?: string[];
}

export interface TargetState {
  exists: boolean;
  /** True when the database holds no user tables, views, routines or collections (or the file is absent/empty). */
  empty: boolean;
}

/** A database engine: dumps and restores one database given its connection. */
export interface Engine {
  readonly name: EngineName;
  /**
   * Its restore writes the server itself, not a database: a PostgreSQL server run's globals (its roles, which
   * services/restores.ts restores only into a server target). The restore filter lets their statements through.
   */
  readonly restoresServer?: boolean;
  /** Raw formats restore() accepts. */
  readonly restores: readonly RawFormat[];
  /** File extension of a raw dump, without a dot: "sql", "archive", "sqlite". */
  readonly extension: string;
  /**
   * Connects, reports the server version and the client tool that fits it. Fails with a coded error
   * (bad credentials, unreachable host, no fitting client) without changing anything.
   */
  probe(conn: Connection, signal?: AbortSignal): Promise<ToolInfo>;
  /** Starts a full logical dump; see DumpSource for the stream's contract. */
  dump(conn: Connection, options: DumpOptions): Promise<DumpSource>;
  /** Whether the database exists and holds anything. Never creates it. */
  inspect(conn: Connection, signal?: AbortSignal): Promise<TargetState>;
  /**
   * Restores a raw dump of the given format into conn's database. Creates the database when missing.
   * Refuses (COFFRE_E_TARGET_NOT_EMPTY, kind conflict) a non-empty one unless options.replace.
   * Resolves only after the tool exited 0 and the data is committed; on failure the target is left
   * as it was where the engine allows it (one transaction, or a swap after a restore to a side copy).
   * `input` may be a folder path for `pg-directory`.
   */
  restore(conn: Connection, input: Readable | string, format: RawFormat, options: RestoreOptions): Promise<RestoreResult>;
  /** Restore drills' operations on a scratch database. */
  readonly drill: DrillSupport;
  /**
   * Every database of conn's server the connection's user can see, system ones included (a server target's
   * run filters them). Absent for engines without servers (SQLite).
   */
  listDatabases?(conn: Connection, signal?: AbortSignal): Promise<string[]>;
  /** The server's own databases, which a server target leaves out unless an --include names them. */
  readonly systemDatabases?: readonly string[];
}

export interface CompressOptions {
  /** Name of the single entry inside an archive format (zip, tar.gz), e.g. "mydb.sql". */
  entryName: string;
  /**
   * The bytes are a coffre delta (an incremental or differential backup): usually small next to the dump,
   * and made of short changed pieces, so a codec may spend more effort per byte on them (zstd does).
   */
  delta?: boolean;
}

/** A compression format. Both directions are streaming transforms with bounded memory. */
export interface Codec {
  readonly name: CompressionName;
  /** Extension appended to the raw dump's, with its dot (".gz", ".zst", ".zip", ".tar.gz"), or "". */
  readonly extension: string;
  /**
   * The bytes its output starts with, by which restore peels this layer off an input of unknown format
   * (codecs/sniff.ts, which never trusts a file name). Absent: not recognised by its own bytes (none; targz,
   * which sniff finds as a gzip layer holding a tar).
   */
  readonly magic?: readonly number[];
  /** Transform from raw bytes to compressed bytes. */
  compress(options: CompressOptions): import('node:stream').Duplex;
  /** Transform from compressed bytes back to the raw bytes (for archives: the single dump entry). */
  decompress(): import('node:stream').Duplex;
  /**
   * Whether compress() would take the dump's pipe-sized chunks as well as large ones (a child process
   * reading its stdin), so the pipeline need not regroup them into 1 MiB pieces first. Absent: false.
   */
  takesSmallChunks?(): boolean;
}

export interface ObjectInfo {
  key: string;
  size: number;
  modified?: Date;
}

export interface PutResult {
  /** Bytes stored, as the storage reports them after writing. */
  size: number;
  /** sha256 (hex) of what was stored, when the backend computes or verifies one. */
  sha256?: string;
  /** Provider checksum or etag, as the provider names it (e.g. "etag:…", "md5:…", "crc32c:…"). */
  checksum?: string;
}

export interface GetRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive; omitted means to the end. */
  end?: number;
}

/**
 * Where artifacts live. Keys are relative, "/"-separated, with no "..", no leading "/".
 * Implementations never leave a partial object visible under `key`.
 */
export interface Storage {
  readonly type: string;
  /**
   * Stores the whole stream under key. Resolves only when the object is complete and durable
   * (fsynced and renamed on disk; upload completed and checked on a remote). On any failure, including an
   * error from `input`, nothing is left under key and the promise rejects. An existing key is replaced.
   */
  put(key: string, input: Readable, signal?: AbortSignal): Promise<PutResult>;
  /** Streams the object, or the given byte range of it. Rejects with kind not_found when missing. */
  get(key: string, range?: GetRange): Promise<Readable>;
  /** Size and time of an object, or undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with prefix, in no guaranteed order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Checks that the storage is reachable and writable; fails with a coded error saying why not. */
  check(): Promise<void>;
}

/** The JSON file written beside every artifact: enough to understand and restore it without the catalog. */
export interface Manifest {
  format: 'coffre-manifest';
  version: 1;
  id: string;
  plan: string;
  /**
   * The journal ids of the plan and target (written since issue 9): `coffre reindex` attaches an imported
   * row to a plan only by this id, never by the name above, which any file in a destination may claim.
   */
  planId?: string;
  targetId?: string;
  target: string;
  engine: EngineName;
  database: string;
  kind: BackupKind;
  parent?: { id: string; sha256: string; artifact: string };
  compression: CompressionName;
  rawFormat: RawFormat;
  artifact: string;
  sizeBytes: number;
  rawSizeBytes: number;
  sha256: string;
  rawSha256: string;
  tool: string;
  clientVersion: string;
  serverVersion: string;
  startedAt: string;
  finishedAt: string;
  coffreVersion: string;
  /**
   * Present when the artifact is an age v1 file (compressed, then encrypted): the public keys it was
   * encrypted to, never an identity. sha256 and sizeBytes are the encrypted file's.
   */
  encryption?: { format: 'age-v1'; recipients: string[] };
  /** Rows per table (collection) of the dump, for restore drills; absent in manifests older than drills. */
  rowCounts?: RowCounts;
}

/** Destination settings as stored: plain settings, and secrets kept apart (encrypted in the catalog). */
export interface DestinationSettings {
  config: Record<string, unknown>;
  secrets: Record<string, string>;
}

/** A kind of storage (local, s3, gcs, azure): validates a destination's settings and opens it. */
export interface StorageBackend {
  readonly type: string;
  /**
   * Validates settings given by a user (CLI flags or an API body, camelCase keys such as `path`, `bucket`)
   * and splits out the secrets. Throws a usage error naming the bad or missing field.
   */
  configure(input: Record<string, unknown>): DestinationSettings;
  /** Opens the storage; cheap, no network: check() is what connects. */
  open(settings: DestinationSettings): Storage;
}
