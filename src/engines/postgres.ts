// The PostgreSQL engine: pg_dump to plain SQL, restore with psql (or pg_restore for -Fc/-Ft/-Fd files).
//
// Dump flags: plain SQL (`--format=plain`), `--no-owner --no-privileges --quote-all-identifiers`. A
// database dump cannot carry roles (they belong to the cluster), so OWNER TO and GRANT lines tie it to
// roles that may not exist where it is restored, and under ON_ERROR_STOP one missing role fails the
// whole restore. Without them the dump restores into a new database on any server, by any user allowed
// to create one; objects then belong to the restoring user, and grants must be reapplied by whoever
// manages roles. Quoted identifiers keep the dump valid on a newer server with new reserved words.
// pg_restore gets the same choice (`--no-owner --no-privileges`) for foreign -Fc/-Ft/-Fd files.
//
// Restore is all or nothing: psql runs with ON_ERROR_STOP in one transaction, pg_restore with
// --single-transaction --exit-on-error, and if the input stream fails the child is killed before it can
// see an end of file (which psql would take as the end of a good script and commit). A missing database
// is created from template0 and dropped again if the restore fails. A non-empty one is only replaced
// with `replace`, and never destroyed first: the dump goes into a side database, and only when that
// succeeded are the two swapped by renames in one transaction, then the old copy dropped. The side copy
// takes the target's encoding, locale, tablespace and (when allowed) owner; database-level settings
// (ALTER DATABASE … SET) and database grants are not carried over.

