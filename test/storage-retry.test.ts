// The retry wrapper: transient failures are retried with backoff, authentication failures are not, a put is
// retried only while its input is untouched, a cut download resumes from the byte reached, and every
// error leaving the wrapper is a CoffreError. The inner storage here is a small in-memory Storage whose
// failures the test scripts; the wrapper's behaviour against real servers is covered by the contract tests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { GetRange, ObjectInfo, PutResult, Storage } from '../src/core/types.ts';
import { CoffreError, isCoffreError } from '../src/core/errors.ts';
import { withRetry } from '../src/storage/retry.ts';
import { toStorageError } from '../src/storage/object-store.ts';
import { collect } from './support/streams.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 2 };

function transient(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}
function authFailure(): Error {
  return Object.assign(new Error('The request signature we calculated does not match'), { name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
}

/** An in-memory storage that fails the next calls with the errors queued in `failures`. */
function memory() {
  const objects = new Map<string, Buffer>();
  const failures: Array<() => unknown> = [];
  const calls: string[] = [];
  let cutAfter: number | undefined;
  const maybeFail = (op: string) => {
    calls.push(op);
    const f = failures.shift();
    if (f) throw f();
  };
  const storage: Storage = {
    type: 'memory',
    async put(key: string, input: Readable): Promise<PutResult> {
      maybeFail('put');
      const data = await collect(input);
      objects.set(key, data);
      return { size: data.length };
    },
    async get(key: string, range?: GetRange): Promise<Readable> {
      maybeFail('get');
      const data = objects.get(key);
      if (!data) throw new CoffreError('STORAGE_NOT_FOUND', 'missing', { kind: 'not_found' });
      const part = data.subarray(range?.start ?? 0, range?.end !== undefined ? range.end + 1 : undefined);
      const limit = cutAfter;
      cutAfter = undefined;
      if (limit === undefined) return Readable.from([part]);
      return Readable.from(
        (async function* () {
          yield part.subarray(0, limit);
          throw transient();
        })(),
        { objectMode: false },
      );
    },
    async stat(key: string): Promise<ObjectInfo | undefined> {
      maybeFail('stat');
      const data = objects.get(key);
      return data ? { key, size: data.length } : undefined;
    },
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      calls.push('list');
      let n = 0;
      for (const [key, data] of objects) {
        if (!key.startsWith(prefix)) continue;
        if (n++ === 1) {
          const f = failures.shift();
          if (f) throw f();
        }
        yield { key, size: data.length };
      }
    },
    async delete(key: string): Promise<void> {
      maybeFail('delete');
      objects.delete(key);
    },
    async check(): Promise<void> {
      maybeFail('check');
    },
  };
  return { storage, objects, failures, calls, cutDownloadAfter: (n: number) => (cutAfter = n) };
}

test('transient failures are retried until success', async () => {
  const m = memory();
  m.objects.set('a', Buffer.from('x'));
  m.failures.push(transient, () => Object.assign(new Error('Service Unavailable'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } }));
  const retries: number[] = [];
  const s = withRetry(m.storage, { ...fast, onRetry: (info) => retries.push(info.attempt) });
  assert.equal((await s.stat('a'))?.size, 1);
  assert.deepEqual(m.calls, ['stat', 'stat', 'stat']);
  assert.deepEqual(retries, [1, 2]);
});

test('retries stop after the policy attempts, with a retryable CoffreError', async () => {
  const m = memory();
  m.failures.push(transient, transient, transient);
  const s = withRetry(m.storage, { ...fast, attempts: 3 });
  await assert.rejects(s.delete('a'), (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_STORAGE_TRANSIENT' && err.retryable);
  assert.equal(m.calls.length, 3);
});

test('authentication failures are never retried and name the credential', async () => {
  const m = memory();
  m.failures.push(authFailure, authFailure);
  const s = withRetry(m.storage, fast);
  await assert.rejects(s.check(), (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_STORAGE_AUTH' && !err.retryable);
  assert.equal(m.calls.length, 1);
  const named = toStorageError(authFailure(), { type: 's3', op: 'upload', credential: (code) => (code === 'SignatureDoesNotMatch' ? 'secretAccessKey' : 'accessKeyId') });
  assert.match(named.message, /secretAccessKey/);
});

test('a put is retried while its input is untouched, not once bytes were read', async () => {
  const m = memory();
  m.failures.push(transient);
  const s = withRetry(m.storage, fast);
  await s.put('fresh', Readable.from([Buffer.from('hello')]));
  assert.equal(m.objects.get('fresh')?.toString(), 'hello');

  const m2 = memory();
  const consuming: Storage = {
    ...m2.storage,
    async put(_key: string, input: Readable) {
      m2.calls.push('put');
      input.read(); // the first attempt consumed part of the input before failing
      await new Promise((r) => setImmediate(r));
      throw transient();
    },
  };
  const input = new Readable({ read() {} });
  input.push(Buffer.from('some bytes'));
  await assert.rejects(withRetry(consuming, fast).put('used', input), (err: unknown) => isCoffreError(err) && err.retryable);
  assert.deepEqual(m2.calls, ['put']);
});

test('a download cut midway resumes from the byte reached', async () => {
  const m = memory();
  const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
  m.objects.set('obj', data);
  const s = withRetry(m.storage, fast);
  m.cutDownloadAfter(10);
  assert.equal((await collect(await s.get('obj'))).toString(), data.toString());
  m.cutDownloadAfter(5);
  assert.equal((await collect(await s.get('obj', { start: 3, end: 20 }))).toString(), data.subarray(3, 21).toString());
  assert.deepEqual(m.calls, ['get', 'get', 'get', 'get']);
});

test('a list that fails midway starts again without repeating keys', async () => {
  const m = memory();
  for (const k of ['p/1', 'p/2', 'p/3']) m.objects.set(k, Buffer.from(k));
  m.failures.push(transient);
  const keys: string[] = [];
  for await (const info of withRetry(m.storage, fast).list('p/')) keys.push(info.key);
  assert.deepEqual(keys, ['p/1', 'p/2', 'p/3']);
});

test('not_found passes through without retries', async () => {
  const m = memory();
  await assert.rejects(withRetry(m.storage, fast).get('nope'), (err: unknown) => isCoffreError(err) && err.kind === 'not_found');
  assert.deepEqual(m.calls, ['get']);
});

test('provider errors are classified', () => {
  const ctx = { type: 's3', op: 'download', key: 'k' };
  assert.equal(toStorageError({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }, ctx).kind, 'not_found');
  assert.equal(toStorageError({ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, ctx).code, 'COFFRE_E_STORAGE_BUCKET_MISSING');
  assert.equal(toStorageError({ code: 'BlobNotFound', statusCode: 404 }, ctx).kind, 'not_found');
  assert.equal(toStorageError({ code: 'AuthenticationFailed', statusCode: 403 }, ctx).code, 'COFFRE_E_STORAGE_AUTH');
  assert.equal(toStorageError({ code: 429, message: 'rate limited' }, ctx).retryable, true);
  assert.equal(toStorageError({ name: 'InternalError', $metadata: { httpStatusCode: 500 } }, ctx).retryable, true);
  assert.equal(toStorageError(new Error('boom'), ctx).retryable, false);
  const leaky = toStorageError(new Error('failed: https://u:hunter2secret@host/x?sig=abcdef'), ctx);
  assert.ok(!leaky.message.includes('hunter2secret') && !leaky.message.includes('abcdef'));
});
