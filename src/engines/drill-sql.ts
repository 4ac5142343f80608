// What the SQL engines' restore drills share: a user assertion is checked to be one query statement (as the
// engine's own client would split it), and its first value read as true or false.

import { Readable } from 'node:stream';
import { usageError } from '../core/errors.ts';
import type { SqlDialect } from '../sql/lexer.ts';
import { sqlStatements } from '../sql/split.ts';

/** Longest assertion accepted. */
export const MAX_ASSERTION_CHARS = 16 * 1024;

/**
 * The one statement of a SQL assertion, without its terminator. Refused: empty text, several statements,
 * and anything but a query (SELECT, WITH, VALUES, TABLE): an assertion reads, it never changes anything.
 */
export async function assertionStatement(text: string, dialect: SqlDialect): Promise<string> {
  if (typeof text !== 'string' || !text.trim())
    throw usageError('BAD_DRILL_ASSERTION', 'A drill assertion is a SQL query, such as "SELECT count(*) > 1000 FROM orders".', { field: 'drillAssert' });
  if (text.length > MAX_ASSERTION_CHARS) throw usageError('BAD_DRILL_ASSERTION', `A drill assertion is at most ${MAX_ASSERTION_CHARS} characters.`, { field: 'drillAssert' });
  const statements: string[] = [];
  for await (const s of sqlStatements(Readable.from([Buffer.from(text, 'utf8')]), dialect, MAX_ASSERTION_CHARS * 4)) if (s.replace(/;\s*$/, '').trim()) statements.push(s);
  if (statements.length !== 1)
    throw usageError('BAD_DRILL_ASSERTION', `A drill assertion is one SQL query; "${text.slice(0, 80)}" holds ${statements.length} statements.`, { field: 'drillAssert' });
  const stmt = statements[0].trim().replace(/;\s*$/, '').trim();
  const first = /^\(*\s*([A-Za-z]+)/.exec(stmt.replace(/^(\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/))+/, '').trimStart())?.[1]?.toUpperCase();
  if (!first || !['SELECT', 'WITH', 'VALUES', 'TABLE'].includes(first)) {
    throw usageError(
      'BAD_DRILL_ASSERTION',
      `A drill assertion is a query (SELECT, WITH, VALUES or TABLE) whose first value must be true or non-zero; "${text.slice(0, 80)}" is not.`,
      { field: 'drillAssert' },
    );
  }
  return stmt;
}

/** Whether an assertion's first value holds: true, a non-zero number, or text that reads as one ("t", "1", "1001"). */
export function holds(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'bigint') return value !== 0n;
  const text = String(value).trim().toLowerCase();
  if (text === 't' || text === 'true') return true;
  if (text === '' || text === 'f' || text === 'false' || text === 'null') return false;
  const n = Number(text);
  return !Number.isNaN(n) && n !== 0;
}

/** A value as the journal shows it (short). */
export function shown(value: unknown): string {
  const text = value === null || value === undefined ? 'NULL' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
