// MySQL and MariaDB through their own client programs (see mysql-client.ts for which, and how the
// password and the database name reach them safely).
//
// Dump: one mariadb-dump/mysqldump run in a consistent snapshot (--single-transaction, no table locks),
// with routines, triggers and events, binary columns as hex, utf8mb4, and without --databases, so the
// dump has no CREATE DATABASE or USE and restores into any name. No dump date, so equal data gives
// equal bytes.
//
// Restore: the client reads the dump on stdin with the target as its default database, in binary mode
// (no client command but DELIMITER runs) and without LOCAL INFILE (a dump cannot make the client read this
// host's files), after the restore filter (src/sql/filter.ts): USE, CREATE/DROP DATABASE and the like are
// dropped, and `ALTER DATABASE \`source\` CHARACTER SET ...`, which the dump tools write around routines
// created under another collation, loses its name so that it applies to the target.
// - A missing target is created (utf8mb4) and dropped again if the restore fails.
// - An existing empty target is restored into directly; on failure it is dropped and re-created empty
//   with its former character set and collation (privileges on a database outlive DROP DATABASE).
// - A non-empty target is refused unless replace. With replace, the old data is not touched until the
//   new data is known good: the dump is first restored into a side database (coffre_restore_<random>,
//   same character set and collation as the target). Only when that succeeded is the target dropped,
//   re-created, and filled by piping a dump of the side database into it; then the side database is
//   dropped. Moving tables with RENAME TABLE instead would be cheaper, but views, routines and events
//   do not move, tables with triggers may not change schema, and views moved across would keep naming
//   the side database; a second logical copy keeps every object exactly as the dump made it, at the
//   cost of restoring twice. Should that second copy fail, the error says so and names the side
//   database, which then still holds the complete new data.
//
// Known limits of the dump tools themselves: ENUM/SET labels with 4-byte characters (emoji) come out of
// SHOW CREATE TABLE as "?" on MariaDB 10.11, so such values do not survive; views, routines, triggers
// and events keep their DEFINER, so restoring them as another user needs the privilege to set it.

import path from 'node:path';
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AssertionResult, DrillSupport, Engine, RawFormat, RestoreOptions, TargetState, ToolInfo } from '../core/types.ts';
import { assertionStatement, holds, shown } from './drill-sql.ts';
import { redact } from '../core/redact.ts';
import { withDatabase, type Connection } from '../core/connection.ts';
import { asCoffreError, conflict, failure, usageError } from '../core/errors.ts';
import { createSecretFile, spawnSink, spawnSource } from '../children/process.ts';
import { FilteredSqlStream, filterSql } from '../sql/filter.ts';
import { connectTimeoutArg, explainFor, findClients, optionFile, quoteIdent, quoteString, runSql, withOptionFile, type MysqlClients } from './mysql-client.ts';

const MAX_PACKET = '--max-allowed-packet=1073741824';

const DUMP_FLAGS = [
  '--single-transaction',
  '--skip-lock-tables',
  '--routines',
  '--triggers',
  '--events',
  '--hex-blob',
  '--default-character-set=utf8mb4',
  '--no-tablespaces',
  '--skip-dump-date',
  MAX_PACKET,
];

async function serverVersion(clients: MysqlClients, conn: Connection, database: string | undefined, signal?: AbortSignal): Promise<string> {
  const rows = await runSql(clients, conn, 'SELECT VERSION();\n', { database, signal });
  return rows[0]?.[0] ?? 'unknown';
}

async function toolInfo(conn: Connection, database: string | undefined, signal?: AbortSignal): Promise<{ clients: MysqlClients; info: ToolInfo }> {
  const clients = await findClients(signal);
  const version = await serverVersion(clients, conn, database, signal);
  return { clients, info: { tool: clients.tool, clientVersion: clients.clientVersion, serverVersion: version } };
}

