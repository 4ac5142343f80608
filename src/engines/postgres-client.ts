// How coffre reaches a PostgreSQL server: a short in-process session (the `pg` driver) for questions and
// DDL (versions, emptiness, CREATE/DROP/RENAME DATABASE), and the server's own client programs (pg_dump,
// psql, pg_restore) for the data. A pg_dump older than the server refuses to run, so the client is chosen
// by version among /usr/lib/postgresql/*/bin and PATH (or only COFFRE_PG_BIN_DIR when set).
//
// Safety of the child's command line: the password travels in a 0600 PGPASSFILE (or, if it holds a
// newline that a passfile cannot express, the child's own PGPASSWORD), never in argv. Host, port and user
// are `--opt=value` arguments, so a value starting with `-` stays a value. The database name goes in a
// quoted conninfo `dbname='…'`, so a name containing `=` or starting with `-` is never read as a
// connection string or as an option.

import { access, readdir, realpath } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Connection } from '../core/connection.ts';
import { CoffreError, failure } from '../core/errors.ts';
import { redact, tail } from '../core/redact.ts';
import { createSecretFile, runTool } from '../children/process.ts';
import { clientToolDirs, connectTimeoutSeconds, inheritedEnvironment } from '../config.ts';

/** The driver's connection bound: the URL's connect_timeout (seconds, as libpq reads it) or CONNECT_TIMEOUT_SECONDS. */
function connectTimeoutMs(conn: Connection): number {
  const own = conn.params.connect_timeout;
  if (own !== undefined && /^\d{1,6}$/.test(own)) return Number(own) * 1000;
  return connectTimeoutSeconds() * 1000;
}

export interface ServerVersion {
  /** As the server says it, first word only: "15.20". */
  text: string;
  /** server_version_num: 150020. */
  num: number;
}

export interface PgClient {
  /** Folder holding pg_dump, psql and pg_restore. */
  dir: string;
  /** pg_dump --version, first number: "15.20". */
  version: string;
  num: number;
  /** Full path of one of the client programs in that folder. */
  bin(name: 'pg_dump' | 'psql' | 'pg_restore' | 'pg_dumpall'): string;
}

/** The user the server sees: the URL's, else libpq's default (PGUSER, then the OS user). */
export function userOf(conn: Connection): string {
  return conn.user ?? inheritedEnvironment((name) => name === 'PGUSER').PGUSER ?? userInfo().username;
}

function where(conn: Connection): string {
  return `${conn.host ?? 'localhost'}:${conn.port ?? 5432}`;
}

