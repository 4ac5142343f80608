// Safe subprocesses. Every child is spawned from an argv array with `shell: false`, an environment built
// for it alone from an allow-list (secrets only there or in a 0600 file, never in argv), and its exit code checked: a dump
// stream ends cleanly only when the child exited 0; anything else becomes a coded error carrying the
// redacted tail of its stderr.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Duplex, PassThrough, Readable, type Writable } from 'node:stream';
import { failure, type CoffreError } from '../core/errors.ts';
import { tail } from '../core/redact.ts';
import { inheritedEnvironment } from '../config.ts';

export interface ToolCommand {
  /** Program path or name looked up in PATH. */
  command: string;
  args: readonly string[];
  /** Extra environment for this child only (PGPASSWORD-like values belong here or in a secret file). */
  env?: Record<string, string | undefined>;
  signal?: AbortSignal;
  /** Error code prefix for failures, e.g. "PG_DUMP" -> COFFRE_E_PG_DUMP_FAILED. */
  label: string;
  /** Turns the stderr tail into a clearer coded error (bad password, unknown host...) when it recognises it. */
  explain?: (stderr: string, exitCode: number | null) => CoffreError | undefined;
}

const STDERR_KEEP = 16 * 1024;

/**
 * What every child inherits from coffre's own environment: the basics of a process, never a credential.
 * Anything else a tool needs comes through ToolCommand.env from its engine (libpq's PGSSL* and the
 * PGPASSFILE coffre writes, src/engines/postgres-client.ts); coffre's own secrets (ENCRYPTION_SECRET,
 * API_TOKEN, DATABASE_URL) and the cloud SDKs' (AWS_*, AZURE_*, GOOGLE_*) never reach a child.
 */
export const INHERITED_ENV = /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR)$/;

/** Environment for one child: the allow-listed basics, then the command's own (undefined removes). */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = inheritedEnvironment((name) => INHERITED_ENV.test(name));
  env.LC_ALL = env.LC_ALL ?? 'C.UTF-8';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function launch(cmd: ToolCommand, stdio: ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe']): ChildProcess {
  const child = spawn(cmd.command, [...cmd.args], { shell: false, env: childEnv(cmd.env), stdio, windowsHide: true });
  const onAbort = () => child.kill('SIGTERM');
  if (cmd.signal) {
    if (cmd.signal.aborted) onAbort();
    else cmd.signal.addEventListener('abort', onAbort, { once: true });
    child.once('close', () => cmd.signal?.removeEventListener('abort', onAbort));
  }
  return child;
}

function collectStderr(child: ChildProcess): () => string {
  let buf = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > STDERR_KEEP * 2) buf = buf.slice(buf.length - STDERR_KEEP);
  });
  return () => buf;
}

/** Builds the error for a child that failed: spawn error, signal or non-zero exit. */
function childError(cmd: ToolCommand, code: number | null, sig: NodeJS.Signals | null, stderr: string, spawnErr?: NodeJS.ErrnoException): CoffreError {
  const name = path.basename(cmd.command);
  if (spawnErr?.code === 'ENOENT') {
    return failure(`${cmd.label}_NOT_FOUND`, `The client program "${name}" was not found: install it (or put it in PATH) and try again.`, { cause: spawnErr });
  }
  if (spawnErr) return failure(`${cmd.label}_FAILED`, `Could not start "${name}": ${spawnErr.message}`, { cause: spawnErr });
  if (cmd.signal?.aborted) return failure('INTERRUPTED', `"${name}" was stopped because the run was interrupted.`);
  const explained = cmd.explain?.(stderr, code);
  if (explained) return explained;
  const how = sig ? `was killed by signal ${sig}` : `exited with code ${code}`;
  const detail = tail(stderr);
  return failure(`${cmd.label}_FAILED`, `"${name}" ${how}${detail ? `: ${detail}` : '.'}`, { details: { exitCode: code, signal: sig } });
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    let spawnError: NodeJS.ErrnoException | undefined;
    child.once('error', (err) => {
      spawnError = err as NodeJS.ErrnoException;
      // 'close' may not follow a spawn failure.
      if (child.pid === undefined) resolve({ code: null, signal: null, error: spawnError });
    });
    child.once('close', (code, signal) => resolve({ code, signal, error: spawnError }));
  });
}

/**
 * Runs a child whose stdout is the data (a dump). The returned stream ends only after the child exited 0
 * and all of its stdout was read; otherwise it errors with a coded error. Destroying the stream kills the child.
 */
export function spawnSource(cmd: ToolCommand): Readable {
  const child = launch(cmd, ['ignore', 'pipe', 'pipe']);
  const stderr = collectStderr(child);
  const stdout = child.stdout!;
  // The child's stdout read straight into this stream (no PassThrough between): one stage fewer per chunk.
  const out = new Readable({
    highWaterMark: 1 << 20,
    read() {
      stdout.resume();
    },
    destroy(err, callback) {
      stdout.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      callback(err);
    },
  });
  forwardOutput(cmd, child, stderr, out);
  return out;
}

/**
 * Pushes the child's stdout into `out` (whose read() resumes stdout), pausing it when `out` is full. `out`
 * ends only after the child exited 0 and all of its stdout was read; any other exit destroys it with a
 * coded error. The readable side of spawnSource and spawnFilter.
 */
