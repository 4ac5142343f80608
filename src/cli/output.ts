// How the CLI talks: one JSON document on stdout with --json, short aligned tables otherwise; errors as
// `error: <message>` (or `{"error": {...}}`) on stderr, never a stack trace unless COFFRE_DEBUG=1.

import { asCoffreError, type CoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import { formatSize } from '../core/sizes.ts';
import { debugStacks } from '../config.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  json: boolean;
  /** Whether stderr is a terminal (progress is shown only there). */
  tty: boolean;
}

// A reader that goes away (`coffre journal | head`) must not crash a command, least of all a backup that is
// still running: after EPIPE further output is dropped and the command finishes normally.
const closed = { stdout: false, stderr: false };
let watching = false;
function watchPipes(): void {
  if (watching) return;
  watching = true;
  for (const name of ['stdout', 'stderr'] as const) {
    process[name].on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') closed[name] = true;
      else throw err;
    });
  }
}

/** The standard streams. */
export function processIo(json: boolean): Io {
  watchPipes();
  return {
    out: (t) => void (closed.stdout || process.stdout.write(t)),
    err: (t) => void (closed.stderr || process.stderr.write(t)),
    json,
    tty: process.stderr.isTTY === true,
  };
}

/** Prints a value as JSON (one document). */
export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** A list as JSON (--json) or as a table, the way every `list` command prints it. */
export function printRows<R>(io: Io, rows: readonly R[], columns: Array<[header: string, cell: (row: R) => unknown]>, empty?: string): void {
  if (io.json) printJson(io, rows);
  else printTable(io, columns as Array<[string, (row: never) => unknown]>, rows, empty);
}

/** Prints rows as an aligned table with upper-case headers; empty cells show as "-". */
export function printTable(io: Io, columns: Array<[header: string, cell: (row: never) => unknown]>, rows: readonly unknown[], empty = 'Nothing yet.'): void {
  if (rows.length === 0) {
    io.out(`${empty}\n`);
    return;
  }
  const cells = rows.map((r) =>
    columns.map(([, f]) => {
      const v = (f as (row: unknown) => unknown)(r);
      return v === null || v === undefined || v === '' ? '-' : String(v);
    }),
  );
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (parts: string[]) => parts.map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i]))).join('  ');
  io.out(`${line(columns.map(([h]) => h.toUpperCase()))}\n`);
  for (const c of cells) io.out(`${line(c)}\n`);
}

/** "2026-11-25T13:27:05.237Z" -> "2026-11-25 13:27:05Z". */
export function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : formatSize(n);
}

/** 1234 -> "1.2s", 75000 -> "1m15s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** Exit code for an error: 2 for the caller's mistakes, 1 for failed operations. */
export function exitCodeOf(err: CoffreError): number {
  return err.kind === 'usage' || err.kind === 'not_found' || err.kind === 'conflict' ? 2 : 1;
}

/** Prints an error the way the CLI always does and returns its exit code. */
export function reportError(io: Io, thrown: unknown): number {
  const err = asCoffreError(thrown);
  const message = redact(err.message);
  const unexpected = !(thrown instanceof Error && thrown.name === 'CoffreError');
  if (io.json) io.err(`${JSON.stringify({ error: { code: err.code, message, ...(err.details ? { details: err.details } : {}) } })}\n`);
  else io.err(`error: ${message}\n`);
  if (debugStacks()) {
    const stack = (thrown as Error | undefined)?.stack ?? (err.cause as Error | undefined)?.stack;
    if (stack) io.err(`${redact(stack)}\n`);
  } else if (unexpected && err.code === 'COFFRE_E_INTERNAL') {
    io.err('(unexpected error: set COFFRE_DEBUG=1 to see where it came from)\n');
  }
  return exitCodeOf(err);
}

/** A throttled progress line on a terminal: bytes so far and rate. Returns the listener and a finisher. */
export function progressLine(io: Io, label: string): { update: (bytes: number) => void; done: () => void } {
  if (!io.tty || io.json) return { update: () => {}, done: () => {} };
  const start = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(bytes) {
      const now = Date.now();
      if (now - last < 250) return;
      last = now;
      shown = true;
      const rate = bytes / Math.max((now - start) / 1000, 0.001);
      io.err(`\r\x1b[2K${label} ${formatBytes(bytes)}  ${formatBytes(Math.round(rate))}/s`);
    },
    done() {
      if (shown) io.err('\r\x1b[2K');
    },
  };
}
