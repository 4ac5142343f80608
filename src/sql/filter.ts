// The restore filter: every SQL text restore passes through it on its way to psql, the mariadb client or
// SQLite, so that a restore touches only its target and nothing in the file runs as a command on this host.
// Built on the statement lexer (lexer.ts), it passes bytes through unchanged except:
// - statements that pick, create or drop a database are dropped: PostgreSQL `\connect`/`\c`,
//   CREATE/DROP/ALTER DATABASE, COMMENT/GRANT/REVOKE/SECURITY LABEL ... ON DATABASE; MySQL/MariaDB `USE`,
//   `connect`, `\u`, CREATE/DROP DATABASE|SCHEMA (also inside /*!NNNNN ... */); a MySQL
//   `ALTER DATABASE name ...` on the dump's own database is rewritten to `ALTER DATABASE ...` (which the
//   server applies to the session's database, the target);
// - the databases a dump switches to or creates are counted: a dump of several (pg_dumpall,
//   mariadb-dump --all-databases or --databases a b) is refused unless `select` picks one, and then
//   only that database's statements (and the session settings before the first) are kept;
// - client commands are dropped (psql's own `\restrict`/`\unrestrict`, and `\set`, `\echo`, `\encoding`,
//   `\pset`, `\timing` and the like) or refused (`\!`, `\o`, `\g…`, `\copy`, `\i`, `\ir`, `\setenv`,
//   `\w`, sqlite3 dot-commands, any other): none ever reaches a client;
// - COPY ... FROM/TO PROGRAM and COPY ... FROM/TO a server file, and MySQL's LOAD DATA INFILE and SELECT ... INTO
//   OUTFILE|DUMPFILE, are refused unless allowProgram; SQLite ATTACH/DETACH and VACUUM INTO are refused, its
//   BEGIN/COMMIT dropped (the SQLite restore runs in its own transaction);
// - statements that change the server itself rather than the target database are refused: PostgreSQL roles,
//   role memberships (GRANT/REVOKE without ON), tablespaces, grants, comments and security labels on roles,
//   tablespaces and parameters, ALTER SYSTEM, LOAD; MySQL/MariaDB users, roles,
//   GRANT/REVOKE, passwords, plugins, servers, tablespaces, replication, FLUSH, KILL, SHUTDOWN. Its global
//   variables (SET GLOBAL, @@GLOBAL: a dump's GTID bookkeeping) are dropped.
// Memory stays bounded whatever the input size: bytes are passed on as soon as the lexer has read them,
// except the prefix of a statement (or a client command line) that may have to be dropped, held until
// its first tokens decide (a COPY statement until its end); a held prefix over MAX_HOLD bytes is refused.

import { Readable } from 'node:stream';
import { type CoffreError, usageError } from '../core/errors.ts';
import { SqlLexer, SqlLexError, type ClientCommand, type SqlDialect, type StatementInfo, type Token } from './lexer.ts';

export type { SqlDialect } from './lexer.ts';

/** Longest statement prefix (or client command line) held while deciding what it is. */
export const MAX_HOLD = 1 << 20;

export interface SqlFilterOptions {
  dialect: SqlDialect;
  /** The one database of a multi-database dump to restore (`--database NAME`). */
  select?: string;
  /** Let server-side COPY through: FROM/TO PROGRAM and FROM/TO a server file (`--allow-program`). */
  allowProgram?: boolean;
  /** Let statements on the server itself through: a PostgreSQL server run's globals, restored into the server. */
  serverStatements?: boolean;
  /** Only read and report (a first pass over a file): no output, no refusal for several databases. */
  inspect?: boolean;
}

export interface SqlFilterReport {
  /** Databases the dump switches to or creates, in order of appearance. */
  databases: string[];
  /** Statements dropped because they pick, create, drop or alter a database, by kind. */
  dropped: Map<string, number>;
  /** MySQL ALTER DATABASE statements whose database name was removed. */
  rewritten: number;
  /** Client commands dropped, by name. */
  commands: Map<string, number>;
  /** Statements of other databases (or outside any) left out because `select` picked one. */
  skipped: number;
  /** MySQL names qualified with the dump's own database whose qualifier was removed. */
  qualified: number;
  /** Bytes read. */
  bytesIn: number;
}

type Decision =
  | { action: 'pass' }
  | { action: 'session' }
  | { action: 'switch'; db: string; label: string }
  | { action: 'create'; db: string; label: string }
  | { action: 'drop'; label: string }
  | { action: 'rename'; db: string; token: Token }
  | { action: 'refuse'; error: CoffreError }
  /** A statement on the server itself: refused where it would be restored (a database not picked skips it). */
  | { action: 'server'; error: CoffreError };

const ENGINE_WORDS: Record<SqlDialect, string> = { postgres: 'PostgreSQL', mysql: 'MySQL/MariaDB', sqlite: 'SQLite' };

