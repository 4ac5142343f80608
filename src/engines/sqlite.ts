// SQLite engine, with node:sqlite only (no sqlite3 binary needed). A dump is SQLite's online backup of
// the live database into a private temporary file, which is then streamed and removed: the backup API
// copies a consistent snapshot even while other connections write, which copying the file would not.
// A restore writes the incoming file beside the target, runs PRAGMA integrity_check on it, and only then
// renames it over the target (atomic on one filesystem); a target with content is replaced only on request.
// SQL text (`sqlite3 .dump` output, or a script) is run the same way: statement by statement, through the
// restore filter (no ATTACH, no dot-command), in one transaction into a new file beside the target, which
// then takes the target's place only once it is complete and passes the integrity check.

import { createReadStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { backup, DatabaseSync } from 'node:sqlite';
import type { Connection } from '../core/connection.ts';
import { asCoffreError, conflict, failure, usageError } from '../core/errors.ts';
import type { AssertionResult, DrillSupport, Engine, RawFormat, RestoreOptions, RowCounts, TargetState, ToolInfo } from '../core/types.ts';
import { runTool } from '../children/process.ts';
import { assertionStatement, holds, shown } from './drill-sql.ts';
import { FilteredSqlStream, filterSql } from '../sql/filter.ts';
import { sqlStatements } from '../sql/split.ts';

const clientVersion = process.versions.sqlite ?? 'unknown';

function filePath(conn: Connection): string {
  return conn.path ?? conn.database;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Opens an existing database read-only; never creates a file. */
async function openExisting(file: string): Promise<DatabaseSync> {
  if (!(await exists(file))) {
    throw failure('DATABASE_NOT_FOUND', `The SQLite database ${file} does not exist: check the target's path.`);
  }
  try {
    return new DatabaseSync(file, { readOnly: true });
  } catch (err) {
    throw failure('SQLITE_OPEN_FAILED', `Could not open the SQLite database ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function serverVersion(db: DatabaseSync): string {
  const row = db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
  return row.v;
}

function objectCount(db: DatabaseSync): number {
  const row = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").get() as { n: number };
  return Number(row.n);
}

function notADatabase(file: string, err: unknown) {
  return failure('SQLITE_INVALID', `${file} is not a readable SQLite database: ${(err as Error).message}`, { cause: err });
}

/** Runs a SQL script into the new, empty database file `side` in one transaction; returns the filter's notes. */
async function runScript(side: string, input: Readable, options: RestoreOptions): Promise<string[]> {
  const script = input instanceof FilteredSqlStream ? input : filterSql([input], { dialect: 'sqlite', select: options.sql?.database });
  // Foreign keys off, as in the sqlite3 shell that .dump output is written for: its tables come in name
  // order, so a row may name a table created further down (the dump's own PRAGMA foreign_keys=OFF would
  // be a no-op inside the transaction).
  const db = new DatabaseSync(side, { enableForeignKeyConstraints: false });
  let n = 0;
  try {
    db.exec('BEGIN');
    for await (const statement of sqlStatements(script, 'sqlite')) {
      options.signal?.throwIfAborted();
      n++;
      try {
        db.exec(statement);
      } catch (err) {
        throw failure(
          'SQLITE_RESTORE_FAILED',
          `SQLite refused statement ${n} of the SQL file: ${(err as Error).message} (${statement.trim().slice(0, 120)}). Nothing was restored.`,
          { cause: err },
        );
      }
      options.onProgress?.(script.sqlFilter.report.bytesIn);
    }
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  } finally {
    db.close();
    script.destroy();
  }
  return script.sqlFilter.notes();
}

function quoteName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The tables of a database (sqlite_master type 'table', SQLite's own excepted). */
function tableNames(db: DatabaseSync): string[] {
  return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
}

/** Exact row counts of a snapshot's tables (what the dump streams), for restore drills. */
function snapshotCounts(file: string): RowCounts {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const tables: Record<string, number> = {};
    for (const name of tableNames(db)) tables[name] = Number((db.prepare(`SELECT count(*) AS n FROM ${quoteName(name)}`).get() as { n: number }).n);
    return { method: 'snapshot-count', tables };
  } finally {
    db.close();
  }
}

// A user assertion runs in a child node process on the scratch file opened read-only, so that a query that
// outlives its timeout can be killed (node:sqlite has no interrupt). Its SQL arrives on stdin as JSON.
const ASSERT_CHILD = `
const { DatabaseSync } = require('node:sqlite');
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  let out;
  try {
    const { file, sql } = JSON.parse(input);
    const db = new DatabaseSync(file, { readOnly: true });
    try {
      const row = db.prepare(sql).get();
      out = { row: row === undefined ? null : Object.values(row).map((v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? '(blob)' : v)) };
    } finally {
      db.close();
    }
  } catch (err) {
    out = { error: String(err && err.message || err) };
  }
  process.stdout.write(JSON.stringify(out));
});
`;

/** Restore drills on a scratch SQLite file (a temporary file coffre made; see services/drills.ts). */
const drill: DrillSupport = {
  async checkAssertion(assertion) {
    await assertionStatement(assertion, 'sqlite');
  },

  async drop(conn) {
    const file = filePath(conn);
    for (const suffix of ['', '-wal', '-shm', '-journal']) await rm(`${file}${suffix}`, { force: true });
  },

  async countRows(conn, tables) {
    const db = await openExisting(filePath(conn));
    try {
      const present = new Set(tableNames(db));
      const out: Record<string, number | null> = {};
      for (const t of tables) out[t] = present.has(t) ? Number((db.prepare(`SELECT count(*) AS n FROM ${quoteName(t)}`).get() as { n: number }).n) : null;
      return out;
    } finally {
      db.close();
    }
  },

  async assert(conn, assertion, timeoutMs, signal): Promise<AssertionResult> {
    const sql = await assertionStatement(assertion, 'sqlite');
    const timer = AbortSignal.timeout(timeoutMs);
    let text: string;
    try {
      text = await runTool(
        { command: process.execPath, args: ['--no-warnings', '-e', ASSERT_CHILD], label: 'SQLITE_ASSERT', signal: signal ? AbortSignal.any([signal, timer]) : timer },
        JSON.stringify({ file: filePath(conn), sql }),
      );
    } catch (err) {
      if (timer.aborted) throw failure('DRILL_ASSERTION_TIMEOUT', `The assertion ran longer than its ${timeoutMs / 1000} s timeout and was stopped.`);
      throw err;
    }
    const out = JSON.parse(text) as { row?: unknown[] | null; error?: string };
    if (out.error !== undefined) throw failure('DRILL_ASSERTION_ERROR', `SQLite refused the assertion: ${out.error}`);
    const value = out.row?.[0];
    return { ok: out.row ? holds(value) : false, value: out.row ? shown(value) : '(no row)' };
  },
};

export const sqlite = {
  name: 'sqlite',
  restores: ['sqlite', 'sql'] as RawFormat[],
  extension: 'sqlite',

  async probe(conn: Connection): Promise<ToolInfo> {
    const db = await openExisting(filePath(conn));
    try {
      return { tool: 'node:sqlite', clientVersion, serverVersion: serverVersion(db) };
    } catch (err) {
      throw notADatabase(filePath(conn), err);
    } finally {
      db.close();
    }
  },

  async dump(conn: Connection, options: { signal?: AbortSignal }) {
    const file = filePath(conn);
    const db = await openExisting(file);
    const dir = await mkdtemp(path.join(tmpdir(), 'coffre-sqlite-'));
    const copy = path.join(dir, 'snapshot.sqlite');
    let version: string;
    try {
      version = serverVersion(db);
      options.signal?.throwIfAborted();
      // One step (a rate above any page count): the whole copy happens under one read snapshot. With the default stepwise copy, every
      // write by another connection restarts the backup, and a busy database would never finish.
      await backup(db, copy, { rate: 0x7fffffff });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      if ((err as Error).name === 'AbortError') throw asCoffreError(err);
      throw notADatabase(file, err);
    } finally {
      db.close();
    }
    let counts: RowCounts;
    try {
      counts = snapshotCounts(copy);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw notADatabase(file, err);
    }
    const stream = createReadStream(copy, { highWaterMark: 1 << 20, signal: options.signal });
    stream.once('close', () => void rm(dir, { recursive: true, force: true }));
    return { stream, format: 'sqlite' as RawFormat, tool: 'node:sqlite', clientVersion, serverVersion: version, rowCounts: () => counts };
  },

  async inspect(conn: Connection): Promise<TargetState> {
    const file = filePath(conn);
    if (!(await exists(file))) return { exists: false, empty: true };
    if ((await stat(file)).size === 0) return { exists: true, empty: true };
    const db = await openExisting(file);
    try {
      return { exists: true, empty: objectCount(db) === 0 };
    } catch (err) {
      throw notADatabase(file, err);
    } finally {
      db.close();
    }
  },

  async restore(conn: Connection, input: Readable | string, format: RawFormat, options: RestoreOptions) {
    if ((format !== 'sqlite' && format !== 'sql') || typeof input === 'string') {
      throw usageError('FORMAT_MISMATCH', `A SQLite target restores SQLite database files and SQL text (sqlite3 .dump), not "${format}".`);
    }
    const file = filePath(conn);
    const state = await this.inspect(conn);
    if (!state.empty && !options.replace) {
      input.destroy();
      throw conflict('TARGET_NOT_EMPTY', `The SQLite database ${file} already holds data: pass {hint} to overwrite it, or restore to another target.`, undefined, {
        flag: 'replace',
      });
    }
    // Write beside the target so that the final rename stays on one filesystem (atomic).
    const side = `${file}.coffre-restore-${randomBytes(6).toString('hex')}`;
    let committed = false;
    let notes: string[] | undefined;
    try {
      const fh = await open(side, 'wx', 0o600);
      if (format === 'sql') {
        await fh.close();
        notes = await runScript(side, input, options);
      } else {
        let bytes = 0;
        const count = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            options.onProgress?.((bytes += chunk.length));
            cb(null, chunk);
          },
        });
        // flush: fsync before close; the stream owns and closes fh.
        await pipeline(input, count, fh.createWriteStream({ flush: true }), { signal: options.signal });
      }
      let version: string;
      const db = new DatabaseSync(side);
      try {
        const rows = db.prepare('PRAGMA integrity_check').all() as Array<{ integrity_check: string }>;
        const verdict = rows.map((r) => r.integrity_check).join('; ');
        if (verdict !== 'ok') throw failure('SQLITE_CORRUPT', `The restored SQLite file fails PRAGMA integrity_check: ${verdict.slice(0, 500)}`);
        version = serverVersion(db);
        // Fold any WAL content into the file so that the rename moves one complete database.
        db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch (err) {
        throw asCoffreError(err, 'SQLITE_INVALID');
      } finally {
        db.close();
      }
      if (state.exists && !state.empty) {
        // The old database's WAL must not be replayed onto the new file: checkpoint it away first.
        const old = new DatabaseSync(file);
        try {
          old.exec('PRAGMA wal_checkpoint(TRUNCATE)');
        } finally {
          old.close();
        }
      }
      await rename(side, file);
      committed = true;
      await rm(`${file}-wal`, { force: true });
      await rm(`${file}-shm`, { force: true });
      const dirHandle = await open(path.dirname(file), 'r');
      await dirHandle.sync().finally(() => dirHandle.close());
      return { database: file, tool: 'node:sqlite', clientVersion, serverVersion: version, notes };
    } catch (err) {
      throw asCoffreError(err, 'SQLITE_RESTORE_FAILED');
    } finally {
      if (!committed) {
        await rm(side, { force: true });
        await rm(`${side}-wal`, { force: true });
        await rm(`${side}-shm`, { force: true });
        await rm(`${side}-journal`, { force: true });
      }
    }
  },
  drill,
} satisfies Engine;