/** Double-quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes an SQL string literal, whatever standard_conforming_strings says. */
export function quoteLiteral(value: string): string {
  const body = value.replace(/'/g, "''");
  return value.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

/** A libpq conninfo holding only the database name, quoted so that nothing in it is interpreted. */
export function dbnameConninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

const unreachableCodes: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host name',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EADDRNOTAVAIL: 'address not available',
};

function unreachable(conn: Connection, why: string, cause?: unknown): CoffreError {
  return failure(
    'UNREACHABLE',
    `Cannot reach the PostgreSQL server at ${where(conn)} (${why}): check the host and port, and that the server is running and accepts TCP connections.`,
    { cause, retryable: true },
  );
}

/** The server took the connection but did not complete the startup in time (a silent or stuck listener). */
function connectTimedOut(conn: Connection, cause?: unknown): CoffreError {
  return failure(
    'CONNECT_TIMEOUT',
    `The server at ${where(conn)} did not complete a PostgreSQL connection within ${connectTimeoutMs(conn) / 1000} s (CONNECT_TIMEOUT_SECONDS, or connect_timeout in the URL): check that the port is a PostgreSQL server's and that the server is not stuck.`,
    { cause, retryable: true },
  );
}

function authFailed(conn: Connection, cause?: unknown): CoffreError {
  return failure('AUTH_FAILED', `Authentication failed for user "${userOf(conn)}" at ${where(conn)}: check the password.`, { cause });
}

function databaseMissing(conn: Connection, database: string, cause?: unknown): CoffreError {
  return failure('DATABASE_NOT_FOUND', `The database "${database}" does not exist on ${where(conn)}: check its name, or create it first.`, { cause });
}

/** Recognises the usual connection failures in a PostgreSQL client's stderr (libpq messages). */
export function explainPgText(conn: Connection, text: string): CoffreError | undefined {
  const user = userOf(conn);
  if (/password authentication failed|fe_sendauth: no password supplied|SCRAM authentication|client password must be a string/i.test(text)) return authFailed(conn);
  let m = /role "([^"]*)" is not permitted to log in/.exec(text);
  if (m) return failure('AUTH_FAILED', `The server at ${where(conn)} refused user "${m[1]}": that role is not permitted to log in. Use a role with LOGIN, or ALTER ROLE … LOGIN.`);
  m = /role "([^"]*)" does not exist/.exec(text);
  if (m && /FATAL|connection to server/.test(text)) return failure('AUTH_FAILED', `The server at ${where(conn)} has no user "${m[1]}": check the user name in the URL.`);
  if (/no pg_hba\.conf entry/.test(text)) {
    return failure('AUTH_FAILED', `The server at ${where(conn)} does not accept user "${user}" from this machine (no pg_hba.conf entry): ask its administrator to allow it.`);
  }
  m = /database "([^"]*)" does not exist/.exec(text);
  if (m && /FATAL|connection to server|could not connect/.test(text)) return databaseMissing(conn, m[1]);
  if (/could not translate host name/.test(text)) return unreachable(conn, 'unknown host name');
  if (/Connection refused/.test(text)) return unreachable(conn, 'connection refused');
  if (/timeout expired|connection timeout/i.test(text)) return connectTimedOut(conn);
  if (/Connection timed out/.test(text)) return unreachable(conn, 'timed out');
  if (/No route to host|Network is unreachable|could not connect to server/.test(text)) return unreachable(conn, 'no route');
  return undefined;
}

/** Maps an error of the `pg` driver to a coded error; the message never carries the password. */
export function pgDriverError(conn: Connection, database: string, err: unknown): CoffreError {
  if (err instanceof CoffreError) return err;
  const e = err as { code?: string; message?: string };
  const message = redact(String(e?.message ?? err));
  if (e?.code === '28P01') return authFailed(conn, err);
  if (e?.code === '3D000') return databaseMissing(conn, database, err);
  if (e?.code && e.code in unreachableCodes) return unreachable(conn, unreachableCodes[e.code], err);
  const explained = explainPgText(conn, message);
  if (explained) return explained;
  if (/timeout/i.test(message) && /connect/i.test(message)) return connectTimedOut(conn, err);
  if (/SASL|password/i.test(message)) return authFailed(conn, err);
  return failure('PG_QUERY_FAILED', `PostgreSQL at ${where(conn)} said: ${message}`, { cause: err, details: e?.code ? { sqlstate: e.code } : undefined });
}

function sslFor(conn: Connection): pg.ClientConfig['ssl'] {
  const mode = conn.params.sslmode;
  if (!mode || mode === 'disable' || mode === 'allow' || mode === 'prefer') return undefined;
  return mode === 'require' ? { rejectUnauthorized: false } : {};
}

/**
 * client.connect(), cut short by an abort: pg's end() waits for a server that never answers (a blackholed
 * host), so the abort destroys the socket.
 */
