// The storage contract on local disk storage, in a fresh temporary folder. The connection-cut test does
// not apply (no network); a failing input covers the interrupted write.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { storageContract, generated } from './support/storage-contract.ts';
import { local } from '../src/storage/local.ts';

let root: string;

storageContract('local', async () => {
  root = await mkdtemp(path.join(tmpdir(), 'coffre-storage-local-'));
  const backend = local;
  return {
    storage: backend.open(backend.configure({ path: root })),
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
});

test('local: a failed put leaves no .partial file behind', async () => {
  const backend = local;
  const storage = backend.open(backend.configure({ path: root }));
  await assert.rejects(storage.put('partials/x.bin', generated(4 * 1024 * 1024, { failAfter: 2 * 1024 * 1024 })), /failed on purpose/);
  const left = await readdir(path.join(root, 'partials')).catch(() => []);
  assert.deepEqual(
    left.filter((f) => f.endsWith('.partial')),
    [],
  );
});
