// The MySQL/MariaDB client programs, and the one safe way coffre talks to them. Which programs: the
// MariaDB names first (mariadb-dump, mariadb), then the MySQL ones (mysqldump, mysql), looked up in PATH,
// or only in COFFRE_MYSQL_BIN_DIR when that is set (an operator's pinned client, or a test of a missing
// one). How: every connection setting, the password above all, goes into a 0600 option file passed as
// the FIRST argument (`--defaults-extra-file` is only honoured there), never into argv; a database name
// goes after `--`, so that "-x" or "a=b" is a name and never an option. The client's stderr is mapped
// to coded errors a user can act on (bad login, unreachable server, unknown database).

import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { Connection } from '../core/connection.ts';
import { failure, type CoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { runTool, withSecretFile, type ToolCommand } from '../children/process.ts';
import { clientToolDirs, connectTimeoutSeconds } from '../config.ts';

export interface MysqlClients {
  /** Path of mariadb-dump or mysqldump. */
  dump: string;
  /** Path of mariadb or mysql. */
  client: string;
  /** Base name of the dump program, reported as the tool. */
  tool: string;
  /** Version of the dump program as it reports it ("10.11.19-MariaDB", "8.0.36"). */
  clientVersion: string;
}

const DUMP_NAMES = ['mariadb-dump', 'mysqldump'];
const CLIENT_NAMES = ['mariadb', 'mysql'];

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// The bin-folder override is read at each call (a test changes it between calls), through config.ts.
function searchDirs(): { dirs: string[]; where: string } {
  const tools = clientToolDirs();
  if (tools.mysqlBinDir) return { dirs: [tools.mysqlBinDir], where: `COFFRE_MYSQL_BIN_DIR (${tools.mysqlBinDir})` };
  return { dirs: tools.path, where: 'PATH' };
}

async function findProgram(names: readonly string[], dirs: readonly string[]): Promise<string | undefined> {
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (await isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

const versions = new Map<string, string>();

/** Parses "mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for ..." or "mysqldump  Ver 8.0.36 for Linux". */
export function parseClientVersion(text: string): string {
  const distrib = /Distrib\s+([^\s,]+)/.exec(text);
  if (distrib) return distrib[1];
  const ver = /Ver\s+([^\s,]+)/.exec(text);
  return ver ? ver[1] : text.trim().split('\n')[0];
}

/** Finds the dump and query programs and the dump program's version; fails with a coded error naming what to install. */
export async function findClients(signal?: AbortSignal): Promise<MysqlClients> {
  const { dirs, where } = searchDirs();
  const dump = await findProgram(DUMP_NAMES, dirs);
  const client = await findProgram(CLIENT_NAMES, dirs);
  if (!dump || !client) {
    const missing = [!dump ? 'mariadb-dump (or mysqldump)' : '', !client ? 'mariadb (or mysql)' : ''].filter(Boolean).join(' and ');
    throw failure(
      'MYSQL_CLIENT_NOT_FOUND',
      `The MySQL/MariaDB client program ${missing} was not found in ${where}: install the MariaDB client (e.g. "apt-get install mariadb-client") or point COFFRE_MYSQL_BIN_DIR at the folder holding it.`,
    );
  }
  let clientVersion = versions.get(dump);
  if (!clientVersion) {
    clientVersion = parseClientVersion(await runTool({ command: dump, args: ['--version'], label: 'MYSQL_DUMP', signal }));
    versions.set(dump, clientVersion);
  }
  return { dump, client, tool: path.basename(dump), clientVersion };
}

/** An option-file value: always double-quoted, with the escapes the option-file reader understands. */
function optionValue(value: string): string {
  const escaped = value.replace(/[\\"\n\r\t\b]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b' })[c]!);
  return `"${escaped}"`;
}

/** URL query parameters passed through to the client as options of the same name. */
const passThroughParams = ['ssl', 'ssl-ca', 'ssl-capath', 'ssl-cert', 'ssl-key', 'ssl-cipher', 'ssl-verify-server-cert', 'ssl-mode', 'tls-version'];

/** The [client] option file for a connection: login, password, host and port, never a database. */
export function optionFile(conn: Connection): string {
  const lines = ['[client]'];
  if (conn.user !== undefined) lines.push(`user=${optionValue(conn.user)}`);
  if (conn.password !== undefined) lines.push(`password=${optionValue(conn.password)}`);
  if (conn.params.socket) {
    lines.push(`socket=${optionValue(conn.params.socket)}`, 'protocol=SOCKET');
  } else {
    // TCP even for "localhost", as every MySQL driver does; the client would otherwise pick the socket.
    if (conn.host) lines.push(`host=${optionValue(conn.host)}`);
    if (conn.port) lines.push(`port=${conn.port}`);
    lines.push('protocol=TCP');
  }
  for (const name of passThroughParams) {
    const value = conn.params[name];
    if (value !== undefined) lines.push(`${name}=${optionValue(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The query client's bound on connecting (greeting and login included): without it a server that takes the
 * TCP connection and never greets holds the client forever. An argument (not secret, and the dump program
 * rejects the option, so it cannot sit in the shared option file's [client] group).
 */
export function connectTimeoutArg(): string {
  return `--connect-timeout=${connectTimeoutSeconds()}`;
}

/** Runs fn with a private option file for conn that exists only while fn runs. */
export function withOptionFile<T>(conn: Connection, fn: (file: string) => Promise<T>): Promise<T> {
  return withSecretFile('my.cnf', optionFile(conn), fn);
}

/** `name` as a quoted identifier: backticks around it, inner backticks doubled. */
export function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** `text` as a SQL string expression that no quoting or sql_mode can misread. */
export function quoteString(text: string): string {
  return `CONVERT(X'${Buffer.from(text, 'utf8').toString('hex')}' USING utf8mb4)`;
}

function firstErrorLine(stderr: string): string {
  const line = stderr.split('\n').find((l) => /error|denied|can't|unknown/i.test(l)) ?? stderr.trim().split('\n')[0] ?? '';
  return redact(line.trim()).slice(0, 400);
}

/** Maps a client's stderr to a coded error a user can act on, or undefined when it is not recognised. */
export function explainFor(conn: Connection) {
  const where = conn.params.socket ? `the socket ${conn.params.socket}` : `${conn.host ?? 'localhost'}:${conn.port ?? 3306}`;
  const user = conn.user ?? '(the system user name)';
  return (stderr: string): CoffreError | undefined => {
    const detail = firstErrorLine(stderr);
    if (/\b1045\b|Access denied for user .*\(using password/i.test(stderr)) {
      return failure('AUTH_FAILED', `The MySQL server at ${where} refused the login of user "${user}": check the user name and password in the target URL. (${detail})`);
    }
    if (/Access denied/i.test(stderr)) {
      return failure('PERMISSION_DENIED', `User "${user}" logged in at ${where} but lacks a privilege this needs: grant it (see the server's message) and try again. (${detail})`);
    }
    // Error 2013 during the handshake with system error 110 (ETIMEDOUT): the server took the TCP connection
    // but sent no greeting within --connect-timeout.
    if (/handshake: reading initial communication packet'?, system error: 110|\b2013\b.*\b110\b/i.test(stderr)) {
      return failure(
        'CONNECT_TIMEOUT',
        `The server at ${where} accepted the connection but sent no MySQL greeting within ${connectTimeoutSeconds()} s (CONNECT_TIMEOUT_SECONDS): check that the port is a MySQL/MariaDB server's and that the server is not stuck. (${detail})`,
        { retryable: true },
      );
    }
    if (/Can't connect|Unknown (MySQL |MariaDB )?server host|Unknown host|Lost connection to (MySQL |MariaDB )?server at 'handshake|\b200[2-5]\b/i.test(stderr)) {
      return failure(
        'UNREACHABLE',
        `The MySQL server at ${where} could not be reached: check the host and port in the target URL, that the server is running and that no firewall blocks it. (${detail})`,
        { retryable: true },
      );
    }
    if (/Unknown database|\b1049\b/i.test(stderr)) {
      return failure('DATABASE_NOT_FOUND', `The database "${conn.database}" does not exist on ${where}: check its name in the target URL (names are case-sensitive).`);
    }
    return undefined;
  };
}

export interface SqlOptions {
  /** Default database for the session; omitted for server-level statements. */
  database?: string;
  signal?: AbortSignal;
}

/**
 * Runs SQL (fed on stdin, never argv) through the query client and returns the result rows of every
 * statement, tab-separated fields as the client prints them in batch mode (NULL prints as "NULL").
 */
export async function runSql(clients: MysqlClients, conn: Connection, sql: string, options: SqlOptions = {}): Promise<string[][]> {
  const out = await withOptionFile(conn, (file) => {
    const cmd: ToolCommand = {
      command: clients.client,
      args: [
        `--defaults-extra-file=${file}`,
        connectTimeoutArg(),
        '--batch',
        '--skip-column-names',
        '--default-character-set=utf8mb4',
        ...(options.database !== undefined ? ['--', options.database] : []),
      ],
      label: 'MYSQL',
      signal: options.signal,
      explain: explainFor(options.database !== undefined ? { ...conn, database: options.database } : conn),
    };
    return runTool(cmd, sql);
  });
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}
