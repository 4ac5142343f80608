// A streaming SQL statement lexer for the three SQL dialects coffre restores. It does not parse SQL: it
// finds where statements start and end exactly as the client program that will run the text does (psql,
// the mariadb/mysql client, SQLite's sqlite3_complete), so that whatever it calls a statement, a client
// command or data is what that client will treat as such. It knows:
// - quotes: '...' (doubled quotes; backslash escapes in MySQL unless NO_BACKSLASH_ESCAPES, in PostgreSQL
//   E'...' strings and while standard_conforming_strings is off), "..." (identifier, or a MySQL string),
//   `...` (MySQL, SQLite), [...] (SQLite), PostgreSQL dollar quotes $tag$...$tag$;
// - comments: -- (MySQL: only before a space or control character), # (MySQL), /* */ (nested in
//   PostgreSQL), and MySQL executable comments /*!NNNNN ... */ and /*M!NNNNN ... */, whose content is SQL;
// - PostgreSQL: `COPY ... FROM STDIN` data blocks up to the `\.` line, psql meta-commands (a backslash
//   outside quotes, to the end of the line), parentheses and BEGIN ATOMIC bodies, which a `;` does not end;
// - MySQL: the client's DELIMITER command and one-letter backslash commands at a statement's start;
// - SQLite: CREATE TRIGGER bodies (up to `END;`) and sqlite3 dot-commands at a line start.
//
// Memory: the lexer holds at most LOOKAHEAD bytes of its input between chunks, the first MAX_TOKENS
// tokens of the current statement (each cut at MAX_TOKEN_TEXT characters) and MAX_COMMAND_TEXT
// characters of a client command. Positions are absolute byte offsets in the whole stream.

import type { SqlDialect } from '../core/engine-names.ts';

/** The dialects, one per SQL engine (src/core/engine-names.ts declares which engines speak SQL). */
export type { SqlDialect };

export type TokenKind = 'word' | 'ident' | 'string' | 'number' | 'punct';

export interface Token {
  kind: TokenKind;
  /** Words upper-cased; quoted identifiers and strings without their quotes (escapes left as they are). */
  text: string;
  /** The text as written (words not upper-cased). */
  raw: string;
  start: number;
  end: number;
  /** Parenthesis depth at the token (PostgreSQL). */
  depth: number;
}

export interface StatementInfo {
  /** Absolute position of the statement's first byte. */
  start: number;
  /** Absolute position just after its terminator (or where the input ended). */
  end: number;
  /** False when the input ended before a terminator. */
  terminated: boolean;
  /** The first MAX_TOKENS tokens. */
  tokens: Token[];
  /** COPY ... FROM STDIN: a data block follows. */
  copyIn: boolean;
  /** COPY ... FROM/TO PROGRAM. */
  copyProgram: boolean;
  /**
   * A file on the database server's own host: PostgreSQL COPY ... FROM/TO 'file' (anything but STDIN,
   * STDOUT or PROGRAM); MySQL/MariaDB LOAD DATA|XML ... INFILE and SELECT ... INTO OUTFILE|DUMPFILE.
   */
  copyFile: boolean;
}

export interface ClientCommand {
  /** psql meta-command (`\x`), MySQL client command (`\x`, DELIMITER) or sqlite3 dot-command (`.x`). */
  kind: 'psql' | 'mysql' | 'sqlite3';
  /** Command name without its backslash or dot, as written ("connect", "c", "!", "u", "delimiter"). */
  name: string;
  /** The rest of the line (cut at MAX_COMMAND_TEXT characters). */
  args: string;
  start: number;
  /** Position of the line's end (its newline is not part of the command). */
  end: number;
  /** True when it came in the middle of a statement. */
  inStatement: boolean;
}

export interface ScanListener {
  /** A statement's first byte was reached (its tokens follow). */
  statementStart?(pos: number): void;
  /** A token of the current statement, for the first MAX_TOKENS of them. */
  token?(token: Token): void;
  statementEnd(info: StatementInfo): void;
  command(cmd: ClientCommand): void;
  /** A name directly followed by `.` (a qualified name's first part); dotEnd is the position after the dot. */
  qualifier?(token: Token, dotEnd: number): void;
  /** A client command begins at pos (its bytes follow up to the end of the line). */
  commandStart?(pos: number): void;
  /** A COPY data block begins at pos. */
  copyStart?(pos: number): void;
  /** A COPY data block: [start, end) includes its `\.` line. */
  copyData?(start: number, end: number): void;
}