/** psql meta-commands that change nothing outside the session: dropped. Any other one is refused. */
const HARMLESS_PSQL = new Set(['restrict', 'unrestrict', 'set', 'unset', 'echo', 'qecho', 'warn', 'encoding', 'pset', 'timing']);

/** Words after MySQL's ALTER DATABASE that mean it names no database (it applies to the current one). */
const ALTER_NO_NAME = new Set(['CHARACTER', 'CHARSET', 'DEFAULT', 'COLLATE', 'READ', 'ENCRYPTION', 'COMMENT']);

export class SqlFilter {
  /** A server statement met before the dump named a database, while it may hold several (see end()). */
  #serverRefusal: CoffreError | undefined;
  readonly report: SqlFilterReport = { databases: [], dropped: new Map(), rewritten: 0, commands: new Map(), skipped: 0, qualified: 0, bytesIn: 0 };
  readonly #options: SqlFilterOptions;
  readonly #lexer: SqlLexer;

  // bytes received and not yet passed on or dropped
  #segments: Buffer[] = [];
  #resolved = 0;
  #drops: { start: number; end: number }[] = [];
  #holdStart: number | null = null;
  #out: Buffer[] = [];

  // the current statement
  #tokens: Token[] = [];
  #decided: Decision | null = null;
  #copyDecision: 'pass' | 'drop' = 'pass';
  #current: string | undefined; // the database whose section this is
  #synthetic = 0;
  #stmtDropped = false;

  constructor(options: SqlFilterOptions) {
    this.#options = options;
    this.#lexer = new SqlLexer(options.dialect, {
      statementStart: (pos) => this.#statementStart(pos),
      token: (t) => this.#token(t),
      statementEnd: (info) => this.#statementEnd(info),
      commandStart: (pos) => this.#hold(pos),
      qualifier: (t, dotEnd) => this.#qualifier(t, dotEnd),
      command: (cmd) => this.#command(cmd),
      copyStart: (pos) => {
        if (this.#copyDecision === 'drop') this.#drops.push({ start: pos, end: Infinity });
      },
      copyData: (_start, end) => {
        if (this.#copyDecision === 'drop') this.#closeDrop(end);
      },
    });
  }