import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type pg from 'pg';
import type { Connection } from '../core/connection.ts';
import { withDatabase } from '../core/connection.ts';
import type { AssertionResult, DrillSupport, DumpSource, Engine, RawFormat, RestoreOptions, RestoreResult, TargetState, ToolInfo } from '../core/types.ts';
import { conflict, failure, isCoffreError, usageError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { spawnSink, spawnSource, spawnTransform, type SinkProcess, type ToolCommand } from '../children/process.ts';
import { FilteredSqlStream, filterSql } from '../sql/filter.ts';
import { assertionStatement, holds, shown } from './drill-sql.ts';
import {
  chooseClient,
  connectionArgs,
  findClients,
  explainFor,
  quoteIdent,
  quoteLiteral,
  serverVersion,
  toolAuth,
  withSession,
  type PgClient,
  type ServerVersion,
} from './postgres-client.ts';

const restorable: readonly RawFormat[] = ['sql', 'pg-custom', 'pg-tar', 'pg-directory'];

interface Prepared {
  server: ServerVersion;
  client: PgClient;
}

/** Connects to the connection's own database (so credentials and existence are checked) and picks a client. */
async function prepare(conn: Connection, signal?: AbortSignal): Promise<Prepared> {
  // The clients are looked for while the server is asked its version.
  const clients = findClients();
  const server = await withSession(conn, conn.database, serverVersion, signal);
  return { server, client: await chooseClient(server, clients) };
}

/** Runs fn on a maintenance database (postgres, else template1) that is none of `avoid`. */
async function withMaintenance<T>(conn: Connection, avoid: string[], fn: (c: pg.Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const choices = ['postgres', 'template1'].filter((d) => !avoid.includes(d));
  try {
    return await withSession(conn, choices[0], fn, signal);
  } catch (err) {
    if (choices.length > 1 && isCoffreError(err) && err.code === 'COFFRE_E_DATABASE_NOT_FOUND') return withSession(conn, choices[1], fn, signal);
    throw err;
  }
}

const emptinessQuery = `
SELECT EXISTS (
  SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  UNION ALL
  SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  UNION ALL
  SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
     AND t.typtype IN ('b', 'd', 'e', 'r') AND t.typcategory <> 'A'
  UNION ALL
  SELECT 1 FROM pg_namespace n
   WHERE n.nspname NOT IN ('public', 'pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
  UNION ALL
  SELECT 1 FROM pg_extension WHERE extname <> 'plpgsql'
) AS used`;

async function inspect(conn: Connection, signal?: AbortSignal): Promise<TargetState> {
  try {
    const used = await withSession(conn, conn.database, async (c) => (await c.query<{ used: boolean }>(emptinessQuery)).rows[0].used, signal);
    return { exists: true, empty: !used };
  } catch (err) {
    if (isCoffreError(err) && err.code === 'COFFRE_E_DATABASE_NOT_FOUND') return { exists: false, empty: true };
    throw err;
  }
}

async function databaseExists(c: pg.Client, name: string): Promise<boolean> {
  const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ends every other session on these databases (waiting for them to go on servers that can). */
async function terminateSessions(c: pg.Client, server: ServerVersion, names: string[]): Promise<void> {
  const call = server.num >= 140000 ? 'pg_terminate_backend(pid, 5000)' : 'pg_terminate_backend(pid)';
  await c.query(`SELECT ${call} FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()`, [names]);
}

/** Retries an action that fails while other sessions still hold a database (SQLSTATE 55006). */
async function whileInUse<T>(c: pg.Client, server: ServerVersion, names: string[], action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await terminateSessions(c, server, names);
    try {
      return await action();
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 6) throw err;
      await sleep(200 * attempt);
    }
  }
}

async function dropDatabase(c: pg.Client, server: ServerVersion, name: string): Promise<void> {
  const force = server.num >= 130000 ? ' WITH (FORCE)' : '';
  await whileInUse(c, server, [name], () => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}${force}`));
}

/** CREATE DATABASE options that make a copy alike to `like`: encoding, locale, tablespace, owner when allowed. */
async function optionsLike(c: pg.Client, like: string): Promise<string> {
  const { rows } = await c.query<{ d: Record<string, unknown>; enc: string; owner: string; member: boolean; space: string }>(
    `SELECT to_jsonb(d) AS d, pg_encoding_to_char(d.encoding) AS enc, pg_get_userbyid(d.datdba) AS owner,
            pg_has_role(d.datdba, 'MEMBER') AS member, (SELECT spcname FROM pg_tablespace WHERE oid = d.dattablespace) AS space
       FROM pg_database d WHERE d.datname = $1`,
    [like],
  );
  const r = rows[0];
  const opts = [`ENCODING ${quoteLiteral(r.enc)}`, `LC_COLLATE ${quoteLiteral(String(r.d.datcollate))}`, `LC_CTYPE ${quoteLiteral(String(r.d.datctype))}`];
  const provider = r.d.datlocprovider;
  const locale = (r.d.datlocale ?? r.d.daticulocale) as string | null | undefined;
  if (provider === 'i' && locale) opts.push(`LOCALE_PROVIDER icu ICU_LOCALE ${quoteLiteral(locale)}`);
  if (provider === 'b' && locale) opts.push(`LOCALE_PROVIDER builtin BUILTIN_LOCALE ${quoteLiteral(locale)}`);
  if (r.space && r.space !== 'pg_default') opts.push(`TABLESPACE ${quoteIdent(r.space)}`);
  if (r.member) opts.push(`OWNER ${quoteIdent(r.owner)}`);
  return opts.join(' ');
}

/** A name for a side or old copy, within PostgreSQL's 63-byte limit. */
function copyName(database: string, tag: string): string {
  const suffix = `_coffre_${tag}${randomBytes(4).toString('hex')}`;
  let prefix = database;
  while (Buffer.byteLength(prefix) + Buffer.byteLength(suffix) > 63) prefix = [...prefix].slice(0, -1).join('');
  return prefix + suffix;
}

/** Resolves when stdin can take more, or is gone (the child exited: its exit code tells why). */
function drained(stdin: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      stdin.off('error', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
    stdin.on('error', done);
  });
}

/**
 * Writes input into the child's stdin with back-pressure. If the input fails, the child is killed
 * before its stdin is closed, so it never mistakes a cut input for a complete one.
 */
async function feed(input: Readable, sink: SinkProcess, onProgress?: (bytes: number) => void, inputBytes?: () => number): Promise<void> {
  let exited = false;
  const exit = sink.done.then(
    () => void (exited = true),
    () => void (exited = true),
  );
  let bytes = 0;
  let stoppedEarly = false;
  try {
    for await (const chunk of input) {
      if (exited || sink.stdin.destroyed) {
        stoppedEarly = true;
        break;
      }
      bytes += (chunk as Buffer).length;
      onProgress?.(inputBytes ? inputBytes() : bytes);
      if (!sink.stdin.write(chunk)) await drained(sink.stdin);
    }
  } catch (err) {
    sink.kill();
    await exit;
    throw err;
  }
  sink.stdin.end();
  if (stoppedEarly) {
    await sink.done; // a failed child explains itself
    throw failure('PG_RESTORE_INCOMPLETE', `The restore tool stopped after ${bytes} bytes, before the end of the dump: the dump is not a complete PostgreSQL dump.`);
  }
}

/** psql takes `\restrict` from 13.22, 14.19, 15.14, 16.10 and 17.6 on. */
export function psqlHasRestrict(num: number): boolean {
  const major = Math.floor(num / 10000);
  const minor = num % 10000;
  const since: Record<number, number> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };
  return major >= 18 || (since[major] !== undefined && minor >= since[major]);
}

/** The SQL stream of a dump, through the restore filter (pg_restore writes the script of -Fc/-Ft/-Fd dumps). */
function scriptOf(
  input: Readable | string,
  format: RawFormat,
  client: PgClient,
  options: RestoreOptions,
  common: Omit<ToolCommand, 'command' | 'args' | 'label'>,
  counted: { bytes: number },
): FilteredSqlStream {
  const filterOptions = { dialect: 'postgres' as const, select: options.sql?.database, allowProgram: options.sql?.allowProgram };
  if (format === 'sql') {
    const stream = typeof input === 'string' ? createReadStream(input) : input;
    return stream instanceof FilteredSqlStream ? stream : filterSql([stream], filterOptions);
  }
  // pg_restore writes the archive's SQL (its table of contents carries statements as text) rather than
  // running it, so the same filter sees every statement, and psql runs them in one transaction.
  const fmt = format === 'pg-custom' ? 'custom' : format === 'pg-tar' ? 'tar' : 'directory';
  const args = ['--no-owner', '--no-privileges', `--format=${fmt}`, '--file=-'];
  const cmd: ToolCommand = { command: client.bin('pg_restore'), args, label: 'PG_RESTORE', ...common };
  let script: Readable;
  if (format === 'pg-directory') script = spawnSource({ ...cmd, args: [...args, path.resolve(input as string)] });
  else {
    const archive = typeof input === 'string' ? createReadStream(input) : input;
    archive.on('data', (chunk: Buffer) => (counted.bytes += chunk.length));
    script = spawnTransform(cmd, archive);
  }
  return filterSql([script], filterOptions);
}

/** Restores into an existing, empty database with psql; all or nothing. */
async function restoreInto(
  conn: Connection,
  database: string,
  input: Readable | string,
  format: RawFormat,
  client: PgClient,
  options: RestoreOptions,
): Promise<{ tool: string; notes: string[] }> {
  const auth = await toolAuth(conn);
  const common = { env: auth.env, signal: options.signal, explain: explainFor(conn) };
  const tool = format === 'sql' ? 'psql' : 'pg_restore';
  const args = ['--no-psqlrc', '--quiet', '--set=ON_ERROR_STOP=1', '--single-transaction', '--output=/dev/null', ...connectionArgs(conn, database), '--file=-'];
  const cmd: ToolCommand = { command: client.bin('psql'), args, label: 'PSQL', ...common };
  let script: FilteredSqlStream | undefined;
  try {
    const counted = { bytes: 0 };
    script = scriptOf(input, format, client, options, common, counted);
    const filter = script.sqlFilter;
    // Progress counts the dump's own bytes: those of the archive for pg_restore, else those read by the filter.
    const inputBytes = format === 'sql' ? () => filter.report.bytesIn : () => counted.bytes;
    const sink = spawnSink(cmd);
    // No meta-command of the dump may run: psql refuses every one after `\restrict` with a key the file
    // cannot know (the filter also drops or refuses them, for clients without \restrict).
    if (psqlHasRestrict(client.num)) sink.stdin.write(`\\restrict ${randomBytes(24).toString('hex')}\n`);
    try {
      await feed(script, sink, options.onProgress, inputBytes);
    } catch (err) {
      if (isCoffreError(err)) throw err;
      throw failure('RESTORE_INPUT_FAILED', `Reading the dump failed, so nothing was restored: ${redact(String((err as Error)?.message ?? err))}`, { cause: err });
    }
    await sink.done;
  } finally {
    script?.destroy();
    await auth.remove();
  }
  return { tool, notes: script.sqlFilter.notes() };
}

async function restore(conn: Connection, input: Readable | string, format: RawFormat, options: RestoreOptions): Promise<RestoreResult> {
  if (!restorable.includes(format)) {
    throw usageError('PG_FORMAT', `A PostgreSQL target cannot restore a "${format}" dump: use a PostgreSQL dump (plain SQL, or pg_dump -Fc, -Ft or -Fd).`);
  }
  if (format === 'pg-directory' && typeof input !== 'string') {
    throw usageError('PG_FORMAT', 'A pg_dump directory dump (-Fd) can only be restored from a folder path ({hint}).', undefined, { option: 'file', value: 'DIR', field: 'path' });
  }
  const database = conn.database;
  const signal = options.signal;
  const { server, exists } = await withMaintenance(conn, [database], async (c) => ({ server: await serverVersion(c), exists: await databaseExists(c, database) }), signal);
  const dumpMajor = options.sql?.pgDumpMajor;
  if (format === 'sql' && dumpMajor !== undefined && dumpMajor * 10000 > server.num) {
    if (typeof input !== 'string') input.destroy();
    throw usageError(
      'PG_DUMP_TOO_NEW',
      `The dump was written by pg_dump ${dumpMajor}, newer than this PostgreSQL server (${server.text}): its SQL uses settings and syntax that server does not know. Restore it into a PostgreSQL ${dumpMajor} (or later) server, or dump the source again with the pg_dump of version ${Math.floor(server.num / 10000)}.`,
      { dumpVersion: dumpMajor, serverVersion: server.text },
    );
  }
  const client = await chooseClient(server);
  const info = (r: { tool: string; notes: string[] }): RestoreResult => ({ tool: r.tool, clientVersion: client.version, serverVersion: server.text, database, notes: r.notes });

  if (!exists) {
    await withMaintenance(conn, [database], (c) => c.query(`CREATE DATABASE ${quoteIdent(database)} TEMPLATE template0`), signal);
    try {
      return info(await restoreInto(conn, database, input, format, client, options));
    } catch (err) {
      await withMaintenance(conn, [database], (c) => dropDatabase(c, server, database)).catch(() => {});
      throw err;
    }
  }

  const state = await inspect(conn, signal);
  if (state.empty) return info(await restoreInto(conn, database, input, format, client, options));
  if (!options.replace) {
    throw conflict(
      'TARGET_NOT_EMPTY',
      `The database "${database}" on ${conn.host ?? 'localhost'}:${conn.port ?? 5432} already holds data: pass {hint} to overwrite it, or restore into a new database.`,
      { database },
      { flag: 'replace' },
    );
  }

  // Replace: restore beside the target, swap only once the new copy is complete.
  const side = copyName(database, '');
  const old = copyName(database, 'old_');
  const avoid = [database, side, old];
  await withMaintenance(conn, avoid, async (c) => c.query(`CREATE DATABASE ${quoteIdent(side)} TEMPLATE template0 ${await optionsLike(c, database)}`), signal);
  let tool: { tool: string; notes: string[] };
  try {
    tool = await restoreInto(withDatabase(conn, side), side, input, format, client, options);
    signal?.throwIfAborted();
    await withMaintenance(conn, avoid, (c) =>
      whileInUse(c, server, [database, side], async () => {
        await c.query('BEGIN');
        try {
          await c.query(`ALTER DATABASE ${quoteIdent(database)} RENAME TO ${quoteIdent(old)}`);
          await c.query(`ALTER DATABASE ${quoteIdent(side)} RENAME TO ${quoteIdent(database)}`);
          await c.query('COMMIT');
        } catch (err) {
          await c.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }),
    );
  } catch (err) {
    await withMaintenance(conn, avoid, (c) => dropDatabase(c, server, side)).catch(() => {});
    throw err;
  }
  try {
    await withMaintenance(conn, avoid, (c) => dropDatabase(c, server, old));
  } catch (err) {
    throw failure(
      'PG_OLD_COPY_LEFT',
      `The restore succeeded and "${database}" holds the restored data, but its previous copy "${old}" could not be dropped: drop it by hand (DROP DATABASE) to free its space.`,
      { cause: err, details: { database, leftover: old } },
    );
  }
  return info(tool);
}

/**
 * Restore drills on a scratch database: dropped WITH (FORCE) where the server has it; counted with
 * `count(*) FROM ONLY` (a partition's own rows, as pg_dump copies them); an assertion runs as one statement
 * (the extended protocol takes no second one) in a READ ONLY transaction with a statement_timeout.
 */
const drill: DrillSupport = {
  async checkAssertion(assertion) {
    await assertionStatement(assertion, 'postgres');
  },

  async drop(conn, signal) {
    const database = conn.database;
    await withMaintenance(
      conn,
      [database],
      async (c) => {
        if (await databaseExists(c, database)) await dropDatabase(c, await serverVersion(c), database);
      },
      signal,
    );
  },

  async countRows(conn, tables, signal) {
    return withSession(
      conn,
      conn.database,
      async (c) => {
        const { rows } = await c.query<{ nsp: string; rel: string }>(
          "SELECT n.nspname AS nsp, c.relname AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        );
        const found = new Map(rows.map((r) => [`${r.nsp}.${r.rel}`, r]));
        const out: Record<string, number | null> = {};
        for (const key of tables) {
          const r = found.get(key);
          if (!r) {
            out[key] = null;
            continue;
          }
          const res = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${quoteIdent(r.nsp)}.${quoteIdent(r.rel)}`);
          out[key] = Number(res.rows[0].n);
        }
        return out;
      },
      signal,
    );
  },

  async assert(conn, assertion, timeoutMs, signal): Promise<AssertionResult> {
    const statement = await assertionStatement(assertion, 'postgres');
    const limit = AbortSignal.timeout(timeoutMs + 5000);
    return withSession(
      conn,
      conn.database,
      async (c) => {
        await c.query('BEGIN READ ONLY');
        await c.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
        try {
          const res = await c.query({ text: statement, rowMode: 'array', queryMode: 'extended' } as pg.QueryConfig);
          const value = (res.rows[0] as unknown[] | undefined)?.[0];
          return { ok: holds(value), value: res.rows.length ? shown(value) : '(no row)' };
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === '57014') throw failure('DRILL_ASSERTION_TIMEOUT', `The assertion ran longer than its ${timeoutMs / 1000} s timeout and was cancelled.`);
          throw failure('DRILL_ASSERTION_ERROR', `PostgreSQL refused the assertion: ${redact((err as Error).message)}${code ? ` (SQLSTATE ${code})` : ''}.`);
        } finally {
          await c.query('ROLLBACK').catch(() => {});
        }
      },
      signal ? AbortSignal.any([signal, limit]) : limit,
    );
  },
};

