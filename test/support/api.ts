// Fixtures for the API tests: an in-process server (Fastify inject, no port) over a fresh DATA_DIR; the real
// `coffre serve` as a child process on a free loopback port; a small HTTP client; a Server-Sent Events reader;
// and a TCP server that accepts connections and never answers, to keep a backup running as long as a test
// needs (the PostgreSQL client waits for the server's greeting until its signal aborts it).

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { openContext, closeContext, type ServiceContext } from '../../src/services/context.ts';
import { JobRunner } from '../../src/services/jobs.ts';
import { buildServer } from '../../src/api/server.ts';
import type { Workspace } from './cli.ts';
import { until } from './wait.ts';

export interface InProcess {
  dir: string;
  ctx: ServiceContext;
  runner: JobRunner;
  app: FastifyInstance;
  /** Sends a request through inject; `body` objects go as JSON. */
  call(method: string, url: string, options?: { body?: unknown; token?: string; headers?: Record<string, string> }): Promise<Reply>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Record<string, unknown>;
  text: string;
  json<T = any>(): T;
}

/** An in-process server on a fresh DATA_DIR (SQLite catalog; ALLOWED_PATHS: its folder); env adds settings such as API_TOKEN. */
export async function inProcess(env: Record<string, string> = {}, options: { requireToken?: boolean } = {}): Promise<InProcess> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-api-'));
  // The API may name paths in the test's own folder (ALLOWED_PATHS); DATA_DIR inside it stays out of reach.
  const config = loadConfig({ DATA_DIR: path.join(dir, 'data'), ALLOWED_PATHS: dir, ...env });
  const ctx = await openContext({ config, announce: () => {} });
  const runner = new JobRunner(ctx, { maxConcurrent: config.api.maxConcurrentJobs, allowedPaths: config.allowedPaths, progressIntervalMs: 0 });
  const app = await buildServer({ ctx, runner, requireToken: options.requireToken });
  await app.ready();
  const call: InProcess['call'] = async (method, url, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    let payload: string | undefined;
    if (o.body !== undefined) {
      payload = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await app.inject({ method: method as 'GET', url, headers, payload });
    return { status: res.statusCode, headers: res.headers, text: res.body, json: () => JSON.parse(res.body) };
  };
  return {
    dir,
    ctx,
    runner,
    app,
    call,
    async close() {
      await runner.shutdown(0);
      await app.close();
      await closeContext(ctx);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls GET /api/jobs/:id until the job has finished, and returns it; fails after 5 minutes without. */
export async function waitJob(s: InProcess, id: string, token: string): Promise<any> {
  return until(
    async () => {
      const r = await s.call('GET', `/api/jobs/${id}`, { token });
      if (r.status !== 200) throw new Error(`GET /api/jobs/${id} answered ${r.status}: ${r.text}`);
      const job = r.json();
      return job.finishedAt && job;
    },
    `job ${id} to finish`,
    { limitMs: 300_000 },
  );
}

/** A TCP server on 127.0.0.1 that accepts and holds connections without a byte. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Served {
  url: string;
  child: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Sends a signal and resolves with the exit code once the process ends. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts `coffre serve` in the workspace on a free port (ALLOWED_PATHS: the workspace) and waits for its "listening" line. */
export async function serve(ws: Workspace, env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = ws.start(['serve'], { PORT: '0', HOST: '127.0.0.1', ALLOWED_PATHS: ws.dir, ...env });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`coffre serve exited (${code}) before listening:\n${out}\n${err}`)));
  });
  return {
    url,
    child,
    stderr: () => err,
    exited,
    stop: (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}

/** A fetch-based JSON client for a served URL. */
export function client(base: string, token?: string) {
  return async (method: string, url: string, body?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, headers: Object.fromEntries(res.headers), text, json: () => JSON.parse(text) };
  };
}

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/**
 * Reads a Server-Sent Events stream, collecting events until `until` returns true for one (or the stream
 * ends, or the signal aborts). Resolves with every event seen.
 */
export async function readEvents(
  url: string,
  token: string | undefined,
  until: (e: SseEvent, all: SseEvent[]) => boolean,
  signal?: AbortSignal,
  onOpen?: () => void,
): Promise<SseEvent[]> {
  const ac = new AbortController();
  signal?.addEventListener('abort', () => ac.abort(), { once: true });
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: ac.signal });
  if (res.status !== 200 || !res.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`event stream answered ${res.status}: ${await res.text()}`);
  onOpen?.();
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const e: Partial<SseEvent> = {};
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) e.id = line.slice(4);
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (!e.event) continue; // comments, retry hints
        const event = { ...e, data: JSON.parse(data.join('\n')) } as SseEvent;
        events.push(event);
        if (until(event, events)) return events;
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    ac.abort();
  }
  return events;
}