export const MAX_TOKENS = 64;
export const MAX_TOKEN_TEXT = 256;
export const MAX_COMMAND_TEXT = 4096;
/** Longest construct decided by looking ahead: a dollar-quote tag, a delimiter, `delimiter `. */
const LOOKAHEAD = 80;
const MAX_DELIMITER = 16;

/** Thrown for input the client would read differently from any safe reading (coded by the filter). */
export class SqlLexError extends Error {
  readonly reason: string;
  readonly position: number;
  constructor(reason: string, message: string, position: number) {
    super(message);
    this.reason = reason;
    this.position = position;
  }
}

type State =
  | 'gap' // between statements
  | 'stmt'
  | 'squote'
  | 'dquote'
  | 'backtick'
  | 'bracket'
  | 'dollar'
  | 'line-comment'
  | 'block-comment'
  | 'command' // a client command, to the end of the line
  | 'copy'; // COPY data, line by line

const NL = 0x0a;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;
}

function isIdentStart(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b >= 0x80;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function isIdentPart(b: number, dialect: SqlDialect): boolean {
  return isIdentStart(b) || isDigit(b) || (b === 0x24 && dialect !== 'sqlite');
}

export class SqlLexer {
  readonly dialect: SqlDialect;
  #listener: ScanListener;
  #state: State = 'gap';
  /** Absolute position of the first byte of #carry. */
  #base = 0;
  #carry: Buffer = Buffer.alloc(0);
  #finished = false;

  // the current statement
  #stmtStart = -1;
  #tokens: Token[] = [];
  #tokenCount = 0;
  #depth = 0; // parentheses (PostgreSQL)
  #beginDepth = 0; // BEGIN ATOMIC (PostgreSQL), trigger body (SQLite)
  #lastWord = '';
  #copy: 'no' | 'copy' | 'from' | 'to' | 'in' | 'program' = 'no';
  #copyProgram = false;
  #copyFile = false;
  #copyIn = false;

  // a token being read
  #tokStart = -1;
  #tokKind: TokenKind = 'word';
  #tokBytes: Buffer[] = [];
  #tokLen = 0;
  #escapes = false; // the current quoted string takes backslash escapes
  #quoteChar = 0;
  #dollarTag: Buffer = Buffer.alloc(0);
  #commentDepth = 0;
  #commentReturn: State = 'gap';
  #inExec = false; // inside a MySQL executable comment

  // a client command being read
  #cmdKind: ClientCommand['kind'] = 'psql';
  #cmdStart = 0;
  #cmdText = '';
  #cmdInStatement = false;
  #cmdReturn: State = 'gap';

  // COPY data
  #pendingCopies = 0;
  #copyStart = 0;
  #lineStart = true; // at the start of a physical line

  // session settings that change how quotes are read
  #standardStrings = true; // PostgreSQL standard_conforming_strings
  #backslashEscapes = true; // MySQL: not NO_BACKSLASH_ESCAPES
  #delimiter: Buffer = Buffer.from(';');

  constructor(dialect: SqlDialect, listener: ScanListener) {
    this.dialect = dialect;
    this.#listener = listener;
  }

  /** Absolute position up to which every byte has been read (the rest waits for more input). */
  get scanned(): number {
    return this.#base;
  }

  /**
   * The first position whose bytes a later event may still drop: the start of a word or quoted name not
   * yet known to be followed by `.` (see ScanListener.qualifier), else `scanned`.
   */
  get settled(): number {
    if (this.#tokStart >= 0 && (this.#tokKind === 'word' || this.#tokKind === 'ident')) return this.#tokStart;
    const last = this.#last;
    if (last && last.end === this.#base && (last.kind === 'word' || last.kind === 'ident')) return last.start;
    return this.#base;
  }

  /** Whether the lexer is between statements (not in a statement, quote, comment, command or data). */
  get atBoundary(): boolean {
    return this.#state === 'gap' && this.#pendingCopies === 0 && !this.#inExec;
  }

  /** Whether a statement has begun and not ended. */
  get inStatement(): boolean {
    return this.#stmtStart >= 0;
  }

  get delimiter(): string {
    return this.#delimiter.toString('latin1');
  }

  /** Human-readable name of where the lexer is, for messages. */
  get where(): string {
    switch (this.#state) {
      case 'squote':
      case 'dquote':
      case 'backtick':
      case 'bracket':
        return 'inside a quoted string or name';
      case 'dollar':
        return 'inside a dollar-quoted string';
      case 'block-comment':
        return 'inside a /* comment */';
      case 'copy':
        return 'inside a COPY data block';
      default:
        return this.#stmtStart >= 0 ? 'inside a statement' : 'between statements';
    }
  }

  /** Reads a chunk. Bytes near its end may wait for the next chunk (see `scanned`). */
  write(chunk: Buffer): void {
    const buf = this.#carry.length === 0 ? chunk : Buffer.concat([this.#carry, chunk]);
    const used = this.#scan(buf, false);
    this.#carry = buf.subarray(used);
    if (this.#carry.length > 0 && this.#carry.buffer === chunk.buffer) this.#carry = Buffer.from(this.#carry); // do not pin a large chunk
    this.#base += used;
  }

  /**
   * One input file ended and another follows: reads what waits as the end of that file (a word or a
   * command line ends there) without ending the statement or the session (delimiter, settings).
   */
  endOfFile(): void {
    const used = this.#scan(this.#carry, true);
    this.#base += used;
    this.#carry = Buffer.alloc(0);
    this.#endToken(this.#base);
    if (this.#state === 'command') this.#finishCommand(this.#base);
    else if (this.#state === 'line-comment') this.#state = this.#commentReturn;
    this.#lineStart = true;
    this.#last = null;
  }

  /** Whether the lexer is in plain statement text (not in a quote, comment, command or data). */
  get inPlainText(): boolean {
    return (this.#state === 'gap' || this.#state === 'stmt') && !this.#inExec;
  }

  /** The input ended: reads what waits and ends an unterminated statement. */
  end(): void {
    if (this.#finished) return;
    this.#finished = true;
    const used = this.#scan(this.#carry, true);
    this.#base += used;
    this.#carry = Buffer.alloc(0);
    this.#endToken(this.#base);
    if (this.#state === 'command') this.#finishCommand(this.#base);
    if (this.#state === 'copy') {
      this.#listener.copyData?.(this.#copyStart, this.#base);
      this.#state = 'gap';
    }
    if (this.#stmtStart >= 0) this.#endStatement(this.#base, false);
    this.#last = null;
  }

  // --- tokens and statements

  #beginStatement(pos: number): void {
    if (this.#pendingCopies > 0) this.#copyLine(pos);
    this.#stmtStart = pos;
    this.#tokens = [];
    this.#tokenCount = 0;
    this.#depth = 0;
    this.#beginDepth = 0;
    this.#lastWord = '';
    this.#copy = 'no';
    this.#copyProgram = false;
    this.#copyFile = false;
    this.#copyIn = false;
    this.#state = 'stmt';
    this.#listener.statementStart?.(pos);
  }

  #startToken(kind: TokenKind, pos: number): void {
    this.#tokStart = pos;
    this.#tokKind = kind;
    this.#tokBytes = [];
    this.#tokLen = 0;
    // Past the first tokens only names matter (a qualified name's first part); strings and numbers of a
    // long INSERT are not copied.
    this.#wantText = this.#tokens.length < MAX_TOKENS || kind === 'word' || kind === 'ident';
  }

  #wantText = true;

  #appendText(buf: Buffer, from: number, to: number): void {
    if (!this.#wantText || this.#tokLen >= MAX_TOKEN_TEXT || to <= from) return;
    const piece = buf.subarray(from, Math.min(to, from + MAX_TOKEN_TEXT - this.#tokLen));
    this.#tokBytes.push(Buffer.from(piece));
    this.#tokLen += piece.length;
  }

  /** The current token's text so far. */
  get #tokText(): string {
    if (this.#tokBytes.length === 0) return '';
    return (this.#tokBytes.length === 1 ? this.#tokBytes[0] : Buffer.concat(this.#tokBytes, this.#tokLen)).toString('utf8');
  }

  #endToken(end: number): void {
    if (this.#tokStart < 0) return;
    const raw = this.#tokText;
    const token: Token = {
      kind: this.#tokKind,
      text: this.#tokKind === 'word' ? raw.toUpperCase() : raw,
      raw,
      start: this.#tokStart,
      end,
      depth: this.#depth,
    };
    this.#tokStart = -1;
    this.#addToken(token);
  }

  #addToken(token: Token): void {
    this.#last = token;
    this.#tokenCount++;
    if (this.#tokens.length < MAX_TOKENS) {
      this.#tokens.push(token);
      this.#listener.token?.(token);
    }
    if (this.dialect === 'mysql' && token.kind === 'word') this.#serverFileStep(token.text);
    if (token.kind === 'word') this.#wordSeen(token.text);
    else this.#lastWord = '';
    this.#copyStep(token);
  }

  /** Tracks what only words tell: BEGIN ATOMIC and trigger bodies. */
  #wordSeen(word: string): void {
    const t = this.#tokens;
    if (this.dialect === 'postgres') {
      // psql: in CREATE [OR REPLACE] FUNCTION/PROCEDURE, BEGIN opens a body that `;` does not end; CASE nests in it.
      const routine = t.length >= 2 && t[0].text === 'CREATE' && t.some((x, i) => i <= 3 && x.kind === 'word' && (x.text === 'FUNCTION' || x.text === 'PROCEDURE'));
      if (routine && word === 'BEGIN') this.#beginDepth++;
      else if (this.#beginDepth > 0 && word === 'CASE') this.#beginDepth++;
      else if (this.#beginDepth > 0 && word === 'END') this.#beginDepth--;
    } else if (this.dialect === 'sqlite') {
      const trigger = t.length >= 2 && t[0].text === 'CREATE' && t.some((x, i) => i <= 2 && x.kind === 'word' && x.text === 'TRIGGER');
      if (trigger && word === 'BEGIN') this.#beginDepth = 1;
    }
    this.#lastWord = word;
  }

  /** MySQL/MariaDB: LOAD DATA|XML ... INFILE reads, SELECT ... INTO OUTFILE|DUMPFILE writes, a file of the server's host. */
  #serverFileStep(word: string): void {
    if ((word === 'OUTFILE' || word === 'DUMPFILE') && this.#lastWord === 'INTO') this.#copyFile = true;
    else if (word === 'INFILE' && this.#tokens[0]?.text === 'LOAD') this.#copyFile = true;
  }

  /** COPY ... FROM STDIN / FROM PROGRAM / TO PROGRAM / FROM or TO a file, at parenthesis depth 0 (PostgreSQL). */
  #copyStep(token: Token): void {
    if (this.dialect !== 'postgres') return;
    if (this.#tokenCount === 1) {
      this.#copy = token.kind === 'word' && token.text === 'COPY' ? 'copy' : 'no';
      return;
    }
    if (this.#copy === 'no' || token.depth > 0) return;
    if (this.#copy === 'copy' && token.kind === 'word' && (token.text === 'FROM' || token.text === 'TO')) {
      this.#copy = token.text === 'FROM' ? 'from' : 'to';
    } else if (this.#copy === 'from' || this.#copy === 'to') {
      if (token.kind === 'word' && token.text === 'PROGRAM') this.#copyProgram = true;
      else if (this.#copy === 'from' && token.kind === 'word' && token.text === 'STDIN') this.#copyIn = true;
      // The grammar's copy_file_name is STDIN, STDOUT or a string constant (any spelling: '', E'', $$$$):
      // whatever is not one of the two words names a file the server opens with its own rights.
      else if (!(token.kind === 'word' && (token.text === 'STDIN' || token.text === 'STDOUT'))) this.#copyFile = true;
      this.#copy = 'in';
    }
  }

  #endStatement(end: number, terminated: boolean): void {
    this.#endToken(end);
    const info: StatementInfo = {
      start: this.#stmtStart,
      end,
      terminated,
      tokens: this.#tokens,
      copyIn: this.#copyIn,
      copyProgram: this.#copyProgram,
      copyFile: this.#copyFile,
    };
    this.#stmtStart = -1;
    this.#inExec = false;
    this.#state = 'gap';
    this.#session(info.tokens);
    if (info.copyIn && terminated) this.#pendingCopies++;
    this.#listener.statementEnd(info);
  }

  /** SET statements that change how the client reads quotes from then on. */
  #session(tokens: Token[]): void {
    const words = tokens.filter((t) => !(t.kind === 'punct' && (t.text === '=' || t.text === '@')));
    if (words.length < 2 || words[0].text !== 'SET') return;
    if (this.dialect === 'postgres') {
      let i = 1;
      if (words[i]?.text === 'SESSION' || words[i]?.text === 'LOCAL') i++;
      if (words[i]?.kind === 'word' && words[i].text === 'STANDARD_CONFORMING_STRINGS' && words[i + 1]) {
        const v = words[i + 1].text === 'TO' ? words[i + 2] : words[i + 1];
        if (v) this.#standardStrings = !/^(off|false|0|no)$/i.test(v.text);
      }
    } else if (this.dialect === 'mysql') {
      for (let i = 1; i < words.length - 1; i++) {
        if (words[i].kind === 'word' && words[i].text === 'SQL_MODE' && words[i + 1].kind === 'string') {
          this.#backslashEscapes = !/NO_BACKSLASH_ESCAPES/i.test(words[i + 1].text);
        }
      }
    }
  }

  // --- client commands

  #startCommand(kind: ClientCommand['kind'], pos: number, textFrom: number, buf: Buffer): void {
    if (this.#pendingCopies > 0) this.#copyLine(pos);
    this.#endToken(pos);
    this.#cmdKind = kind;
    this.#cmdStart = pos;
    this.#cmdText = '';
    this.#cmdInStatement = this.#stmtStart >= 0;
    this.#cmdReturn = this.#state === 'gap' ? 'gap' : 'stmt';
    this.#state = 'command';
    void buf;
    void textFrom;
    this.#listener.commandStart?.(pos);
  }

  #finishCommand(end: number): void {
    let text = this.#cmdText;
    let name: string;
    let args: string;
    if (this.#cmdKind === 'mysql' && /^delimiter\s/i.test(text)) {
      name = 'delimiter';
      args = text.slice(10).trim();
    } else {
      text = text.slice(1); // the backslash or dot
      const m = /^([A-Za-z]+|[^A-Za-z\s])(.*)$/s.exec(text) ?? ['', text, ''];
      name = m[1];
      args = m[2].replace(/\r$/, '').trim();
    }
    this.#state = this.#cmdReturn;
    if (name === 'delimiter' && this.#cmdKind === 'mysql') {
      const d = args.split(/\s+/)[0] ?? '';
      if (d.length === 0 || d.length > MAX_DELIMITER || d.includes('\\')) {
        throw new SqlLexError('delimiter', `The DELIMITER command sets "${d}", which coffre does not accept (1 to ${MAX_DELIMITER} characters, no backslash).`, this.#cmdStart);
      }
      this.#delimiter = Buffer.from(d, 'utf8');
    }
    this.#listener.command({ kind: this.#cmdKind, name, args, start: this.#cmdStart, end, inStatement: this.#cmdInStatement });
  }

  // --- the byte loop

  /** Scans buf; returns how many bytes were used (the rest needs more lookahead than buf holds). */
  #scan(buf: Buffer, final: boolean): number {
    const len = buf.length;
    const base = this.#base;
    const dialect = this.dialect;
    let i = 0;
    const short = (n: number) => !final && len - i < n;
    while (i < len) {
      const b = buf[i];
      switch (this.#state) {
        case 'gap':
        case 'stmt': {
          const inStmt = this.#state === 'stmt';
          // a word or number continues
          if (this.#tokStart >= 0 && (this.#tokKind === 'word' || this.#tokKind === 'number')) {
            if (this.#tokKind === 'word' ? isIdentPart(b, dialect) : isDigit(b) || b === 0x2e || isIdentStart(b)) {
              const from = i;
              while (i < len && (this.#tokKind === 'word' ? isIdentPart(buf[i], dialect) : isDigit(buf[i]) || buf[i] === 0x2e || isIdentStart(buf[i]))) i++;
              this.#appendText(buf, from, i);
              continue;
            }
            // E'...' (PostgreSQL) takes backslash escapes
            if (b === 0x27 && dialect === 'postgres' && this.#tokKind === 'word' && this.#tokText.toUpperCase() === 'E' && this.#tokStart + 1 === base + i) {
              this.#tokStart = -1; // the prefix belongs to the string
              this.#startToken('string', base + i - 1);
              this.#escapes = true;
              this.#quoteChar = 0x27;
              this.#state = 'squote';
              i++;
              continue;
            }
            this.#endToken(base + i);
          }
          if (b === NL) {
            i++;
            this.#newline(base + i, inStmt);
            continue;
          }
          if (isSpace(b)) {
            i++;
            this.#lineStart = false;
            continue;
          }
          const atLineStart = this.#lineStart;
          this.#lineStart = false;
          // comments
          if (b === 0x2d) {
            if (short(3)) return i;
            if (buf[i + 1] === 0x2d && (dialect !== 'mysql' || i + 2 >= len || buf[i + 2] <= 0x20)) {
              this.#commentReturn = this.#state;
              this.#state = 'line-comment';
              i += 2;
              continue;
            }
          }
          if (b === 0x23 && dialect === 'mysql') {
            this.#commentReturn = this.#state;
            this.#state = 'line-comment';
            i++;
            continue;
          }
          if (b === 0x2f) {
            if (short(dialect === 'mysql' ? 11 : 4)) return i; // `/*M!NNNNNN`: the version digits are read at once
            if (buf[i + 1] === 0x2a) {
              if (dialect === 'mysql' && (buf[i + 2] === 0x21 || (buf[i + 2] === 0x4d && buf[i + 3] === 0x21))) {
                // executable comment: its content is SQL (and starts a statement)
                if (!inStmt) this.#beginStatement(base + i);
                else this.#endToken(base + i);
                this.#inExec = true;
                i += buf[i + 2] === 0x21 ? 3 : 4;
                while (i < len && isDigit(buf[i])) i++;
                continue;
              }
              this.#endToken(base + i);
              if (this.#pendingCopies > 0) this.#copyLine(base + i);
              this.#commentReturn = this.#state;
              this.#commentDepth = 1;
              this.#state = 'block-comment';
              i += 2;
              continue;
            }
          }
          if (b === 0x2a && this.#inExec) {
            if (short(2)) return i;
            if (buf[i + 1] === 0x2f) {
              this.#endToken(base + i);
              this.#inExec = false;
              i += 2;
              continue;
            }
          }
          // client commands
          if (b === 0x5c && dialect === 'postgres') {
            this.#startCommand('psql', base + i, i, buf);
            continue; // the command state reads from the backslash
          }
          if (b === 0x5c && dialect === 'mysql' && !inStmt) {
            this.#startCommand('mysql', base + i, i, buf);
            continue;
          }
          if (b === 0x2e && dialect === 'sqlite' && !inStmt && atLineStart) {
            this.#startCommand('sqlite3', base + i, i, buf);
            continue;
          }
          if (dialect === 'mysql' && !inStmt && (b === 0x64 || b === 0x44)) {
            if (short(10)) return i;
            if (buf.toString('latin1', i, i + 9).toLowerCase() === 'delimiter' && i + 9 < len && (buf[i + 9] === 0x20 || buf[i + 9] === 0x09)) {
              this.#startCommand('mysql', base + i, i, buf);
              continue;
            }
          }
          // the terminator
          if (dialect === 'mysql') {
            const d = this.#delimiter;
            if (b === d[0]) {
              if (short(d.length)) return i;
              if (d.length === 1 || buf.subarray(i, i + d.length).equals(d)) {
                i += d.length;
                if (inStmt) this.#endStatement(base + i, true);
                continue;
              }
            }
          } else if (b === 0x3b) {
            const bodyOpen = dialect === 'postgres' ? this.#depth > 0 || this.#beginDepth > 0 : this.#beginDepth > 0 && this.#lastWord !== 'END';
            if (!bodyOpen) {
              i++;
              if (inStmt) this.#endStatement(base + i, true);
              continue;
            }
          }
          // anything else is part of a statement
          if (!inStmt) this.#beginStatement(base + i);
          if (b === 0x27) {
            this.#startToken('string', base + i);
            this.#escapes = dialect === 'mysql' ? this.#backslashEscapes : dialect === 'postgres' ? !this.#standardStrings : false;
            this.#quoteChar = 0x27;
            this.#state = 'squote';
            i++;
          } else if (b === 0x22) {
            this.#startToken(dialect === 'mysql' ? 'string' : 'ident', base + i);
            this.#escapes = dialect === 'mysql' && this.#backslashEscapes;
            this.#quoteChar = 0x22;
            this.#state = 'squote';
            i++;
          } else if (b === 0x60 && dialect !== 'postgres') {
            this.#startToken('ident', base + i);
            this.#escapes = false;
            this.#quoteChar = 0x60;
            this.#state = 'squote';
            i++;
          } else if (b === 0x5b && dialect === 'sqlite') {
            this.#startToken('ident', base + i);
            this.#state = 'bracket';
            i++;
          } else if (b === 0x24 && dialect === 'postgres') {
            if (short(LOOKAHEAD)) return i;
            let j = i + 1;
            if (j < len && isIdentStart(buf[j])) while (j < len && j - i < 70 && isIdentPart(buf[j], 'sqlite')) j++;
            if (j < len && buf[j] === 0x24 && !isDigit(buf[i + 1])) {
              this.#dollarTag = Buffer.from(buf.subarray(i, j + 1));
              this.#startToken('string', base + i);
              this.#state = 'dollar';
              i = j + 1;
            } else {
              this.#addToken({ kind: 'punct', text: '$', raw: '$', start: base + i, end: base + i + 1, depth: this.#depth });
              i++;
            }
          } else if (isIdentStart(b)) {
            this.#startToken('word', base + i);
            continue;
          } else if (isDigit(b)) {
            this.#startToken('number', base + i);
            continue;
          } else {
            const last = this.#last;
            if (b === 0x2e && last && last.end === base + i && (last.kind === 'word' || last.kind === 'ident')) this.#listener.qualifier?.(last, base + i + 1);
            if (b === 0x28) this.#depth++;
            if (b === 0x29 && this.#depth > 0) this.#depth--;
            this.#addToken({
              kind: 'punct',
              text: String.fromCharCode(b),
              raw: String.fromCharCode(b),
              start: base + i,
              end: base + i + 1,
              depth: b === 0x28 ? this.#depth - 1 : this.#depth,
            });
            i++;
          }
          continue;
        }
        case 'squote': {
          // find the closing quote fast
          const q = this.#quoteChar;
          let j = i;
          while (j < len) {
            const c = buf[j];
            if (c === q) break;
            if (c === 0x5c && this.#escapes) {
              if (j + 1 >= len) break;
              j += 2;
              continue;
            }
            if (c === NL) this.#lineStart = true;
            j++;
          }
          if (j >= len || (buf[j] === 0x5c && this.#escapes)) {
            // ran out (possibly on a backslash whose escaped byte is in the next chunk)
            this.#appendText(buf, i, j);
            if (j < len && !final) return j;
            i = len;
            continue;
          }
          this.#appendText(buf, i, j);
          if (j + 1 >= len && !final) return j; // a doubled quote may follow
          if (buf[j + 1] === q) {
            this.#appendText(buf, j, j + 1);
            i = j + 2;
            continue;
          }
          i = j + 1;
          this.#state = this.#stmtStart >= 0 ? 'stmt' : 'gap';
          this.#endToken(base + i);
          this.#lineStart = false;
          continue;
        }
        case 'bracket': {
          const j = buf.indexOf(0x5d, i);
          if (j < 0) {
            this.#appendText(buf, i, len);
            i = len;
            continue;
          }
          this.#appendText(buf, i, j);
          i = j + 1;
          this.#state = 'stmt';
          this.#endToken(base + i);
          continue;
        }
        case 'dollar': {
          const tag = this.#dollarTag;
          const j = buf.indexOf(tag, i);
          if (j < 0) {
            if (final) {
              i = len;
              continue;
            }
            const keep = Math.max(i, len - (tag.length - 1));
            this.#appendText(buf, i, keep);
            return keep;
          }
          this.#appendText(buf, i, j);
          i = j + tag.length;
          this.#state = 'stmt';
          this.#endToken(base + i);
          continue;
        }
        case 'line-comment': {
          const j = buf.indexOf(NL, i);
          if (j < 0) {
            i = len;
            continue;
          }
          i = j + 1;
          this.#state = this.#commentReturn;
          this.#newline(base + i, this.#state === 'stmt');
          continue;
        }
        case 'block-comment': {
          if (b === 0x2a) {
            if (short(2)) return i;
            if (buf[i + 1] === 0x2f) {
              i += 2;
              if (--this.#commentDepth === 0) this.#state = this.#commentReturn;
              continue;
            }
          } else if (b === 0x2f && dialect === 'postgres') {
            if (short(2)) return i;
            if (buf[i + 1] === 0x2a) {
              i += 2;
              this.#commentDepth++;
              continue;
            }
          } else if (b === NL) this.#lineStart = true;
          i++;
          continue;
        }
        case 'command': {
          const j = buf.indexOf(NL, i);
          const stop = j < 0 ? len : j;
          if (this.#cmdText.length < MAX_COMMAND_TEXT) this.#cmdText += buf.toString('utf8', i, Math.min(stop, i + MAX_COMMAND_TEXT - this.#cmdText.length));
          if (j < 0) {
            i = len;
            continue;
          }
          this.#finishCommand(base + j);
          i = j; // the newline is read by the state we return to
          continue;
        }
        case 'copy': {
          if (this.#midLine) {
            const j = buf.indexOf(NL, i);
            if (j < 0) {
              i = len;
              continue;
            }
            i = j + 1;
            this.#midLine = false;
            continue;
          }
          // at a line start: the end marker?
          if (short(4)) return i;
          if (b === 0x5c && buf[i + 1] === 0x2e && (i + 2 >= len || buf[i + 2] === NL || (buf[i + 2] === 0x0d && (i + 3 >= len || buf[i + 3] === NL)))) {
            let j = i + 2;
            if (buf[j] === 0x0d) j++;
            if (buf[j] === NL) j++;
            i = Math.min(j, len);
            this.#listener.copyData?.(this.#copyStart, base + i);
            this.#pendingCopies--;
            this.#lineStart = true;
            if (this.#pendingCopies > 0) {
              this.#copyStart = base + i;
              this.#listener.copyStart?.(base + i);
            } else this.#state = 'gap';
            continue;
          }
          const j = buf.indexOf(NL, i);
          if (j < 0) {
            // the rest of a data line: keep only what could start the marker on the next line
            i = len;
            this.#midLine = true;
            continue;
          }
          i = j + 1;
          continue;
        }
      }
    }
    return i;
  }

  #midLine = false;
  #last: Token | null = null;

  /** A newline was read outside quotes and comments; COPY data starts after the COPY statement's line. */
  #newline(pos: number, inStmt: boolean): void {
    this.#lineStart = true;
    if (this.#pendingCopies === 0) return;
    if (inStmt || this.#pendingCopies > 1 || this.#inExec) this.#copyLine(pos);
    this.#state = 'copy';
    this.#copyStart = pos;
    this.#midLine = false;
    this.#listener.copyStart?.(pos);
  }

  /** Anything but a `--` comment after COPY ... FROM stdin on its line: psql would run it after the data. */
  #copyLine(pos: number): never {
    throw new SqlLexError(
      'copy-line',
      'Something follows a COPY ... FROM stdin statement on its own line, before the data: psql would run it after the data block, so coffre cannot tell the data from SQL. Put the data on the next line.',
      pos,
    );
  }
}