/** Starts the dump program for conn's database; the option file lives until the stream closes. */
async function startDump(clients: MysqlClients, conn: Connection, signal?: AbortSignal): Promise<Readable> {
  const secret = await createSecretFile('my.cnf', optionFile(conn));
  let stream: Readable;
  try {
    stream = spawnSource({
      command: clients.dump,
      args: [`--defaults-extra-file=${secret.path}`, ...DUMP_FLAGS, '--', conn.database],
      label: 'MYSQL_DUMP',
      signal,
      explain: explainFor(conn),
    });
  } catch (err) {
    await secret.remove();
    throw err;
  }
  stream.once('close', () => void secret.remove());
  return stream;
}

interface DatabaseState extends TargetState {
  charset?: string;
  collation?: string;
}

async function inspectDatabase(clients: MysqlClients, conn: Connection, name: string, signal?: AbortSignal): Promise<DatabaseState> {
  const n = quoteString(name);
  // The plain comparison lets the server look up one schema; the binary one makes the match exact
  // (information_schema compares case-insensitively).
  const where = (col: string) => `${col} = ${n} AND CAST(${col} AS BINARY) = CAST(${n} AS BINARY)`;
  const sql = [
    `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE ${where('SCHEMA_NAME')};`,
    `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE ${where('TABLE_SCHEMA')})`,
    ` + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ${where('ROUTINE_SCHEMA')})`,
    ` + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE ${where('EVENT_SCHEMA')})`,
    ` + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE ${where('TRIGGER_SCHEMA')});`,
  ].join('\n');
  const rows = await runSql(clients, conn, `${sql}\n`, { signal });
  if (rows.length < 2) return { exists: false, empty: true };
  return { exists: true, empty: Number(rows[1][0]) === 0, charset: rows[0][0], collation: rows[0][1] };
}

async function createDatabase(clients: MysqlClients, conn: Connection, name: string, charset = 'utf8mb4', collation?: string, signal?: AbortSignal): Promise<void> {
  const cs = /^\w+$/.test(charset) ? charset : 'utf8mb4';
  const coll = collation && /^\w+$/.test(collation) ? ` COLLATE ${collation}` : '';
  await runSql(clients, conn, `CREATE DATABASE ${quoteIdent(name)} CHARACTER SET ${cs}${coll};\n`, { signal });
}

async function dropDatabase(clients: MysqlClients, conn: Connection, name: string): Promise<void> {
  await runSql(clients, conn, `DROP DATABASE IF EXISTS ${quoteIdent(name)};\n`);
}

function isPipeClosed(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

/**
 * Feeds source into the query client running on conn's database. Resolves when all of it was read and
 * the client exited 0. If the input fails first, the client is killed (so no truncated input looks
 * complete) and the input's error is thrown; if the client fails, its explained error is.
 */
async function load(
  clients: MysqlClients,
  conn: Connection,
  input: Readable,
  signal?: AbortSignal,
  onProgress?: (bytes: number) => void,
  sql?: RestoreOptions['sql'],
): Promise<string[]> {
  const source = input instanceof FilteredSqlStream ? input : filterSql([input], { dialect: 'mysql', select: sql?.database, allowProgram: sql?.allowProgram });
  await withOptionFile(conn, async (file) => {
    const sink = spawnSink({
      command: clients.client,
      args: [`--defaults-extra-file=${file}`, connectTimeoutArg(), '--default-character-set=utf8mb4', '--binary-mode', '--local-infile=0', MAX_PACKET, '--', conn.database],
      label: 'MYSQL_RESTORE',
      signal,
      explain: explainFor(conn),
    });
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        onProgress?.(bytes);
        cb(null, chunk);
      },
    });
    let inputError: unknown;
    const feeding = pipeline(source, counter, sink.stdin, signal ? { signal } : {}).catch((err: unknown) => {
      inputError = err;
      if (!isPipeClosed(err)) sink.kill();
    });
    const childError = await sink.done.then(
      () => undefined,
      (err: unknown) => err,
    );
    await feeding;
    if (inputError !== undefined && !isPipeClosed(inputError)) throw asCoffreError(inputError);
    if (childError !== undefined) throw childError;
    if (inputError !== undefined) {
      throw failure('MYSQL_RESTORE_FAILED', 'The mysql client stopped reading the dump before its end although it reported success; nothing guarantees the data is complete.');
    }
  });
  return source.sqlFilter.notes();
}

