// Splits SQL text into its statements, as the lexer sees them, for engines that run statements one by one
// through a driver (SQLite through node:sqlite) rather than through a client program. Memory: one statement
// at a time, at most `maxBytes` of it; comments and blank text between statements are not kept.

import type { Readable } from 'node:stream';
import { usageError } from '../core/errors.ts';
import { SqlLexer, type SqlDialect, type StatementInfo } from './lexer.ts';

/** Longest single statement run through a driver (the driver needs it whole). */
export const MAX_STATEMENT_BYTES = 256 * 1024 * 1024;

/** The statements of `input`, in order, each with its terminator. */
export async function* sqlStatements(input: Readable, dialect: SqlDialect, maxBytes = MAX_STATEMENT_BYTES): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let partsStart = 0; // absolute position of parts[0]
  let held = 0;
  const ended: StatementInfo[] = [];
  let current = -1;
  const lexer = new SqlLexer(dialect, {
    statementStart: (pos) => void (current = pos),
    statementEnd: (info) => {
      ended.push(info);
      current = -1;
    },
    command: () => {}, // the restore filter has refused or dropped every client command already
  });
  const joined = (): Buffer => {
    if (parts.length > 1) parts = [Buffer.concat(parts, held)];
    return parts[0] ?? Buffer.alloc(0);
  };
  const trim = () => {
    // Keep only the bytes from the current statement's start (or from what the lexer has not read yet).
    const keepFrom = current >= 0 ? current : lexer.scanned;
    if (keepFrom <= partsStart) return;
    const rest = joined().subarray(keepFrom - partsStart);
    parts = rest.length ? [Buffer.from(rest)] : [];
    held = rest.length;
    partsStart = keepFrom;
  };
  const drain = function* (): Generator<string> {
    if (ended.length === 0) return;
    const all = joined();
    for (const info of ended.splice(0)) yield all.toString('utf8', info.start - partsStart, info.end - partsStart);
  };
  for await (const chunk of input) {
    parts.push(chunk as Buffer);
    held += (chunk as Buffer).length;
    lexer.write(chunk as Buffer);
    yield* drain();
    trim();
    if (held > maxBytes) {
      throw usageError('SQL_STATEMENT_TOO_LONG', `A statement at byte ${current} is longer than ${maxBytes} bytes, more than coffre runs at once through the driver: split it.`);
    }
  }
  lexer.end();
  yield* drain();
}