function forwardOutput(cmd: ToolCommand, child: ChildProcess, stderr: () => string, out: Readable): void {
  const stdout = child.stdout!;
  let stdoutDone = false;
  let exited: { code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException } | undefined;
  const settle = () => {
    if (out.destroyed || !exited || !stdoutDone) return;
    const { code, signal, error } = exited;
    if (!error && code === 0 && signal === null) out.push(null);
    else out.destroy(childError(cmd, code, signal, stderr(), error));
  };
  stdout.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) stdout.pause();
  });
  stdout.on('error', (err) => out.destroy(err));
  stdout.on('end', () => {
    stdoutDone = true;
    settle();
  });
  void waitExit(child).then((e) => {
    exited = e;
    // A child that failed may leave its stdout open (a grandchild holding it): its exit alone decides.
    if (e.error || e.code !== 0 || e.signal !== null) stdoutDone = true;
    settle();
  });
}

/**
 * Runs a child that turns `input` (on its stdin) into its stdout, e.g. pg_restore writing a script. The
 * returned stream behaves as spawnSource's; an input error kills the child and errors the stream with it.
 */
export function spawnTransform(cmd: ToolCommand, input: Readable): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const child = launch(cmd, ['pipe', 'pipe', 'pipe']);
  const stderr = collectStderr(child);
  let stdoutDone = false;
  child.stdin!.on('error', () => {}); // a child that stops reading explains itself by its exit code
  input.on('error', (err) => {
    out.destroy(err);
    child.kill('SIGKILL');
  });
  input.pipe(child.stdin!);
  child.stdout!.on('end', () => (stdoutDone = true));
  child.stdout!.on('error', (err) => out.destroy(err));
  child.stdout!.pipe(out, { end: false });
  out.on('close', () => {
    input.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  void waitExit(child).then(({ code, signal, error }) => {
    if (out.destroyed) return;
    if (!error && code === 0 && signal === null) {
      if (stdoutDone) out.end();
      else child.stdout!.once('end', () => out.end());
    } else {
      out.destroy(childError(cmd, code, signal, stderr(), error));
    }
  });
  return out;
}

/**
 * A child that filters bytes (e.g. `zstd -c`) as one Duplex written straight into its stdin and read
 * straight off its stdout: no buffering stage of its own on either side, so each chunk crosses one stream
 * instead of three (spawnTransform's input pipe and output PassThrough). The readable side ends only after
 * the child exited 0 and all of its stdout was read; any other exit destroys it with a coded error, and
 * destroying it kills the child.
 */
export function spawnFilter(cmd: ToolCommand): Duplex {
  const child = launch(cmd, ['pipe', 'pipe', 'pipe']);
  const stderr = collectStderr(child);
  const stdin = child.stdin!;
  const stdout = child.stdout!;
  // A write waiting for 'drain'; called too if stdin closes first (the exit code then explains why).
  let waiting: (() => void) | undefined;
  const release = () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  };
  stdin.on('drain', release);
  stdin.on('close', release);
  stdin.on('error', () => {}); // a child that stops reading explains itself by its exit code
  const duplex = new Duplex({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      if (stdin.destroyed || stdin.write(chunk)) return callback();
      waiting = () => callback();
    },
    final(callback) {
      stdin.end();
      callback();
    },
    read() {
      stdout.resume();
    },
    destroy(err, callback) {
      release();
      stdin.destroy();
      stdout.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill(err ? 'SIGKILL' : 'SIGTERM');
      callback(err);
    },
  });
  forwardOutput(cmd, child, stderr, duplex);
  return duplex;
}

export interface SinkProcess {
  /** The child's stdin. */
  stdin: Writable;
  /** Resolves with the child's stdout when it exited 0; rejects with a coded error otherwise. */
  done: Promise<string>;
  /** Kills the child (used when the input fails, so that nothing half-read is committed). */
  kill(): void;
}

/** Runs a child that consumes data on stdin (a restore). Check `done` for the exit code. */
export function spawnSink(cmd: ToolCommand): SinkProcess {
  const child = launch(cmd, ['pipe', 'pipe', 'pipe']);
  const stderr = collectStderr(child);
  let stdout = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    stdout += c;
    if (stdout.length > STDERR_KEEP * 4) stdout = stdout.slice(stdout.length - STDERR_KEEP);
  });
  // EPIPE on stdin when the child dies early is reported through its exit code instead.
  child.stdin!.on('error', () => {});
  const done = waitExit(child).then(({ code, signal, error }) => {
    if (!error && code === 0 && signal === null) return stdout;
    throw childError(cmd, code, signal, stderr(), error);
  });
  return { stdin: child.stdin!, done, kill: () => child.kill('SIGKILL') };
}

/** Runs a short command to completion and returns its stdout; non-zero exit is a coded error. */
export async function runTool(cmd: ToolCommand, input?: string): Promise<string> {
  const sink = spawnSink(cmd);
  sink.stdin.end(input ?? '');
  return sink.done;
}

export interface SecretFile {
  path: string;
  /** Removes the file and its private folder; safe to call more than once. */
  remove(): Promise<void>;
}

/**
 * Creates a private folder (0700) holding one 0600 file with `content` (for PGPASSFILE or
 * --defaults-extra-file). The caller removes it when the child is done, e.g. on the dump stream's 'close'.
 */
export async function createSecretFile(name: string, content: string): Promise<SecretFile> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-secret-'));
  const file = path.join(dir, name);
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await writeFile(file, content, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    await remove();
    throw err;
  }
  return { path: file, remove };
}

/** createSecretFile around one call: the file exists only while fn runs. */
export async function withSecretFile<T>(name: string, content: string, fn: (file: string) => Promise<T>): Promise<T> {
  const secret = await createSecretFile(name, content);
  try {
    return await fn(secret.path);
  } finally {
    await secret.remove();
  }
}