function inputStream(input: Readable | string): Readable {
  return typeof input === 'string' ? createReadStream(input) : input;
}

/**
 * Restore drills on a scratch database. Row counts are exact COUNT(*) of the base tables (names read as hex,
 * so any name survives the client's tab-separated output). An assertion runs as one statement through the
 * query client (SQL on stdin, never argv or a shell) inside START TRANSACTION READ ONLY, with MariaDB's
 * max_statement_time (MySQL: max_execution_time) and the client killed after the timeout either way.
 */
const drill: DrillSupport = {
  async checkAssertion(assertion) {
    await assertionStatement(assertion, 'mysql');
  },

  async drop(conn, signal) {
    signal?.throwIfAborted();
    await dropDatabase(await findClients(signal), conn, conn.database);
  },

  async countRows(conn, tables, signal) {
    const clients = await findClients(signal);
    const n = quoteString(conn.database);
    const listed = await runSql(
      clients,
      conn,
      `SELECT HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${n} AND CAST(TABLE_SCHEMA AS BINARY) = CAST(${n} AS BINARY) AND TABLE_TYPE = 'BASE TABLE';\n`,
      { signal },
    );
    const present = new Set(listed.map((r) => Buffer.from(r[0], 'hex').toString('utf8')));
    const out: Record<string, number | null> = {};
    const counted = tables.filter((t) => present.has(t));
    for (const t of tables) out[t] = null;
    for (let i = 0; i < counted.length; i += 50) {
      const batch = counted.slice(i, i + 50);
      const sql = `${batch.map((t, j) => `SELECT ${i + j}, COUNT(*) FROM ${quoteIdent(t)}`).join(' UNION ALL ')};\n`;
      for (const [index, count] of await runSql(clients, conn, sql, { database: conn.database, signal })) out[counted[Number(index)]] = Number(count);
    }
    return out;
  },

  async assert(conn, assertion, timeoutMs, signal): Promise<AssertionResult> {
    const statement = await assertionStatement(assertion, 'mysql');
    const clients = await findClients(signal);
    const version = (await runSql(clients, conn, 'SELECT VERSION();\n', { database: conn.database, signal }))[0]?.[0] ?? '';
    const limit = /mariadb/i.test(version) ? `SET SESSION max_statement_time = ${(timeoutMs / 1000).toFixed(3)};` : `SET SESSION max_execution_time = ${Math.ceil(timeoutMs)};`;
    const timer = AbortSignal.timeout(timeoutMs + 5000);
    const sql = `${limit}\nSTART TRANSACTION READ ONLY;\n${statement}\n;\nROLLBACK;\n`;
    let rows: string[][];
    try {
      rows = await runSql(clients, conn, sql, { database: conn.database, signal: signal ? AbortSignal.any([signal, timer]) : timer });
    } catch (err) {
      const text = asCoffreError(err).message;
      if (timer.aborted || /max_statement_time|max_execution_time|\b1969\b|\b3024\b/.test(text))
        throw failure('DRILL_ASSERTION_TIMEOUT', `The assertion ran longer than its ${timeoutMs / 1000} s timeout and was cancelled.`);
      if (signal?.aborted) throw err;
      throw failure('DRILL_ASSERTION_ERROR', `The MySQL server refused the assertion: ${redact(text)}`);
    }
    const value = rows[0]?.[0];
    return { ok: value !== undefined && value !== 'NULL' && holds(value), value: value === undefined ? '(no row)' : shown(value) };
  },
};

