// Retries as one wrapper around any Storage (restic's backend_retry, in spirit): exponential backoff with
// full jitter on transient failures (5xx, throttling, resets, timeouts), never on authentication or
// permission errors, which surface at once as COFFRE_E_STORAGE_AUTH naming the credential. Every error
// leaving the wrapper is a CoffreError.
//
// What is retried, and why:
// - put: only while the input stream has not started flowing (`readableDidRead` false). Once bytes were
//   consumed they cannot be replayed without holding the whole artifact in memory or on disk, which coffre
//   refuses; the backends retry what they can replay themselves (each S3 part, each Azure block, the GCS
//   resumable session), and a put that still fails is failed, leaving nothing visible, for the caller to rerun.
// - get: the request is retried; a download cut midway is resumed with a ranged get from the byte reached.
// - list: retried from the start, skipping keys already yielded.
// - stat, delete, check: retried as they are.

import { Readable } from 'node:stream';
import type { GetRange, ObjectInfo, PutResult, Storage } from '../core/types.ts';
import type { CoffreError } from '../core/errors.ts';
import { toStorageError } from './object-store.ts';

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Upper bound of the first wait; doubled each time, capped at maxDelayMs; the wait is random below it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Told of each retry (for logs): the failed attempt's number and error, and the wait before the next. */
  onRetry?: (info: { op: string; key?: string; attempt: number; error: CoffreError; delayMs: number }) => void;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wraps a storage so that transient failures are retried per the policy; see the module header for what is. */
export function withRetry(storage: Storage, policy: Partial<RetryPolicy> = {}): Storage {
  const p: RetryPolicy = { ...defaultRetryPolicy, ...policy };
  const classify = (err: unknown, op: string, key?: string) => toStorageError(err, { type: storage.type, op, key });

  /** Waits before try number `attempt + 1`, or rethrows when the error is final. */
  async function backoff(err: unknown, op: string, key: string | undefined, attempt: number, canRetry = true): Promise<CoffreError> {
    const error = classify(err, op, key);
    if (!error.retryable || !canRetry || attempt >= p.attempts) throw error;
    const cap = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (attempt - 1));
    const delayMs = Math.round(Math.random() * cap);
    p.onRetry?.({ op, key, attempt, error, delayMs });
    await sleep(delayMs);
    return error;
  }

  async function run<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        await backoff(err, op, key, attempt);
      }
    }
  }

  /** Streams an object, reopening it from the byte reached when the download is cut by a transient error. */
  async function* resumable(first: Readable, key: string, range: GetRange | undefined): AsyncGenerator<Buffer> {
    const start = range?.start ?? 0;
    let offset = 0;
    let current: Readable | undefined = first;
    let attempt = 1;
    try {
      for (;;) {
        try {
          for await (const chunk of current!) {
            const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
            offset += buf.length;
            attempt = 1; // progress was made: the next cut gets a fresh budget
            yield buf;
          }
          return;
        } catch (err) {
          current?.destroy();
          current = undefined;
          await backoff(err, 'download', key, attempt++);
          if (range?.end !== undefined && start + offset > range.end) return;
          current = await run('download', key, () => storage.get(key, { start: start + offset, end: range?.end }));
        }
      }
    } finally {
      current?.destroy();
    }
  }

  return {
    type: storage.type,

    async put(key: string, input: Readable, signal?: AbortSignal): Promise<PutResult> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await storage.put(key, input, signal);
        } catch (err) {
          const untouched = !input.readableDidRead && !input.destroyed && !signal?.aborted;
          await backoff(err, 'upload', key, attempt, untouched);
        }
      }
    },

    async get(key: string, range?: GetRange): Promise<Readable> {
      const first = await run('download', key, () => storage.get(key, range));
      return Readable.from(resumable(first, key, range), { objectMode: false });
    },

    stat: (key: string) => run('stat', key, () => storage.stat(key)),

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      const seen = new Set<string>();
      for (let attempt = 1; ; attempt++) {
        try {
          for await (const info of storage.list(prefix)) {
            if (seen.has(info.key)) continue;
            seen.add(info.key);
            yield info;
          }
          return;
        } catch (err) {
          await backoff(err, 'list', undefined, attempt);
        }
      }
    },

    delete: (key: string) => run('delete', key, () => storage.delete(key)),

    check: () => run('check', undefined, () => storage.check()),
  } satisfies Storage;
}
