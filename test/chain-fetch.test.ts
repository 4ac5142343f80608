// Fetching a delta chain's links (pipeline/chain-links.ts fetchChain) lets go of every stream it opened when
// it gives up on a link: an encrypted link that no identity opens (the parent of an incremental whose raw
// dump left the cache), a corrupt one. A stored copy's stream left open held an S3 socket, and with it the
// `coffre backup` process, until the server's timeout, two minutes after the backup had finished.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isCoffreError } from '../src/core/errors.ts';
import type { Storage } from '../src/core/types.ts';
import { createAgeEncryptor } from '../src/crypto/age.ts';
import { generateIdentity, parseIdentity, parseRecipient } from '../src/crypto/age-keys.ts';
import { fetchChain, type ChainLink } from '../src/pipeline/chain-links.ts';
import { localStorage } from '../src/storage/local.ts';
import { collect } from './support/streams.ts';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('fetchChain destroys the stored copy it was reading when no identity opens an encrypted link, or the link is corrupt', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-chain-fetch-'));
  try {
    const store = localStorage(path.join(dir, 'store'));
    // Large enough (8 MB, incompressible) that the copy is still being read when the header is refused.
    const raw = Buffer.from(`INSERT INTO t VALUES ('${randomBytes(4 << 20).toString('hex')}');\n`);
    const owner = generateIdentity();
    const sealed = await collect(Readable.from([gzipSync(raw)]).pipe(createAgeEncryptor([parseRecipient(owner.recipient)])));
    await store.put('plan/full.sql.gz.age', Readable.from([sealed]));
    // The real local storage, each stream it hands out kept to look at afterwards.
    const opened: Readable[] = [];
    const watched: Storage = {
      ...store,
      get: async (key, range) => {
        const s = await store.get(key, range);
        opened.push(s);
        return s;
      },
    };
    const link = (over: Partial<ChainLink> = {}): ChainLink => ({
      id: 'full-1',
      kind: 'full',
      key: 'plan/full.sql.gz.age',
      storage: watched,
      sha256: sha256(sealed),
      sizeBytes: sealed.length,
      rawSha256: sha256(raw),
      rawSizeBytes: raw.length,
      rawFormat: 'sql',
      recipients: [owner.recipient],
      ...over,
    });
    const work = path.join(dir, 'work');
    await mkdir(work);

    // No identity at all, then one that is not the recipient's: refused with the age code, the copy let go.
    const stranger = generateIdentity();
    for (const identities of [[], [parseIdentity(stranger.secret, 'stranger.key')]]) {
      await assert.rejects(fetchChain([link()], work, undefined, identities), (err: unknown) => isCoffreError(err) && err.code.startsWith('COFFRE_E_AGE_'));
      assert.equal(opened.length, 1);
      assert.ok(opened.pop()!.destroyed, 'the stored copy was destroyed');
    }
    // A link whose recorded raw checksum differs: corrupt, and let go as well.
    await assert.rejects(
      fetchChain([link({ rawSha256: sha256(Buffer.from('other')) })], work, undefined, [parseIdentity(owner.secret, 'owner.key')]),
      (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_CHAIN_LINK_CORRUPT',
    );
    assert.ok(opened.pop()!.destroyed, 'the stored copy was destroyed');
    // And the owner's identity opens it.
    const fetched = await fetchChain([link()], work, undefined, [parseIdentity(owner.secret, 'owner.key')]);
    assert.deepEqual(await readFile(fetched.basePath), raw);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