export const mysql = {
  name: 'mysql',
  restores: ['sql'] as const satisfies readonly RawFormat[],
  extension: 'sql',

  async probe(conn, signal?: AbortSignal) {
    return (await toolInfo(conn, undefined, signal)).info;
  },

  async dump(conn, options) {
    // Connecting to the database itself first turns a bad login, host or name into a rejection here.
    const { clients, info } = await toolInfo(conn, conn.database, options.signal);
    const stream = await startDump(clients, conn, options.signal);
    return { ...info, stream, format: 'sql' };
  },

  systemDatabases: ['information_schema', 'performance_schema', 'mysql', 'sys'],
  async listDatabases(conn, signal?: AbortSignal) {
    const clients = await findClients(signal);
    return (await runSql(clients, conn, 'SHOW DATABASES', { signal })).map((r) => r[0]).sort();
  },

  async inspect(conn, signal?: AbortSignal) {
    const clients = await findClients(signal);
    const { exists, empty } = await inspectDatabase(clients, conn, conn.database, signal);
    return { exists, empty };
  },

  async restore(conn, input, format, options: RestoreOptions) {
    if (format !== 'sql') {
      throw usageError(
        'MYSQL_BAD_FORMAT',
        `A MySQL/MariaDB target restores plain SQL dumps (mariadb-dump, mysqldump), not "${format}": choose a target of the engine that made this dump.`,
      );
    }
    const { signal, onProgress } = options;
    const source = inputStream(input);
    // An input that fails while we probe must not crash the process; the pipeline reports it later.
    source.on('error', () => {});
    const { clients, info } = await toolInfo(conn, undefined, signal);
    const name = conn.database;
    const state = await inspectDatabase(clients, conn, name, signal);
    if (state.exists && !state.empty && !options.replace) {
      throw conflict(
        'TARGET_NOT_EMPTY',
        `The database "${name}" already holds data: restore into a new or empty database, or pass {hint} to overwrite it.`,
        { database: name },
        { flag: 'replace' },
      );
    }

    if (!state.exists || state.empty) {
      if (!state.exists) await createDatabase(clients, conn, name, 'utf8mb4', undefined, signal);
      let notes: string[];
      try {
        notes = await load(clients, conn, source, signal, onProgress, options.sql);
      } catch (err) {
        // Leave the target as it was: absent, or present and empty.
        await dropDatabase(clients, conn, name)
          .then(() => (state.exists ? createDatabase(clients, conn, name, state.charset, state.collation) : undefined))
          .catch(() => {}); // the restore's own error is the one to report
        throw err;
      }
      return { ...info, tool: path.basename(clients.client), database: name, notes }; // what ran the SQL, not the dump tool
    }

    const side = `coffre_restore_${randomBytes(6).toString('hex')}`;
    const sideConn = withDatabase(conn, side);
    await createDatabase(clients, conn, side, state.charset, state.collation, signal);
    let notes: string[];
    try {
      notes = await load(clients, sideConn, source, signal, onProgress, options.sql);
    } catch (err) {
      await dropDatabase(clients, conn, side).catch(() => {}); // the target was not touched; report the restore's error
      throw err;
    }
    try {
      await dropDatabase(clients, conn, name);
      await createDatabase(clients, conn, name, state.charset, state.collation, signal);
      await load(clients, conn, await startDump(clients, sideConn, signal), signal);
    } catch (err) {
      const cause = asCoffreError(err);
      throw failure(
        'MYSQL_REPLACE_FAILED',
        `The dump restored correctly into the side database "${side}", but replacing the contents of "${name}" with it failed (${cause.message}). "${name}" may now be partly filled; the complete restored data is kept in "${side}": fix the cause and restore again, then drop "${side}".`,
        { cause: err, details: { database: name, sideDatabase: side } },
      );
    }
    await dropDatabase(clients, conn, side).catch(() => {}); // the restore is complete; a leftover side copy is only clutter
    return { ...info, tool: path.basename(clients.client), database: name, notes }; // what ran the SQL, not the dump tool
  },
  drill,
} satisfies Engine;
