// Target connection URLs: `postgres://user:pass@host:port/db`, `mysql://` (or `mariadb://`),
// `mongodb://` (or `mongodb+srv://`), `sqlite:/absolute/path.db`. Parsed once into a Connection that
// engines read field by field; the password is registered with the redactor the moment it is seen.
// A database name is always data, never an option: engines pass it in positions where a leading `-`
// or an `=` cannot be read as a flag or a connection string (see each engine).

import path from 'node:path';
import { engineNames, engineUrls, type EngineName } from './engine-names.ts';
import { usageError } from './errors.ts';
import { registerSecret } from './redact.ts';

export interface Connection {
  engine: EngineName;
  /** The URL as given, with its password: never log it, never return it. */
  url: string;
  /** The same URL with the password masked, safe to show. */
  displayUrl: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  /** Database name (PostgreSQL, MySQL, MongoDB); for SQLite, the file path. */
  database: string;
  /** Absolute path of the SQLite file. */
  path?: string;
  /** Query-string options, decoded. */
  params: Record<string, string>;
}

const schemes: Record<string, EngineName> = Object.fromEntries(engineNames.flatMap((name) => engineUrls[name].schemes.map((scheme) => [scheme, name] as const)));

const defaultPorts: Partial<Record<EngineName, number>> = Object.fromEntries(engineNames.map((name) => [name, engineUrls[name].defaultPort]));

/** `postgres://, mysql://, … or sqlite:`, from each engine's schemes (a scheme of a URL with a host takes `//`). */
export const schemeList = engineNames
  .flatMap((name) => engineUrls[name].schemes.map((scheme) => (engineUrls[name].defaultPort === undefined ? scheme : `${scheme}//`)))
  .join(', ')
  .replace(/, ([^,]*)$/, ' or $1');

const example = `Use ${engineNames
  .map((name) => engineUrls[name].example)
  .join(', ')
  .replace(/, ([^,]*)$/, ' or $1')}.`;

/** Parses a target URL; throws a usage error naming what is wrong. */
export function parseConnectionUrl(raw: string, options: { allowNoDatabase?: boolean } = {}): Connection {
  const text = raw.trim();
  const schemeMatch = /^([a-z][a-z0-9+.-]*:)/i.exec(text);
  const engine = schemeMatch ? schemes[schemeMatch[1].toLowerCase()] : undefined;
  if (!engine) {
    throw usageError('BAD_URL', `The target URL must start with ${schemeList}. ${example}`);
  }
  if (engine === 'sqlite') return parseSqlite(text);

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError('BAD_URL', `The target URL could not be parsed. ${example}`);
  }
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  registerSecret(password);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database && !options.allowNoDatabase) throw usageError('BAD_URL', `The target URL names no database: add it after the host, as in ${url.protocol}//host/mydb.`);
  if (database.includes('/')) throw usageError('BAD_URL', 'The database name in the URL must not contain "/".');
  if (!url.hostname) throw usageError('BAD_URL', `The target URL names no host. ${example}`);
  if (/[\0\r\n]/.test(database)) throw usageError('BAD_URL', 'The database name contains a control character.');
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    params[k] = v;
    if (/pass|secret|key|token/i.test(k)) registerSecret(v);
  }
  const srv = url.protocol.toLowerCase() === 'mongodb+srv:';
  const port = url.port ? Number(url.port) : srv ? undefined : defaultPorts[engine];
  return {
    engine,
    url: text,
    displayUrl: maskPassword(url),
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    user: url.username ? decodeURIComponent(url.username) : undefined,
    password,
    database,
    params,
  };
}

/**
 * The URL with `password` set in it (from an environment variable or a file, so that it never sits on a
 * command line). The URL must name a user and carry no password of its own.
 */
export function withPassword(raw: string, password: string): string {
  const conn = parseConnectionUrl(raw, { allowNoDatabase: true });
  if (conn.engine === 'sqlite') throw usageError('BAD_URL', 'A SQLite target has no password.');
  if (conn.password !== undefined) throw usageError('BAD_URL', 'The URL already holds a password: give it in the URL or separately, not both.');
  if (!conn.user) throw usageError('BAD_URL', 'A separate password needs a user in the URL, as in postgres://user@host:5432/db.');
  if (!password) throw usageError('BAD_URL', 'The password given is empty.');
  registerSecret(password);
  const url = new URL(conn.url);
  url.password = encodeURIComponent(password);
  return url.href;
}

function parseSqlite(text: string): Connection {
  // Accept sqlite:/abs/path, sqlite:///abs/path and sqlite://localhost/abs/path.
  let rest = text.slice('sqlite:'.length);
  if (rest.startsWith('//')) {
    rest = rest.slice(2);
    if (rest.startsWith('localhost/')) rest = rest.slice('localhost'.length);
  }
  const [filePart] = rest.split('?');
  const file = decodeURIComponent(filePart);
  if (!file || !path.isAbsolute(file)) {
    throw usageError('BAD_URL', `A SQLite target needs an absolute path, as in sqlite:/var/lib/app/data.db (got "${file || text}").`);
  }
  const resolved = path.resolve(file);
  return { engine: 'sqlite', url: `sqlite:${resolved}`, displayUrl: `sqlite:${resolved}`, database: resolved, path: resolved, params: {} };
}

function maskPassword(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = '***';
  for (const k of [...copy.searchParams.keys()]) if (/pass|secret|key|token/i.test(k)) copy.searchParams.set(k, '***');
  return copy.href;
}

/** The same connection pointed at another database (a temporary one, or a maintenance one). */
export function withDatabase(conn: Connection, database: string): Connection {
  if (conn.engine === 'sqlite') {
    const p = path.resolve(database);
    return { ...conn, database: p, path: p, url: `sqlite:${p}`, displayUrl: `sqlite:${p}` };
  }
  const url = new URL(conn.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  const display = new URL(conn.displayUrl);
  display.pathname = url.pathname;
  return { ...conn, database, url: url.href, displayUrl: display.href };
}
