// Row counts of a SQL text dump, read off the raw dump stream as it goes by (for restore drills, which check
// the restored tables against them). The counter only looks at the chunks the pipeline already moves (a
// 'data' listener, no stage, no copy): a line's first bytes outside data, one indexOf per COPY row, one pass
// over the bytes of INSERT statements.
// - PostgreSQL (pg_dump plain format): the data lines of each `COPY <table> (...) FROM stdin;` block up to
//   its `\.` line; one line is one row (newlines inside values are escaped as \n by COPY text format).
//   Every table gets a COPY block, an empty one too, so empty tables count 0.
// - MySQL/MariaDB (mariadb-dump): the value tuples of `INSERT INTO `t` VALUES (...),(...);` statements (one
//   line, or a tuple a line),
//   told apart outside quotes (backslash escapes, as mariadb-dump writes them, with --hex-blob for binaries);
//   a `CREATE TABLE `t`` line gives a table with no INSERT its 0.

import type { EngineName, RawFormat, RowCounts } from '../core/types.ts';

export interface RowCounter {
  /** Called with each raw chunk, in order. */
  update(chunk: Buffer): void;
  /** The counts so far (complete once the dump ended). */
  result(): RowCounts;
}

/** A counter for this dump's format and engine, or undefined when rows cannot be told from its bytes. */
export function createRowCounter(format: RawFormat, engine: EngineName): RowCounter | undefined {
  if (format !== 'sql') return undefined;
  if (engine === 'postgres') return copyRowCounter();
  if (engine === 'mysql') return insertTupleCounter();
  return undefined;
}

const HEAD_MAX = 2048;
const NL = 10;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

/** "public"."my ""t""" -> public.my "t" (pg_dump --quote-all-identifiers names); undefined if not a name. */
function pgName(text: string): string | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let j = i + 1;
      let name = '';
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return undefined;
        name += text.slice(j, q);
        if (text[q + 1] === '"') {
          name += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      parts.push(name);
    } else {
      const m = /^[^\s."]+/.exec(text.slice(i));
      if (!m) return undefined;
      parts.push(m[0]);
      i += m[0].length;
    }
    if (text[i] === '.') i++;
    else break;
  }
  return i === text.length && parts.length ? parts.join('.') : undefined;
}

/** The table a `COPY ... FROM stdin;` line copies into, or undefined. */
export function copyTarget(line: string): string | undefined {
  if (!line.startsWith('COPY ') || !line.endsWith(' FROM stdin;')) return undefined;
  const body = line.slice(5, -' FROM stdin;'.length);
  const paren = body.search(/ \(/);
  return pgName(paren >= 0 ? body.slice(0, paren) : body);
}

function copyRowCounter(): RowCounter {
  const tables: Record<string, number> = {};
  let table: string | undefined; // inside a COPY block
  let head = ''; // the current line's first bytes (outside COPY data)
  // Inside COPY data, a line's first two bytes as numbers (no string a row): how many were seen, and whether they are `\.`.
  let seen = 0;
  let endMark = false;
  let skipping = false; // the rest of an over-long line
  return {
    update(chunk) {
      let i = 0;
      const n = chunk.length;
      while (i < n) {
        const nl = chunk.indexOf(NL, i);
        const end = nl < 0 ? n : nl;
        if (table !== undefined) {
          for (let j = i; seen < 2 && j < end; j++, seen++) endMark = seen === 0 ? chunk[j] === BACKSLASH : endMark && chunk[j] === DOT;
          if (nl < 0) return;
          if (seen === 2 && endMark) table = undefined;
          else tables[table]++;
          seen = 0;
          endMark = false;
          i = nl + 1;
          continue;
        }
        if (!skipping) {
          head += chunk.toString('latin1', i, Math.min(end, i + HEAD_MAX - head.length));
          if (head.length >= HEAD_MAX || !'COPY '.startsWith(head.slice(0, 5))) skipping = true;
        }
        if (nl < 0) return;
        if (!skipping) {
          const name = copyTarget(head);
          if (name !== undefined) {
            const utf8 = Buffer.from(name, 'latin1').toString('utf8');
            table = utf8;
            tables[utf8] ??= 0;
          }
        }
        head = '';
        skipping = false;
        i = nl + 1;
      }
    },
    result: () => ({ method: 'copy-rows', tables: { ...tables } }),
  };
}

const INSERT = 'INSERT INTO `';
const CREATE = 'CREATE TABLE `';

function backtickName(text: string, from: number): { name: string; end: number } | undefined {
  let name = '';
  let j = from;
  for (;;) {
    const q = text.indexOf('`', j);
    if (q < 0) return undefined;
    name += text.slice(j, q);
    if (text[q + 1] === '`') {
      name += '`';
      j = q + 2;
      continue;
    }
    return { name: Buffer.from(name, 'latin1').toString('utf8'), end: q + 1 };
  }
}

function insertTupleCounter(): RowCounter {
  const tables: Record<string, number> = {};
  let table: string | undefined; // inside an INSERT's values
  let quote = 0;
  let escaped = false;
  let depth = 0;
  let head = '';
  let skipping = false;
  return {
    update(chunk) {
      let i = 0;
      const n = chunk.length;
      while (i < n) {
        if (table !== undefined) {
          let count = 0;
          for (; i < n; i++) {
            const b = chunk[i];
            if (escaped) escaped = false;
            else if (quote !== 0) {
              if (b === 92) escaped = true;
              else if (b === quote) quote = 0;
            } else if (b === 39 || b === 34 || b === 96) quote = b;
            else if (b === 40) {
              if (depth++ === 0) count++;
            } else if (b === 41) depth--;
            else if (b === 59 && depth === 0) break;
          }
          tables[table] += count;
          if (i < n) {
            table = undefined; // the statement's `;`; the rest of the line is the line mode's
            skipping = true;
            i++;
          }
          continue;
        }
        const nl = chunk.indexOf(NL, i);
        const end = nl < 0 ? n : nl;
        if (!skipping) {
          const before = head.length;
          head += chunk.toString('latin1', i, Math.min(end, i + HEAD_MAX - head.length));
          if (head.startsWith(INSERT)) {
            const name = backtickName(head, INSERT.length);
            // `INSERT INTO `t` VALUES (…),(…);` on one line, or (mariadb-dump 10.11) VALUES then one tuple a line.
            const after = name ? name.end + ' VALUES'.length : -1;
            if (name && head.startsWith(' VALUES', name.end) && (head[after] === ' ' || (head.length === after && nl >= 0))) {
              table = name.name;
              tables[table] ??= 0;
              quote = 0;
              escaped = false;
              depth = 0;
              i += after - before;
              head = '';
              continue;
            }
          } else if (head.startsWith(CREATE)) {
            const name = backtickName(head, CREATE.length);
            if (name) {
              tables[name.name] ??= 0;
              skipping = true;
            }
          } else if (!INSERT.startsWith(head) && !CREATE.startsWith(head)) skipping = true;
          if (head.length >= HEAD_MAX) skipping = true;
        }
        if (nl < 0) return;
        head = '';
        skipping = false;
        i = nl + 1;
      }
    },
    result: () => ({ method: 'insert-tuples', tables: { ...tables } }),
  };
}
