// A real HTTP receiver for notification tests: records every request (method, path, headers, body) and answers
// with scripted statuses (e.g. 503, 503, then 200), so retries and refusals are observed on the wire.

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { until } from './wait.ts';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status this request was answered with. */
  status: number;
}

export interface Receiver {
  /** http://127.0.0.1:PORT */
  url: string;
  received: Received[];
  /** Requests to one path. */
  at(path: string): Received[];
  /** Statuses to answer requests to `path` with, in order; afterwards 200 (Discord-like paths may set 204). */
  script(path: string, statuses: number[]): void;
  /** Waits until `count` requests reached `path`. */
  waitFor(path: string, count: number, limitMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const scripts = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      const status = scripts.get(path)?.shift() ?? 200;
      received.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : `error ${status}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const at = (path: string) => received.filter((r) => r.path === path);
  return {
    url,
    received,
    at,
    script: (path, statuses) => void scripts.set(path, [...statuses]),
    waitFor: (path, count, limitMs = 30000) =>
      until(
        () => at(path).length >= count && at(path),
        () => `${count} requests to ${path} (${at(path).length} came; got ${received.map((r) => r.path).join(', ')})`,
        { limitMs, everyMs: 50 },
      ),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