async function connectOrAbort(client: pg.Client, signal?: AbortSignal): Promise<void> {
  if (!signal) {
    await client.connect();
    return;
  }
  const connecting = client.connect();
  connecting.catch(() => {}); // settles after the abort too; nobody waits for it then
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      reject(signal.reason ?? new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([connecting, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Opens a session on `database` (default: the connection's), runs fn, and always closes it.
 * Connection and query errors become coded errors. An abort closes the session.
 */
export async function withSession<T>(conn: Connection, database: string, fn: (client: pg.Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
  signal?.throwIfAborted();
  // pg is loaded by the first session, not with the engine registry: a command that never talks to
  // PostgreSQL (a SQLite or MariaDB backup) need not load it.
  const { default: pgModule } = await import('pg');
  const client = new pgModule.Client({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database,
    ssl: sslFor(conn),
    application_name: 'coffre',
    // A server that takes the TCP connection and never answers the startup fails here, not never.
    connectionTimeoutMillis: connectTimeoutMs(conn),
  });
  client.on('error', () => {}); // a dropped idle session surfaces through the pending query instead
  const onAbort = () => void client.end().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await connectOrAbort(client, signal);
    return await fn(client);
  } catch (err) {
    if (signal?.aborted) throw failure('INTERRUPTED', 'The operation was interrupted.', { cause: err });
    throw pgDriverError(conn, database, err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  }
}

/** Asks the server its version. */
export async function serverVersion(client: pg.Client): Promise<ServerVersion> {
  const { rows } = await client.query<{ v: string; n: string }>(`SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`);
  return { text: rows[0].v.split(/\s/)[0], num: Number(rows[0].n) };
}

/** The major-version part of a version number: 150020 -> 150000, 90624 -> 90600. */
function major(num: number): number {
  return num >= 100000 ? Math.floor(num / 10000) * 10000 : Math.floor(num / 100) * 100;
}

function majorText(num: number): string {
  return num >= 100000 ? String(Math.floor(num / 10000)) : `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}`;
}

/** "pg_dump (PostgreSQL) 15.20 (Debian …)" -> { version: "15.20", num: 150020 }. */
export function parseClientVersion(text: string): { version: string; num: number } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  const [a, b, c] = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  const num = a >= 10 ? a * 10000 + b : a * 10000 + b * 100 + c;
  return { version: m[0].replace(/^\(PostgreSQL\)\s+/, ''), num };
}

const versionCache = new Map<string, Promise<{ version: string; num: number } | undefined>>();

async function clientIn(dir: string): Promise<PgClient | undefined> {
  const pgDump = path.join(dir, 'pg_dump');
  try {
    await access(pgDump, fsConstants.X_OK);
  } catch {
    return undefined;
  }
  let pending = versionCache.get(pgDump);
  if (!pending) {
    pending = runTool({ command: pgDump, args: ['--version'], label: 'PG_DUMP' }).then(parseClientVersion, () => undefined);
    versionCache.set(pgDump, pending);
  }
  const found = await pending;
  return found && { dir, ...found, bin: (name) => path.join(dir, name) };
}

/** Folders that may hold a client: COFFRE_PG_BIN_DIR alone when set, else the versioned Debian folders, then PATH. */
async function candidateDirs(): Promise<string[]> {
  const tools = clientToolDirs();
  if (tools.pgBinDir) return [path.resolve(tools.pgBinDir)];
  const dirs: string[] = [];
  try {
    const versions = await readdir('/usr/lib/postgresql');
    for (const v of versions.sort((a, b) => Number(b) - Number(a))) dirs.push(path.join('/usr/lib/postgresql', v, 'bin'));
  } catch {
    // not a Debian-style layout
  }
  for (const d of tools.path) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

/**
 * The PostgreSQL clients installed: one `pg_dump --version` per distinct pg_dump file of candidateDirs()
 * (/bin and /usr/bin are often one folder). Debian's /usr/bin/pg_dump is its pg_wrapper, a Perl script that
 * runs one of the /usr/lib/postgresql/<version>/bin clients, which are asked themselves: beside them it is
 * left out (each run of it cost a Perl start-up, ~25 ms). Looked up on every call (a client installed
 * while the server runs is found), each file's version asked once per process. Never rejects.
 */
export async function findClients(): Promise<{ dirs: string[]; found: PgClient[] }> {
  const dirs = await candidateDirs();
  const files = await Promise.all(dirs.map((d) => realpath(path.join(d, 'pg_dump')).catch(() => undefined)));
  const versioned = files.some((f) => f?.startsWith('/usr/lib/postgresql/'));
  const seen = new Set<string>();
  const probed = dirs.filter((_d, i) => {
    const file = files[i];
    if (!file || seen.has(file) || (versioned && path.basename(file) !== 'pg_dump')) return false;
    seen.add(file);
    return true;
  });
  const found = (await Promise.all(probed.map(clientIn))).filter((c): c is PgClient => c !== undefined);
  return { dirs, found };
}

/**
 * Picks the newest client whose major version is at least the server's (pg_dump refuses newer servers).
 * Fails with COFFRE_E_PG_CLIENT_NOT_FOUND or COFFRE_E_PG_CLIENT_TOO_OLD, naming versions and what to install.
 */
export async function chooseClient(server: ServerVersion, clients: Promise<{ dirs: string[]; found: PgClient[] }> = findClients()): Promise<PgClient> {
  const { dirs, found } = await clients;
  const wanted = majorText(server.num);
  const looked = clientToolDirs().pgBinDir ? `COFFRE_PG_BIN_DIR (${dirs[0]})` : '/usr/lib/postgresql/*/bin and PATH';
  if (found.length === 0) {
    throw failure(
      'PG_CLIENT_NOT_FOUND',
      `No PostgreSQL client (pg_dump) was found in ${looked}: install postgresql-client-${wanted} or newer, or set COFFRE_PG_BIN_DIR to the folder holding pg_dump, psql and pg_restore.`,
    );
  }
  let best: PgClient | undefined;
  for (const c of found) if (!best || c.num > best.num) best = c;
  if (major(best!.num) < major(server.num)) {
    throw failure(
      'PG_CLIENT_TOO_OLD',
      `The server runs PostgreSQL ${server.text} but the newest client found is pg_dump ${best!.version} (${best!.dir}), which cannot dump a newer server: install postgresql-client-${wanted} or newer, or set COFFRE_PG_BIN_DIR to its bin folder.`,
      { details: { serverVersion: server.text, clientVersion: best!.version } },
    );
  }
  return best!;
}

/** Connection arguments for pg_dump/psql/pg_restore; the password is never among them. */
export function connectionArgs(conn: Connection, database: string): string[] {
  const args = ['--no-password'];
  if (conn.host) args.push(`--host=${conn.host}`);
  if (conn.port) args.push(`--port=${conn.port}`);
  if (conn.user) args.push(`--username=${conn.user}`);
  args.push(`--dbname=${dbnameConninfo(database)}`);
  return args;
}

export interface ToolAuth {
  /** Environment for the child: PGPASSFILE (or PGPASSWORD), SSL mode, timeouts. */
  env: Record<string, string | undefined>;
  /** Removes the password file; call once the child is done. */
  remove(): Promise<void>;
}

/** libpq variables a child may inherit from coffre's environment: where and how to connect, never a password. */
const LIBPQ_INHERITED = /^PG(HOST|HOSTADDR|PORT|USER|PASSFILE|SSL[A-Z]*|GSSENCMODE|KRBSRVNAME|REQUIREAUTH|CHANNELBINDING|SYSCONFDIR|TARGETSESSIONATTRS)$/;

/** Prepares the child's credentials: a private 0600 PGPASSFILE that exists only while the child runs. */
export async function toolAuth(conn: Connection): Promise<ToolAuth> {
  const env: Record<string, string | undefined> = {
    // libpq's settings of coffre's environment that the tool may honour (never PGPASSWORD, which coffre
    // replaces by its own 0600 file): the children's environment is otherwise an allow-list (children/process.ts).
    ...inheritedEnvironment((name) => LIBPQ_INHERITED.test(name)),
    PGCONNECT_TIMEOUT: conn.params.connect_timeout ?? String(connectTimeoutSeconds()),
    PGAPPNAME: 'coffre',
    ...(conn.params.sslmode ? { PGSSLMODE: conn.params.sslmode } : {}),
    // A service file or dbname in the environment must not redirect the child elsewhere.
    PGSERVICE: undefined,
    PGDATABASE: undefined,
  };
  const password = conn.password;
  if (!password) return { env, remove: async () => {} };
  if (/[\r\n]/.test(password)) return { env: { ...env, PGPASSWORD: password }, remove: async () => {} };
  const escaped = password.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  const secret = await createSecretFile('pgpass', `*:*:*:*:${escaped}\n`);
  return { env: { ...env, PGPASSFILE: secret.path }, remove: secret.remove };
}

/** The `explain` hook for a child: connection failures in its stderr become coded errors. */
export function explainFor(conn: Connection): (stderr: string) => CoffreError | undefined {
  return (stderr) => explainPgText(conn, tail(stderr, 4000));
}
