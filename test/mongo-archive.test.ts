// The mongodump archive writer and reader on their own: byte layout against the spec (mongo-tools
// common/archive/spec.md), round trips through arbitrary chunking, and refusal of damaged archives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BSON } from 'mongodb';
import fc from 'fast-check';
import { Crc64, encodeArchive, readArchive, type ArchiveHeader, type ArchiveItem, type NamespaceSource } from '../src/formats/mongo-archive.ts';
import { isCoffreError } from '../src/core/errors.ts';

const header: ArchiveHeader = { concurrentCollections: 1, version: '0.1', serverVersion: '7.0.42', toolVersion: 'coffre-mongo test' };

function ns(db: string, collection: string, docs: Uint8Array[]): NamespaceSource {
  return {
    entry: { db, collection, metadata: `{"indexes":[],"collectionName":"${collection}","type":"collection"}`, size: 0, type: 'collection' },
    documents: async function* () {
      yield* docs;
    },
  };
}

async function encode(namespaces: NamespaceSource[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of encodeArchive(header, namespaces)) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Feeds bytes in chunks of the given sizes (cycled), to exercise reads that straddle chunks. */
async function* chunked(bytes: Buffer, sizes: number[] = [bytes.length || 1]): AsyncGenerator<Buffer> {
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]);
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

async function readAll(bytes: Buffer, sizes?: number[]): Promise<ArchiveItem[]> {
  const items: ArchiveItem[] = [];
  for await (const item of readArchive(chunked(bytes, sizes))) items.push(item);
  return items;
}

/** Reference CRC-64/XZ (Go's crc64.ECMA), bit by bit with BigInt. */
function referenceCrc(bytes: Uint8Array): bigint {
  const poly = 0xc96c5795d7870f42n;
  let crc = 0xffffffffffffffffn;
  for (const b of bytes) {
    crc ^= BigInt(b);
    for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return BigInt.asIntN(64, crc ^ 0xffffffffffffffffn);
}

const docA = BSON.serialize({ _id: 1, name: 'été 🚀' });
const docB = BSON.serialize({ _id: 2, bin: new BSON.Binary(Buffer.from([0, 255]), 4) });

test('crc64 matches the CRC-64/XZ check value and a bitwise reference', () => {
  assert.equal(BigInt.asUintN(64, new Crc64().update(Buffer.from('123456789')).signed), 0x995dc9bbdf1939fan);
  assert.equal(new Crc64().signed, 0n);
  const data = Buffer.concat([docA, docB]);
  assert.equal(new Crc64().update(docA).update(docB).signed, referenceCrc(data));
});

test('golden layout: magic, prelude, terminator, namespace block, EOF blocks with CRC', async () => {
  const bytes = await encode([ns('shop', 'orders', [docA, docB]), ns('shop', 'empty', [])]);
  let at = 0;
  const u32 = () => {
    const v = bytes.readUInt32LE(at);
    at += 4;
    return v;
  };
  const doc = () => {
    const size = bytes.readInt32LE(at);
    const d = bytes.subarray(at, at + size);
    at += size;
    return BSON.deserialize(d, { useBigInt64: true });
  };
  assert.deepEqual([...bytes.subarray(0, 4)], [0x6d, 0xe2, 0x99, 0x81], 'magic 0x8199e26d little-endian');
  at = 4;
  // The header's BSON types matter to mongorestore: concurrent_collections is an int32 (0x10).
  const headerStart = at;
  const h = doc();
  assert.deepEqual(Object.keys(h), ['concurrent_collections', 'version', 'server_version', 'tool_version']);
  assert.equal(bytes[headerStart + 4], 0x10);
  assert.equal(h.version, '0.1');
  assert.equal(h.server_version, '7.0.42');
  const m1 = doc();
  const m2 = doc();
  assert.deepEqual(Object.keys(m1), ['db', 'collection', 'metadata', 'size', 'type']);
  assert.deepEqual([m1.db, m1.collection, m2.collection], ['shop', 'orders', 'empty']);
  assert.equal(u32(), 0xffffffff, 'prelude terminator');
  // orders: header (EOF false, CRC int64 0), two documents, terminator.
  const nhStart = at;
  const nh = doc();
  assert.deepEqual(nh, { db: 'shop', collection: 'orders', EOF: false, CRC: 0n });
  assert.equal(bytes[nhStart + bytes.subarray(nhStart).indexOf(Buffer.from('CRC\0')) - 1], 0x12, 'CRC is an int64');
  assert.deepEqual(bytes.subarray(at, at + docA.length), Buffer.from(docA));
  at += docA.length;
  assert.deepEqual(bytes.subarray(at, at + docB.length), Buffer.from(docB));
  at += docB.length;
  assert.equal(u32(), 0xffffffff);
  // orders EOF with the CRC of both documents, then terminator.
  assert.deepEqual(doc(), { db: 'shop', collection: 'orders', EOF: true, CRC: referenceCrc(Buffer.concat([docA, docB])) });
  assert.equal(u32(), 0xffffffff);
  // empty: only an EOF block, CRC 0.
  assert.deepEqual(doc(), { db: 'shop', collection: 'empty', EOF: true, CRC: 0n });
  assert.equal(u32(), 0xffffffff);
  assert.equal(at, bytes.length, 'nothing after the last EOF block');
});

test('round trip through any chunking gives back the prelude and every document byte for byte', async () => {
  const big = BSON.serialize({ _id: 'big', s: 'x'.repeat(70_000) });
  const bytes = await encode([ns('db1', 'a', [docA, big, docB]), ns('db1', 'b 🚀', []), ns('db1', 'c', [docB])]);
  for (const sizes of [[bytes.length], [1], [3, 7, 4096, 2], [65536]]) {
    const items = await readAll(bytes, sizes);
    assert.equal(items[0].kind, 'prelude');
    if (items[0].kind === 'prelude') {
      assert.deepEqual(items[0].header, header);
      assert.deepEqual(
        items[0].collections.map((c) => c.collection),
        ['a', 'b 🚀', 'c'],
      );
    }
    const rest = items
      .slice(1)
      .map((i) => (i.kind === 'document' ? `${i.collection}:${Buffer.from(i.bson).toString('hex')}` : i.kind === 'end' ? `end:${i.collection}` : 'prelude'));
    assert.deepEqual(rest, [
      `a:${Buffer.from(docA).toString('hex')}`,
      `a:${Buffer.from(big).toString('hex')}`,
      `a:${Buffer.from(docB).toString('hex')}`,
      'end:a',
      'end:b 🚀',
      `c:${Buffer.from(docB).toString('hex')}`,
      'end:c',
    ]);
  }
});

test('round trip of random documents (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.dictionary(
          fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !k.includes('\0')),
          fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
        ),
        { maxLength: 20 },
      ),
      fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 5 }),
      async (objects, sizes) => {
        const docs = objects.map((o) => BSON.serialize(o));
        const bytes = await encode([ns('p', 'q', docs)]);
        const got = (await readAll(bytes, sizes)).flatMap((i) => (i.kind === 'document' ? [Buffer.from(i.bson).toString('hex')] : []));
        assert.deepEqual(
          got,
          docs.map((d) => Buffer.from(d).toString('hex')),
        );
      },
    ),
    { numRuns: 40 },
  );
});