  /** Reads a chunk; returns the bytes to pass on. Throws a coded CoffreError for a refused input. */
  write(chunk: Buffer): Buffer[] {
    this.report.bytesIn += chunk.length;
    if (!this.#options.inspect) this.#segments.push(chunk);
    this.#guard(() => this.#lexer.write(chunk));
    return this.#flush();
  }

  /** One file ended and another follows (`--file a --file b`). */
  endOfFile(name: string): Buffer[] {
    this.#guard(() => this.#lexer.endOfFile());
    if (!this.#lexer.inPlainText || (!this.#lexer.atBoundary && !this.#lexer.inStatement)) {
      throw usageError('SQL_FILE_ENDS_INSIDE', `The file ${name} ends ${this.#lexer.where}, so it cannot be followed by the next --file: check that it is complete.`);
    }
    if (this.#lexer.inStatement) {
      // As psql and the mysql client do at the end of a file: the last statement runs without its terminator.
      const end = Buffer.from(`\n${this.#options.dialect === 'mysql' ? this.#lexer.delimiter : ';'}\n`);
      this.#synthetic += end.length;
      this.write(end);
    }
    return this.#flush();
  }

  /** The input ended; returns the last bytes to pass on. */
  end(): Buffer[] {
    this.#guard(() => this.#lexer.end());
    // A server statement before the dump named a database: refused now that it holds one at most.
    if (this.#serverRefusal && this.report.databases.length <= 1) throw this.#serverRefusal;
    const select = this.#options.select;
    if (select !== undefined && !this.#options.inspect && !this.report.databases.includes(select)) throw notInDump(this.#options.dialect, select, this.report.databases);
    return this.#flush();
  }

  /** What the filter changed, for the journal message; empty when it changed nothing. */
  notes(): string[] {
    return describe(this.report, this.#options);
  }

  // --- listener

  #statementStart(pos: number): void {
    this.#tokens = [];
    this.#decided = null;
    this.#hold(pos);
  }

  /**
   * MySQL: `db.table` naming the dump's own database (Sakila's views say `sakila.film`) becomes `table`,
   * which the server resolves in the session's database: the target.
   */
  #qualifier(t: Token, dotEnd: number): void {
    if (this.#options.dialect !== 'mysql' || this.#stmtDropped) return;
    const own = this.#current ?? (this.report.databases.length === 1 ? this.report.databases[0] : undefined);
    if (own === undefined || nameOf('mysql', t) !== own) return;
    this.#drops.push({ start: t.start, end: dotEnd });
    this.report.qualified++;
  }

  #hold(pos: number): void {
    if (this.#holdStart === null) this.#holdStart = pos;
  }

  #token(t: Token): void {
    this.#tokens.push(t);
    if (this.#decided) return;
    const d = classify(this.#options.dialect, this.#tokens, undefined);
    if (d) this.#apply(d, null);
  }

  #statementEnd(info: StatementInfo): void {
    if (!this.#decided) this.#apply(classify(this.#options.dialect, info.tokens, info) ?? { action: 'pass' }, info);
    else this.#finish(info);
  }

  #apply(d: Decision, info: StatementInfo | null): void {
    this.#decided = d;
    if (d.action === 'refuse') throw d.error;
    const start = this.#holdStart ?? 0;
    const keep = this.#keep(d);
    this.#stmtDropped = !keep;
    if (!keep) this.#drops.push({ start, end: Infinity });
    if (d.action === 'rename' && keep) this.#drops.push({ start: d.token.start, end: d.token.end });
    // Decided: what is held goes on (or is dropped) as soon as it is read.
    this.#holdStart = null;
    if (info) this.#finish(info);
  }

  /** Whether a decided statement goes to the client; records what it names. */
  #keep(d: Decision): boolean {
    const select = this.#options.select;
    const r = this.report;
    const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
    switch (d.action) {
      case 'switch':
        this.#record(d.db);
        this.#current = d.db;
        count(r.dropped, d.label);
        return false;
      case 'create':
        this.#record(d.db);
        count(r.dropped, d.label);
        return false;
      case 'drop':
        count(r.dropped, d.label);
        return false;
      case 'rename': {
        const own = select !== undefined ? this.#current === select && d.db === select : this.#current === undefined || this.#current === d.db;
        if (own) r.rewritten++;
        else count(r.dropped, 'ALTER DATABASE');
        return own;
      }
      case 'session':
        if (select === undefined || this.#current === undefined || this.#current === select) return true;
        r.skipped++;
        return false;
      case 'server':
        if (this.#options.serverStatements) return select === undefined || this.#current === select;
        if (select !== undefined && this.#current !== select) {
          r.skipped++;
          return false;
        }
        // Before any database is named, the dump may hold several (pg_dumpall's roles come first): refused
        // at its end if it holds one, the dump itself refused at its second database otherwise.
        if (select !== undefined || this.report.databases.length > 0) throw d.error;
        this.#serverRefusal ??= d.error;
        return false;
      default:
        if (select === undefined || this.#current === select) return true;
        r.skipped++;
        return false;
    }
  }

  #record(db: string): void {
    const dbs = this.report.databases;
    if (dbs.includes(db)) return;
    dbs.push(db);
    if (dbs.length > 1 && this.#options.select === undefined && !this.#options.inspect) throw severalDatabases(this.#options.dialect, dbs, false);
  }

  #finish(info: StatementInfo): void {
    if (info.copyProgram && !this.#options.allowProgram && !this.#stmtDropped) throw copyProgram();
    if (info.copyFile && !this.#stmtDropped) {
      // LOAD DATA LOCAL INFILE reads a file of this host, the client's: never, whatever is allowed.
      const local = this.#options.dialect === 'mysql' && word(info.tokens, 0) === 'LOAD' && info.tokens.slice(0, 6).some((t) => t.kind === 'word' && t.text === 'LOCAL');
      if (local) throw localInfile();
      if (!this.#options.allowProgram) throw copyServerFile(this.#options.dialect);
    }
    if (this.#stmtDropped) this.#closeDrop(info.end);
    this.#copyDecision = this.#stmtDropped ? 'drop' : 'pass';
    this.#stmtDropped = false;
    this.#holdStart = null;
  }

  #closeDrop(end: number): void {
    for (let k = this.#drops.length - 1; k >= 0; k--) {
      if (this.#drops[k].end === Infinity) {
        this.#drops[k].end = end;
        return;
      }
    }
  }

  #command(cmd: ClientCommand): void {
    const d = commandDecision(this.#options.dialect, cmd);
    if (d.action === 'refuse') throw d.error;
    if (d.action === 'pass') {
      this.#releaseCommandHold(cmd);
      return;
    }
    if (d.action === 'switch') {
      this.#record(d.db);
      this.#current = d.db;
      this.report.dropped.set(d.label, (this.report.dropped.get(d.label) ?? 0) + 1);
    } else if (d.action === 'drop') {
      this.report.commands.set(d.label, (this.report.commands.get(d.label) ?? 0) + 1);
    }
    this.#drops.push({ start: cmd.start, end: cmd.end });
    this.#releaseCommandHold(cmd);
  }

  /** A command held bytes from its start; a statement it sits in keeps its own hold. */
  #releaseCommandHold(cmd: ClientCommand): void {
    if (this.#holdStart === cmd.start) this.#holdStart = null;
  }

  // --- output

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof SqlLexError) throw usageError(`SQL_${err.reason.toUpperCase().replace(/-/g, '_')}`, `${err.message} (at byte ${err.position - this.#synthetic}).`);
      throw err;
    }
    const heldFrom = Math.min(this.#holdStart ?? Infinity, this.#lexer.settled);
    if (this.#lexer.scanned - heldFrom > MAX_HOLD) {
      throw usageError(
        'SQL_STATEMENT_TOO_LONG',
        `A statement, name or client command at byte ${heldFrom - this.#synthetic} runs over ${MAX_HOLD} bytes before coffre can tell what it does (it may name a database): split it, or check the file.`,
      );
    }
  }

  #flush(): Buffer[] {
    if (this.#options.inspect) return [];
    const limit = Math.min(this.#options.dialect === 'mysql' ? this.#lexer.settled : this.#lexer.scanned, this.#holdStart ?? Infinity);
    while (this.#resolved < limit) {
      let cut = limit;
      let skipTo = -1;
      for (const d of this.#drops) {
        if (d.end <= this.#resolved) continue;
        if (d.start <= this.#resolved) skipTo = Math.max(skipTo, Math.min(d.end, limit));
        else cut = Math.min(cut, d.start);
      }
      if (skipTo > this.#resolved) this.#take(skipTo - this.#resolved, false);
      else this.#take(cut - this.#resolved, true);
    }
    this.#drops = this.#drops.filter((d) => d.end > this.#resolved);
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #take(n: number, emit: boolean): void {
    this.#resolved += n;
    while (n > 0) {
      const seg = this.#segments[0];
      if (seg.length <= n) {
        if (emit) this.#out.push(seg);
        this.#segments.shift();
        n -= seg.length;
      } else {
        if (emit) this.#out.push(seg.subarray(0, n));
        this.#segments[0] = seg.subarray(n);
        n = 0;
      }
    }
  }
}

// --- classification

function word(tokens: Token[], i: number): string | undefined {
  const t = tokens[i];
  return t && t.kind === 'word' ? t.text : undefined;
}

/** Index of the database name after `i` (skipping IF [NOT] EXISTS), or -1. */
function nameIndex(tokens: Token[], i: number): number {
  if (word(tokens, i) === 'IF') {
    i++;
    if (word(tokens, i) === 'NOT') i++;
    if (word(tokens, i) === 'EXISTS') i++;
  }
  const t = tokens[i];
  return t && (t.kind === 'word' || t.kind === 'ident' || t.kind === 'string') ? i : -1;
}

function nameOf(dialect: SqlDialect, t: Token): string {
  if (t.kind === 'word') return dialect === 'postgres' ? t.raw.toLowerCase() : t.raw;
  return t.text;
}

function quoted(dialect: SqlDialect, name: string): string {
  return dialect === 'mysql' ? `\`${name}\`` : `"${name}"`;
}

/**
 * What a statement is, from its first tokens; undefined while more tokens are needed (`info` is given at
 * the statement's end, when a decision must be made).
 */
function classify(dialect: SqlDialect, tokens: Token[], info: StatementInfo | undefined): Decision | undefined {
  const final = info !== undefined;
  const need = (n: number) => tokens.length < n && !final;
  if (tokens.length === 0) return final ? { action: 'pass' } : undefined;
  const w0 = word(tokens, 0);
  const dbWords = dialect === 'mysql' ? ['DATABASE', 'SCHEMA'] : dialect === 'postgres' ? ['DATABASE'] : [];
  const named = (at: number, make: (db: string, t: Token) => Decision, none: Decision): Decision | undefined => {
    const k = nameIndex(tokens, at);
    if (k < 0) return need(at + 4) ? undefined : none;
    return make(nameOf(dialect, tokens[k]), tokens[k]);
  };
  if (dialect === 'sqlite') {
    if (w0 === 'ATTACH' || w0 === 'DETACH') return { action: 'refuse', error: sqliteRefusal(w0) };
    if (w0 === 'VACUUM') {
      if (tokens.some((t) => t.kind === 'word' && t.text === 'INTO')) return { action: 'refuse', error: sqliteRefusal('VACUUM INTO') };
      return final || tokens.length >= 4 ? { action: 'drop', label: 'VACUUM' } : undefined;
    }
    if (w0 === 'BEGIN' || w0 === 'COMMIT' || w0 === 'END') return { action: 'drop', label: w0 };
    if (w0 === 'ROLLBACK') {
      if (need(2)) return undefined;
      if (word(tokens, 1) === 'TO' || (word(tokens, 1) === 'TRANSACTION' && word(tokens, 2) === 'TO')) return { action: 'pass' };
      return {
        action: 'refuse',
        error: usageError(
          'SQL_SQLITE_ROLLBACK',
          'The SQL file ends its transaction with ROLLBACK: sqlite3 .dump writes that when it met errors, so the dump is not complete. Dump the database again.',
        ),
      };
    }
    return { action: 'pass' };
  }
  const server = serverWide(dialect, tokens, final);
  if (server !== null) return server;
  if (w0 === 'CREATE' || w0 === 'DROP') {
    if (need(2)) return undefined;
    if (!dbWords.includes(word(tokens, 1) ?? '')) return { action: 'pass' };
    const kind = `${w0} ${word(tokens, 1)}`;
    return named(2, (db) => (w0 === 'CREATE' ? { action: 'create', db, label: kind } : { action: 'drop', label: kind }), { action: 'drop', label: kind });
  }
  if (w0 === 'ALTER') {
    if (need(3)) return undefined;
    if (!dbWords.includes(word(tokens, 1) ?? '')) return { action: 'pass' };
    const kind = `ALTER ${word(tokens, 1)}`;
    if (dialect === 'postgres') return { action: 'drop', label: kind };
    const t = tokens[2];
    if (!t || t.kind === 'punct' || (t.kind === 'word' && (ALTER_NO_NAME.has(t.text) || t.text === 'UPGRADE'))) return { action: 'pass' };
    return { action: 'rename', db: nameOf(dialect, t), token: t };
  }
  if (dialect === 'mysql') {
    if (w0 === 'USE' || w0 === 'CONNECT') {
      if (need(2)) return undefined;
      const t = tokens[1];
      if (!t || t.kind === 'punct') return { action: 'drop', label: w0 };
      return { action: 'switch', db: nameOf(dialect, t), label: w0 };
    }
    if (w0 === 'SET') return { action: 'session' };
    // Decided at their end, as COPY: LOAD DATA ... INFILE and SELECT ... INTO OUTFILE name a server file.
    if (w0 === 'LOAD' || w0 === 'SELECT' || w0 === 'WITH' || (tokens[0].kind === 'punct' && tokens[0].text === '(')) return final ? { action: 'pass' } : undefined;
    return { action: 'pass' };
  }
  // postgres
  if (w0 === 'SET' || w0 === 'RESET') return { action: 'session' };
  if (w0 === 'SELECT') {
    if (need(4)) return undefined;
    const fn = tokens
      .slice(1, 4)
      .map((t) => t.text)
      .join('');
    return fn === 'PG_CATALOG.SET_CONFIG' || word(tokens, 1) === 'SET_CONFIG' ? { action: 'session' } : { action: 'pass' };
  }
  if (w0 === 'COMMENT') {
    if (need(3)) return undefined;
    if (word(tokens, 1) !== 'ON') return { action: 'pass' };
    const object = word(tokens, 2) ?? '';
    if (PG_SHARED_OBJECTS.has(object)) return { action: 'server', error: serverStatement(dialect, `COMMENT ON ${object}`) };
    return object === 'DATABASE' ? { action: 'drop', label: 'COMMENT ON DATABASE' } : { action: 'pass' };
  }
  if (w0 === 'GRANT' || w0 === 'REVOKE' || w0 === 'SECURITY') {
    const on = tokens.findIndex((t, i) => i > 0 && t.depth === 0 && t.kind === 'word' && t.text === 'ON');
    // No ON: a role membership (GRANT role TO role), which is the server's, not the database's.
    if (on < 0) return final || tokens.length >= 64 ? { action: 'server', error: serverStatement(dialect, `${w0} of a role`) } : undefined;
    if (on + 1 >= tokens.length) return final ? { action: 'pass' } : undefined;
    const object = word(tokens, on + 1) ?? '';
    // On a tablespace, a role or a server parameter: objects of the server, shared by its databases.
    if (PG_SHARED_OBJECTS.has(object)) return { action: 'server', error: serverStatement(dialect, `${w0} ... ON ${object}`) };
    return object === 'DATABASE' ? { action: 'drop', label: `${w0} ... ON DATABASE` } : { action: 'pass' };
  }
  if (w0 === 'COPY') return final ? { action: 'pass' } : undefined; // decided at its end: PROGRAM and files are refused there
  return { action: 'pass' };
}

const PG_SERVER_OBJECTS = new Set(['ROLE', 'USER', 'GROUP', 'TABLESPACE']);
/** What GRANT, COMMENT ON and SECURITY LABEL ON may name that the PostgreSQL server shares among its databases. */
const PG_SHARED_OBJECTS = new Set(['ROLE', 'TABLESPACE', 'PARAMETER']);
const MYSQL_SERVER_OBJECTS = new Set(['USER', 'ROLE', 'SERVER', 'TABLESPACE', 'LOGFILE']);
/** MySQL statements that act on the server as a whole, by their first word (with the second word when it tells). */
const MYSQL_SERVER_VERBS: Record<string, string[] | true> = {
  GRANT: true,
  REVOKE: true,
  RENAME: ['USER'],
  INSTALL: true,
  UNINSTALL: true,
  FLUSH: true,
  SHUTDOWN: true,
  KILL: true,
  CHANGE: ['MASTER', 'REPLICATION'],
  RESET: ['MASTER', 'SLAVE', 'REPLICA'],
  PURGE: true,
  START: ['SLAVE', 'REPLICA'],
  STOP: ['SLAVE', 'REPLICA'],
};

/**
 * A statement that changes the database server itself (its roles, users, privileges, tablespaces, settings,
 * plugins, replication) rather than the target database: a refusal (a global variable of MySQL: dropped);
 * undefined while more tokens are needed; null for any other statement.
 */
function serverWide(dialect: SqlDialect, tokens: Token[], final: boolean): Decision | undefined | null {
  if (dialect === 'sqlite') return null;
  const need = (n: number) => tokens.length < n && !final;
  const w0 = word(tokens, 0) ?? '';
  const refuse = (what: string): Decision => ({ action: 'server', error: serverStatement(dialect, what) });
  if (dialect === 'postgres') {
    if (w0 === 'LOAD') return refuse('LOAD (a server library)');
    if (w0 !== 'CREATE' && w0 !== 'ALTER' && w0 !== 'DROP') return null;
    if (need(2)) return undefined;
    const w1 = word(tokens, 1) ?? '';
    if (w0 === 'ALTER' && w1 === 'SYSTEM') return refuse('ALTER SYSTEM');
    if (!PG_SERVER_OBJECTS.has(w1)) return null;
    if (w1 === 'USER') {
      if (need(3)) return undefined;
      if (word(tokens, 2) === 'MAPPING') return null; // a foreign server's user mapping: the database's own
    }
    return refuse(`${w0} ${w1}`);
  }
  const verb = MYSQL_SERVER_VERBS[w0];
  if (verb !== undefined) {
    if (verb === true) return refuse(w0);
    if (need(2)) return undefined;
    const w1 = word(tokens, 1) ?? '';
    return verb.includes(w1) ? refuse(`${w0} ${w1}`) : null;
  }
  if (w0 === 'SET') {
    if (need(3) || (tokens[1]?.text === '@' && tokens[2]?.text === '@' && need(4))) return undefined;
    const w1 = word(tokens, 1);
    if (w1 === 'PASSWORD') return refuse('SET PASSWORD');
    if (w1 === 'DEFAULT' && word(tokens, 2) === 'ROLE') return refuse('SET DEFAULT ROLE');
    if (w1 === 'ROLE') return null; // the session's
    const global =
      w1 === 'GLOBAL' || w1 === 'PERSIST' || w1 === 'PERSIST_ONLY' || tokens.some((t, i) => i > 0 && t.kind === 'word' && t.text === 'GLOBAL' && tokens[i - 1]?.text === '@');
    return global ? { action: 'drop', label: 'SET GLOBAL' } : null;
  }
  if (w0 !== 'CREATE' && w0 !== 'ALTER' && w0 !== 'DROP') return null;
  if (need(2)) return undefined;
  let i = 1;
  if (word(tokens, 1) === 'OR') {
    if (need(3)) return undefined;
    if (word(tokens, 2) === 'REPLACE') i = 3;
  }
  if (need(i + 1)) return undefined;
  const object = word(tokens, i) ?? '';
  return MYSQL_SERVER_OBJECTS.has(object) ? refuse(`${w0} ${object}`) : null;
}

/** What a client command is: a switch, a harmless one dropped, one the client needs, or a refusal. */
function commandDecision(dialect: SqlDialect, cmd: ClientCommand): Decision {
  if (cmd.kind === 'psql') {
    const name = cmd.name;
    if (name === 'c' || name === 'connect') {
      const db = connectTarget(cmd.args);
      return db === undefined ? { action: 'drop', label: `\\${name}` } : { action: 'switch', db, label: `\\${name}` };
    }
    if (HARMLESS_PSQL.has(name)) return { action: 'drop', label: `\\${name}` };
    return { action: 'refuse', error: clientCommand(dialect, `\\${name}`, cmd.start) };
  }
  if (cmd.kind === 'mysql') {
    if (cmd.name === 'delimiter' || cmd.name === 'C') return { action: 'pass' };
    if (cmd.name === 'u') {
      const db = cmd.args
        .replace(/;+$/, '')
        .trim()
        .replace(/^`(.*)`$/, '$1');
      return db ? { action: 'switch', db, label: '\\u' } : { action: 'drop', label: '\\u' };
    }
    return { action: 'refuse', error: clientCommand(dialect, `\\${cmd.name}`, cmd.start) };
  }
  return { action: 'refuse', error: clientCommand(dialect, `.${cmd.name}`, cmd.start) };
}

/** The database a psql `\connect` argument list names, or undefined for "the same one". */
export function connectTarget(args: string): string | undefined {
  const words: string[] = [];
  const re = /\s*(?:'((?:[^'\\]|\\.|'')*)'|"((?:[^"]|"")*)"|(\S+))/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(args)) !== null) {
    if (m[1] !== undefined) words.push(m[1].replace(/''/g, "'").replace(/\\(.)/g, '$1'));
    else if (m[2] !== undefined) words.push(m[2].replace(/""/g, '"'));
    else words.push(m[3]);
  }
  const rest = words.filter((w) => !/^-reuse-previous(=|$)/.test(w));
  let first = rest[0];
  if (first === undefined) return undefined;
  first = first.replace(/;+$/, '');
  if (first === '' || first === '-') return undefined;
  if (/^postgres(ql)?:\/\//.test(first)) {
    try {
      const db = decodeURIComponent(new URL(first).pathname.slice(1));
      return db || undefined;
    } catch {
      return first;
    }
  }
  if (first.includes('=')) {
    const dm = /(?:^|\s)dbname\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/.exec(first);
    return dm ? (dm[1] ?? dm[2]).replace(/\\(.)/g, '$1') : undefined;
  }
  return first;
}

// --- refusals, in the target engine's words

function clientCommand(dialect: SqlDialect, name: string, pos: number): CoffreError {
  const client = dialect === 'postgres' ? 'psql meta-command' : dialect === 'mysql' ? 'mysql client command' : 'sqlite3 dot-command';
  return usageError(
    'SQL_CLIENT_COMMAND',
    `The dump contains the ${client} ${name} (at byte ${pos}): coffre never runs client commands from a restored file, since they can run programs or read and write files on this host. Remove that line from the file (or load the file yourself if you trust it), then restore again.`,
    { command: name, position: pos },
  );
}

function copyServerFile(dialect: SqlDialect): CoffreError {
  if (dialect === 'mysql')
    return usageError(
      'SQL_COPY_SERVER_FILE',
      'The dump contains LOAD DATA ... INFILE or SELECT ... INTO OUTFILE/DUMPFILE, which makes the MariaDB/MySQL server read or write a file on its own host with its own rights (mariadb-dump and mysqldump never write one): coffre refuses it in a restored file. If you trust this file, restore it with --allow-program (API: options.allowProgram), which lets server files through.',
    );
  return usageError(
    'SQL_COPY_SERVER_FILE',
    "The dump contains COPY ... FROM 'file' or TO 'file', which makes the PostgreSQL server read or write a file on its own host with its operating-system user's rights (pg_dump never writes one): coffre refuses it in a restored file. If you trust this file, restore it with --allow-program (API: options.allowProgram), which lets server-side COPY of programs and files through.",
  );
}

function localInfile(): CoffreError {
  return usageError(
    'SQL_LOCAL_INFILE',
    'The dump contains LOAD DATA LOCAL INFILE, which makes the client read a file of the host coffre runs on and send it to the server: coffre refuses it in a restored file, whatever is allowed (its mariadb client runs with local-infile off as well). Load such data yourself if you trust the file.',
  );
}

function serverStatement(dialect: SqlDialect, what: string): CoffreError {
  const server = dialect === 'mysql' ? 'MariaDB/MySQL server' : 'PostgreSQL server';
  return usageError(
    'SQL_SERVER_STATEMENT',
    `The dump contains ${what}, which changes the ${server} itself (its roles, users, privileges, tablespaces or settings), not the target database: coffre refuses it in a restored file, which writes into its target only. Make that change on the server yourself if you want it (a PostgreSQL server run's roles restore with its globals), remove the statement from the file, and restore again.`,
    { statement: what },
  );
}

function copyProgram(): CoffreError {
  return usageError(
    'SQL_COPY_PROGRAM',
    'The dump contains COPY ... FROM PROGRAM or TO PROGRAM, which runs a shell command on the PostgreSQL server as its operating-system user: coffre refuses it in a restored file. If you trust this file, restore it with --allow-program (API: options.allowProgram).',
  );
}

function sqliteRefusal(what: string): CoffreError {
  return usageError(
    'SQL_SQLITE_ATTACH',
    `The SQL file contains ${what}, which would open or write another database file than the target: coffre refuses it in a restored file. Remove that statement and restore again.`,
    { statement: what },
  );
}

export function severalDatabases(dialect: SqlDialect, databases: string[], complete: boolean): CoffreError {
  const list = databases.map((d) => quoted(dialect, d)).join(', ');
  const made = dialect === 'postgres' ? 'pg_dumpall output, or a script that \\connects to several' : 'mariadb-dump/mysqldump --all-databases or --databases a b';
  return usageError(
    'SQL_SEVERAL_DATABASES',
    `The dump holds several ${ENGINE_WORDS[dialect]} databases${complete ? '' : ' (at least)'}: ${list} (${made}). A restore writes into one target: pick one with --database NAME (API: options.database), or make a dump of one database.`,
    { databases },
  );
}

export function notInDump(dialect: SqlDialect, select: string, databases: string[]): CoffreError {
  const has = databases.length ? `it holds ${databases.map((d) => quoted(dialect, d)).join(', ')}` : 'it names no database (restore it without choosing one)';
  return usageError(
    'SQL_DATABASE_NOT_IN_DUMP',
    `The database asked for, ${quoted(dialect, select)}, is not in the dump: it holds no ${ENGINE_WORDS[dialect]} database of that name; ${has}.`,
    {
      database: select,
      databases,
    },
  );
}

function describe(r: SqlFilterReport, options: SqlFilterOptions): string[] {
  const notes: string[] = [];
  const list = (m: Map<string, number>) => [...m].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(', ');
  if (options.select !== undefined)
    notes.push(`only database ${quoted(options.dialect, options.select)} of the dump was restored (${r.skipped} statements of other parts left out)`);
  const txn = ['BEGIN', 'COMMIT', 'END', 'VACUUM'].filter((k) => r.dropped.has(k));
  for (const k of txn) r.dropped.delete(k);
  if (txn.length > 0) notes.push(`dropped the file's own ${txn.join('/')} (coffre runs the whole restore in one transaction)`);
  if (r.dropped.size > 0) {
    const named = r.databases.length ? ` naming ${r.databases.map((d) => quoted(options.dialect, d)).join(', ')}` : '';
    notes.push(`dropped the dump's own database statements${named} (${list(r.dropped)}), so it went into the target`);
  }
  if (r.rewritten > 0) notes.push(`rewrote ${r.rewritten} ALTER DATABASE statement${r.rewritten > 1 ? 's' : ''} to apply to the target`);
  if (r.qualified > 0)
    notes.push(`removed the dump's database name from ${r.qualified} qualified name${r.qualified > 1 ? 's' : ''} (\`db\`.\`table\` became \`table\`, in the target)`);
  if (r.commands.size > 0) notes.push(`dropped client commands (${list(r.commands)})`);
  return notes;
}

// --- streams

/**
 * The output of filterSql: SQL that went through the filter. Engines filter any other input themselves;
 * this class (constructed only here) is how they know a stream needs no second pass.
 */
export class FilteredSqlStream extends Readable {
  readonly sqlFilter: SqlFilter;
  constructor(filter: SqlFilter, source: AsyncGenerator<Buffer>) {
    super({ highWaterMark: 1 << 16 });
    this.sqlFilter = filter;
    this.#source = source;
  }
  #source: AsyncGenerator<Buffer>;
  #reading = false;
  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void (async () => {
      try {
        for (;;) {
          const next = await this.#source.next();
          if (next.done) {
            this.push(null);
            return;
          }
          if (!this.push(next.value)) return;
        }
      } catch (err) {
        this.destroy(err as Error);
      } finally {
        this.#reading = false;
      }
    })();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    void this.#source.return(undefined).then(
      () => cb(err),
      () => cb(err),
    );
  }
}

/**
 * The filtered concatenation of several SQL inputs (in order, as one session; `names` name them in
 * messages). The stream errors with the filter's coded error when the input is refused; the inputs are
 * destroyed then.
 */
export function filterSql(inputs: Iterable<Readable | (() => Promise<Readable>)>, options: SqlFilterOptions, names: string[] = []): FilteredSqlStream {
  const filter = new SqlFilter(options);
  async function* run(): AsyncGenerator<Buffer> {
    let k = 0;
    let previous: string | undefined;
    for (const item of inputs) {
      if (previous !== undefined) yield* filter.endOfFile(previous);
      const input = typeof item === 'function' ? await item() : item;
      try {
        for await (const chunk of input) {
          const out = filter.write(chunk as Buffer);
          if (out.length === 1) yield out[0];
          else if (out.length > 1) yield Buffer.concat(out);
        }
      } finally {
        input.destroy();
      }
      previous = names[k++] ?? `number ${k}`;
    }
    yield* filter.end();
  }
  return new FilteredSqlStream(filter, run());
}

/** Reads SQL inputs once, for what they hold, without passing anything on (refusals still throw). */
export async function scanSql(inputs: Iterable<() => Promise<Readable>>, options: Omit<SqlFilterOptions, 'inspect'>, names: string[] = []): Promise<SqlFilterReport> {
  const stream = filterSql(inputs, { ...options, inspect: true }, names);
  for await (const _ of stream) void _;
  return stream.sqlFilter.report;
}