export const postgres = {
  name: 'postgres',
  restores: restorable,
  extension: 'sql',

  async probe(conn: Connection, signal?: AbortSignal): Promise<ToolInfo> {
    const { server, client } = await prepare(conn, signal);
    return { tool: 'pg_dump', clientVersion: client.version, serverVersion: server.text };
  },

  async dump(conn: Connection, options: { signal?: AbortSignal }): Promise<DumpSource> {
    const { server, client } = await prepare(conn, options.signal);
    const auth = await toolAuth(conn);
    const args = ['--format=plain', '--no-owner', '--no-privileges', '--quote-all-identifiers', ...connectionArgs(conn, conn.database)];
    const stream = spawnSource({ command: client.bin('pg_dump'), args, env: auth.env, signal: options.signal, label: 'PG_DUMP', explain: explainFor(conn) });
    stream.once('close', () => void auth.remove());
    return { stream, format: 'sql', tool: 'pg_dump', clientVersion: client.version, serverVersion: server.text };
  },

  inspect,
  restore,
  drill,

  systemDatabases: ['template0', 'template1'],
  async listDatabases(conn: Connection, signal?: AbortSignal): Promise<string[]> {
    // The server's maintenance database, unless the URL names one to list from.
    const rows = await withSession(
      conn,
      conn.database || 'postgres',
      async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY datname')).rows,
      signal,
    );
    return rows.map((r) => r.datname);
  },

  /**
   * `pg_dumpall --globals-only` of conn's server: roles (with their passwords as pg_dumpall writes them) and
   * tablespaces, as one SQL stream. A server target's run stores it beside its databases.
   */
  async dumpGlobals(conn: Connection, options: { signal?: AbortSignal }): Promise<DumpSource> {
    const maintenance = withDatabase(conn, conn.database || 'postgres');
    const { server, client } = await prepare(maintenance, options.signal);
    const auth = await toolAuth(maintenance);
    const args = ['--globals-only', '--quote-all-identifiers', ...connectionArgs(maintenance, maintenance.database)];
    const stream = spawnSource({ command: client.bin('pg_dumpall'), args, env: auth.env, signal: options.signal, label: 'PG_DUMPALL', explain: explainFor(maintenance) });
    stream.once('close', () => void auth.remove());
    return { stream, format: 'sql', tool: 'pg_dumpall', clientVersion: client.version, serverVersion: server.text };
  },
} satisfies Engine & { dumpGlobals(conn: Connection, options: { signal?: AbortSignal }): Promise<DumpSource> };