async function refusal(bytes: Buffer): Promise<string> {
  try {
    await readAll(bytes, [1000]);
  } catch (err) {
    assert.ok(isCoffreError(err), `a coded error, got ${String(err)}`);
    assert.ok(err.message.length > 20 && /backup|archive|mongodump/i.test(err.message), 'the message says what to do');
    return err.code;
  }
  return 'accepted';
}

test('a truncated archive is refused wherever it is cut', async () => {
  const bytes = await encode([ns('db1', 'a', [docA, docB]), ns('db1', 'b', [])]);
  const cuts = new Set([1, 3, 4, 10, 40, 120]);
  for (let cut = 0; cut < bytes.length; cut += 13) cuts.add(cut);
  cuts.add(bytes.length - 1);
  cuts.add(bytes.length - 4);
  for (const cut of [...cuts].filter((c) => c > 0 && c < bytes.length)) {
    const code = await refusal(bytes.subarray(0, cut));
    assert.ok(['COFFRE_E_ARCHIVE_TRUNCATED', 'COFFRE_E_ARCHIVE_CORRUPT'].includes(code), `cut at ${cut}: ${code}`);
  }
  // A cut exactly between blocks leaves a namespace unfinished: still refused, as truncated.
  const withoutLastEof = bytes.subarray(0, bytes.length - (BSON.serialize({ db: 'db1', collection: 'b', EOF: true, CRC: BSON.Long.fromInt(0) }).length + 4));
  assert.equal(await refusal(withoutLastEof), 'COFFRE_E_ARCHIVE_TRUNCATED');
  assert.equal(await refusal(Buffer.alloc(0)), 'COFFRE_E_ARCHIVE_TRUNCATED');
});

test('a corrupted block is refused: changed document bytes (CRC), a bad length, a bad magic', async () => {
  const bytes = await encode([ns('db1', 'a', [docA, docB])]);
  const at = bytes.indexOf(Buffer.from('été'));
  assert.ok(at > 0);
  const flipped = Buffer.from(bytes);
  flipped[at] ^= 0x01; // still valid BSON, different content: only the CRC can tell
  assert.equal(await refusal(flipped), 'COFFRE_E_ARCHIVE_CORRUPT');

  const badLength = Buffer.from(bytes);
  const docAt = bytes.indexOf(Buffer.from(docA));
  badLength.writeInt32LE(3, docAt);
  assert.equal(await refusal(badLength), 'COFFRE_E_ARCHIVE_CORRUPT');

  const noZero = Buffer.from(bytes);
  noZero[docAt + docA.length - 1] = 7;
  assert.equal(await refusal(noZero), 'COFFRE_E_ARCHIVE_CORRUPT');

  const badMagic = Buffer.from(bytes);
  badMagic[0] = 0;
  assert.equal(await refusal(badMagic), 'COFFRE_E_ARCHIVE_NOT_MONGO');
});
