// Round trips and refusals of the delta encoder and decoder on random bytes, generated SQL text, a real
// SQLite file and edge cases (identical, empty), and the chain applier on full + several deltas.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { applyChain, createDeltaDecoder, createDeltaEncoder, type DeltaEncodeStats } from '../src/delta/index.ts';
import { ParentIndex, type IndexOptions } from '../src/delta/parent-index.ts';
import { collect } from './support/streams.ts';

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-delta-test-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
function file(data: Buffer | string): string {
  const p = path.join(dir, `f${counter++}`);
  fs.writeFileSync(p, data);
  return p;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Feeds `data` in uneven chunks, so records and windows straddle chunk boundaries. */
function chunked(data: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0, k = 0; at < data.length; k++) {
    const size = [1, 7, 4096, 65536, 333, 200_000][k % 6];
    pieces.push(data.subarray(at, at + size));
    at += size;
  }
  return Readable.from(pieces);
}

async function encode(parentPath: string, data: Buffer, index?: IndexOptions): Promise<{ delta: Buffer; stats: DeltaEncodeStats }> {
  const encoder = createDeltaEncoder({ parentPath, index });
  const parts: Buffer[] = [];
  await pipeline(chunked(data), encoder, async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) parts.push(part);
  });
  return { delta: Buffer.concat(parts), stats: encoder.stats! };
}

async function decode(parentPath: string, delta: Buffer, options: { expectedSha256?: string; parentSha256?: string } = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(chunked(delta), createDeltaDecoder({ parentPath, ...options }), async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) parts.push(part);
  });
  return Buffer.concat(parts);
}

async function roundTrip(parent: Buffer, next: Buffer, index?: IndexOptions): Promise<{ delta: Buffer; stats: DeltaEncodeStats }> {
  const parentPath = file(parent);
  const result = await encode(parentPath, next, index);
  assert.equal(result.stats.newSha256, sha(next));
  assert.equal(result.stats.newSize, next.length);
  assert.equal(result.stats.deltaSize, result.delta.length);
  const rebuilt = await decode(parentPath, result.delta, { expectedSha256: sha(next), parentSha256: sha(parent) });
  assert.ok(rebuilt.equals(next), 'the rebuilt bytes equal the new dump');
  return result;
}

/** COPY-format rows like pg_dump's, deterministic. */
function sqlRows(from: number, to: number, version = 0): string[] {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo'];
  const rows: string[] = [];
  for (let id = from; id < to; id++) {
    const h = Math.imul(id, 2654435761) >>> 0;
    rows.push(
      `${id}\tcustomer_${h % 1000003}\t${words[h % 11]} ${words[(h >>> 8) % 11]} ${words[(h >>> 16) % 11]}\t${((h % 100000) / 100 + version).toFixed(2)}\t2024-${String(1 + (h % 12)).padStart(2, '0')}-${String(1 + (h % 28)).padStart(2, '0')} 10:${String(h % 60).padStart(2, '0')}:00+00\t{"k": ${h % 977}, "v": ${version}}\n`,
    );
  }
  return rows;
}

describe('delta round trips', () => {
  test('random binary with scattered edits, inserts and deletes', async () => {
    const parent = randomBytes(3_000_000);
    const parts: Buffer[] = [];
    let at = 0;
    for (let k = 0; at < parent.length; k++) {
      const keep = 20_000 + ((k * 7919) % 50_000);
      parts.push(parent.subarray(at, at + keep));
      at += keep;
      if (k % 3 === 0) parts.push(randomBytes(1 + (k % 500))); // insert
      if (k % 3 === 1) at += 1 + (k % 700); // delete
      if (k % 3 === 2) {
        parts.push(randomBytes(40)); // overwrite
        at += 40;
      }
    }
    const next = Buffer.concat(parts);
    const { stats } = await roundTrip(parent, next);
    assert.ok(stats.literalBytes < next.length * 0.02, `literal bytes ${stats.literalBytes} should be under 2 % of ${next.length}`);
    assert.ok(stats.copies > 50);
  });

  test('generated SQL text: 1 % updates moved to the end, 1 % inserts, deletes and a schema change', async () => {
    const count = 240_000; // about 22 MB
    const rows = sqlRows(1, count + 1);
    const head =
      'CREATE TABLE public.t (id integer, name text, words text, amount numeric, ts timestamptz, doc jsonb);\nCOPY public.t (id, name, words, amount, ts, doc) FROM stdin;\n';
    const parent = Buffer.from(`${head}${rows.join('')}\\.\n`);
    assert.ok(parent.length > 20_000_000);
    const kept: string[] = [];
    const moved: string[] = [];
    for (let i = 0; i < rows.length; i++) {
      if (i % 100 === 37)
        moved.push(sqlRows(i + 1, i + 2, 1)[0]); // updated: leaves its place, appears at the end
      else if (i % 250 !== 11) kept.push(rows[i]); // every 250th row deleted
    }
    const schema = head.replace('doc jsonb);', 'doc jsonb, note text);\nCREATE INDEX t_name ON public.t (name);');
    const next = Buffer.from(`${schema}${kept.join('')}${moved.join('')}${sqlRows(count + 1, count + 1 + count / 100, 2).join('')}\\.\n`);
    const { delta, stats } = await roundTrip(parent, next);
    const share = delta.length / next.length;
    assert.ok(share < 0.05, `delta is ${(share * 100).toFixed(2)} % of the new dump, expected under 5 %`);
    assert.ok(stats.copiedBytes > next.length * 0.9);
  });

  test('a real SQLite file before and after changes', async () => {
    const dbPath = path.join(dir, 'live.db');
    const db = new DatabaseSync(dbPath);
    db.exec('PRAGMA journal_mode = DELETE; CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, data BLOB)');
    const insert = db.prepare('INSERT INTO items (name, qty, data) VALUES (?, ?, ?)');
    db.exec('BEGIN');
    for (let i = 0; i < 40_000; i++) insert.run(`item ${i} ${'x'.repeat(i % 50)}`, i, randomBytes(40));
    db.exec('COMMIT');
    const before = fs.readFileSync(dbPath);
    db.exec('BEGIN');
    db.exec("UPDATE items SET qty = qty + 1, name = name || ' (changed)' WHERE id % 97 = 0");
    db.exec('DELETE FROM items WHERE id % 101 = 0');
    for (let i = 0; i < 400; i++) insert.run(`new ${i}`, i, randomBytes(40));
    db.exec('ALTER TABLE items ADD COLUMN note TEXT');
    db.exec('COMMIT');
    db.close();
    const afterBytes = fs.readFileSync(dbPath);
    assert.ok(!afterBytes.equals(before));
    const { delta } = await roundTrip(before, afterBytes);
    assert.ok(delta.length < afterBytes.length * 0.3, `delta ${delta.length} bytes for a ${afterBytes.length}-byte database`);
  });

  test('an identical input gives a tiny delta', async () => {
    const data = randomBytes(2_000_000);
    const { delta, stats } = await roundTrip(data, data);
    assert.ok(delta.length < 120, `delta is ${delta.length} bytes`);
    assert.equal(stats.copies, 1);
    assert.equal(stats.literalBytes, 0);
  });

  test('empty parent, empty new dump, both empty, and inputs shorter than a window', async () => {
    const data = randomBytes(100_000);
    const fromEmpty = await roundTrip(Buffer.alloc(0), data);
    assert.equal(fromEmpty.stats.literalBytes, data.length);
    const toEmpty = await roundTrip(data, Buffer.alloc(0));
    assert.equal(toEmpty.stats.copies + toEmpty.stats.literals, 0);
    await roundTrip(Buffer.alloc(0), Buffer.alloc(0));
    await roundTrip(Buffer.from('short'), Buffer.from('shorter'));
  });

  test('long runs of zeros and repeated patterns, with a tiny index that fills up', async () => {
    const parent = Buffer.concat([Buffer.alloc(500_000), Buffer.from('abc'.repeat(100_000)), randomBytes(500_000), Buffer.alloc(100_000, 7)]);
    const next = Buffer.concat([parent.subarray(0, 900_000), Buffer.alloc(300_000), parent.subarray(700_000)]);
    await roundTrip(parent, next);
    const { stats } = await roundTrip(parent, next, { maxSlots: 1024, minStrideBits: 4 });
    assert.ok(stats.indexEntries <= 768);
  });
});

/** Random-looking bytes that are the same at every run (sha256 in counter mode). */
function seededBytes(length: number, seed = 'coffre'): Buffer {
  const out = Buffer.alloc(length);
  for (let at = 0, i = 0; at < length; at += 32, i++) createHash('sha256').update(`${seed}:${i}`).digest().copy(out, at);
  return out;
}

describe('delta refusals', () => {
  // Fixed bytes, not randomBytes: with random ones, about one run in 256 the parent byte next to the edit
  // equals the edit's first or last byte, the match takes it, and the literal no longer holds the whole text.
  const parent = seededBytes(400_000);
  const next = Buffer.concat([parent.subarray(0, 150_000), Buffer.from('changed bytes here'), parent.subarray(150_100)]);
  let parentPath: string;
  let delta: Buffer;
  before(async () => {
    parentPath = file(parent);
    delta = (await encode(parentPath, next)).delta;
  });

  test('a truncated delta is refused at every cut', async () => {
    for (const cut of [0, 10, 49, 50, 51, delta.length - 40, delta.length - 1]) {
      await assert.rejects(decode(parentPath, delta.subarray(0, cut)), { code: 'COFFRE_E_DELTA_CORRUPT', message: /truncated|ends after/ }, `cut at ${cut}`);
    }
  });

  test('bad magic, bad version, unknown tag, trailing bytes and a changed literal are refused', async () => {
    const bad = (mutate: (b: Buffer) => void): Buffer => {
      const copy = Buffer.from(delta);
      mutate(copy);
      return copy;
    };
    await assert.rejects(
      decode(
        parentPath,
        bad((b) => (b[0] = 0x41)),
      ),
      { code: 'COFFRE_E_DELTA_CORRUPT', message: /magic/ },
    );
    await assert.rejects(
      decode(
        parentPath,
        bad((b) => (b[8] = 9)),
      ),
      { code: 'COFFRE_E_DELTA_CORRUPT', message: /version is 9/ },
    );
    await assert.rejects(
      decode(
        parentPath,
        bad((b) => (b[50] = 0x7f)),
      ),
      { code: 'COFFRE_E_DELTA_CORRUPT', message: /unknown record tag/ },
    );
    await assert.rejects(decode(parentPath, Buffer.concat([delta, Buffer.from([1])])), { code: 'COFFRE_E_DELTA_CORRUPT', message: /after its trailer/ });
    const at = delta.indexOf('changed bytes here');
    assert.ok(at > 0);
    await assert.rejects(
      decode(
        parentPath,
        bad((b) => (b[at] ^= 1)),
      ),
      { code: 'COFFRE_E_DELTA_MISMATCH' },
    );
  });

  test('a copy outside the parent is refused', async () => {
    // Rewrite the first record (a copy from offset 0) to start near the end of the parent.
    assert.equal(delta[50], 0x02);
    const forged = Buffer.concat([delta.subarray(0, 50), Buffer.from([0x02, 0xfe, 0xff, 0x7f]), delta.subarray(53)]);
    await assert.rejects(decode(parentPath, forged), { code: 'COFFRE_E_DELTA_CORRUPT', message: /outside the parent/ });
  });

  test('a wrong parent is refused: other size, other sha256, other content', async () => {
    await assert.rejects(decode(file(parent.subarray(1)), delta), { code: 'COFFRE_E_DELTA_WRONG_PARENT' });
    await assert.rejects(decode(parentPath, delta, { parentSha256: sha(next) }), { code: 'COFFRE_E_DELTA_WRONG_PARENT' });
    const other = Buffer.from(parent);
    other[1000] ^= 0xff;
    await assert.rejects(decode(file(other), delta), { code: 'COFFRE_E_DELTA_MISMATCH' });
    await assert.rejects(decode(parentPath, delta, { expectedSha256: sha(parent) }), { code: 'COFFRE_E_DELTA_MISMATCH' });
    await assert.rejects(decode(path.join(dir, 'missing'), delta), { code: 'COFFRE_E_DELTA_PARENT_MISSING' });
    const encoder = createDeltaEncoder({ parentPath, parentSha256: sha(next) });
    await assert.rejects(
      pipeline(Readable.from([next]), encoder, async (s: AsyncIterable<Buffer>) => {
        for await (const _ of s);
      }),
      { code: 'COFFRE_E_DELTA_WRONG_PARENT' },
    );
  });
});

describe('chains', () => {
  /** full -> v1 -> ... -> v5, each a few edits of the previous one. */
  const versions: Buffer[] = [Buffer.from(sqlRows(1, 30_000).join(''))];
  for (let v = 1; v <= 5; v++) {
    const prev = versions[v - 1];
    const cut = (v * 97_331) % (prev.length - 10_000);
    versions.push(
      Buffer.concat([prev.subarray(0, cut), Buffer.from(sqlRows(100_000 * v, 100_000 * v + 300, v).join('')), prev.subarray(cut + 5_000), Buffer.from(`-- version ${v}\n`)]),
    );
  }
  const paths: string[] = [];
  before(async () => {
    paths.push(file(versions[0]));
    for (let v = 1; v < versions.length; v++) paths.push(file((await encode(file(versions[v - 1]), versions[v])).delta));
  });

  for (const maxOps of [3_000_000, 40, 8]) {
    test(`full + 5 deltas rebuild the last version (maxOps ${maxOps})`, async () => {
      const rebuilt = await collect(
        applyChain({ basePath: paths[0], baseSha256: sha(versions[0]), deltaPaths: paths.slice(1), expectedSha256: sha(versions[5]), tempDir: dir, maxOps }),
      );
      assert.ok(rebuilt.equals(versions[5]));
      const partial = await collect(applyChain({ basePath: paths[0], deltaPaths: paths.slice(1, 3), maxOps }));
      assert.ok(partial.equals(versions[2]));
    });
  }

  test('no temporary files are left behind', () => {
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.startsWith('coffre-chain-')),
      [],
    );
  });

  test('a missing, reordered or corrupt middle link is refused', async () => {
    await assert.rejects(collect(applyChain({ basePath: paths[0], deltaPaths: [paths[1], paths[3], paths[4]] })), { code: 'COFFRE_E_DELTA_WRONG_PARENT', message: /link 2/ });
    await assert.rejects(collect(applyChain({ basePath: paths[0], deltaPaths: [paths[1], path.join(dir, 'gone'), paths[3]] })), { code: 'COFFRE_E_DELTA_PARENT_MISSING' });
    const damaged = Buffer.from(fs.readFileSync(paths[2]));
    damaged[damaged.length - 10] ^= 1; // inside the trailer's sha256
    const damagedPath = file(damaged);
    await assert.rejects(collect(applyChain({ basePath: paths[0], deltaPaths: [paths[1], damagedPath, paths[3]] })), { code: 'COFFRE_E_DELTA_WRONG_PARENT' });
    const literalAt = damaged.indexOf('-- version 2');
    const damagedLiteral = Buffer.from(fs.readFileSync(paths[2]));
    damagedLiteral[literalAt] ^= 1;
    await assert.rejects(collect(applyChain({ basePath: paths[0], deltaPaths: [paths[1], file(damagedLiteral)] })), { code: 'COFFRE_E_DELTA_MISMATCH' });
    await assert.rejects(collect(applyChain({ basePath: paths[0], deltaPaths: [paths[1], file(damaged.subarray(0, 100))] })), {
      code: 'COFFRE_E_DELTA_CORRUPT',
      message: /truncated/,
    });
    await assert.rejects(collect(applyChain({ basePath: paths[0], baseSha256: sha(versions[1]), deltaPaths: [paths[1]] })), { code: 'COFFRE_E_DELTA_WRONG_PARENT' });
  });
});

test("with sparse anchors (a large parent's 1 KiB stride), small edits cost about their own size: the copy picks up right after each", async () => {
  const rows = sqlRows(1, 40_000);
  const parent = Buffer.from(rows.join(''));
  const edited = [...rows];
  let editedBytes = 0;
  for (let i = 50; i < edited.length; i += 200) {
    const kind = ((i / 200) % 3) | 0;
    if (kind === 0) {
      edited[i] = edited[i].replace(/\t/, '\tX'); // one byte inserted
      editedBytes += 1;
    } else if (kind === 1) {
      edited[i] = `${edited[i].slice(0, 5)}#${edited[i].slice(6)}`; // one byte changed
      editedBytes += 1;
    } else {
      edited[i] = `${i}\tinserted row ${i}\n${edited[i]}`; // a new line before this one
      editedBytes += `${i}\tinserted row ${i}\n`.length;
    }
    if (i % 1000 === 450) edited[i + 1] = ''; // and some lines deleted
  }
  const next = Buffer.from(edited.join(''));
  const { stats } = await roundTrip(parent, next, { minStrideBits: 10 });
  assert.equal(stats.anchorStride, 1024);
  assert.ok(stats.literalBytes <= 2 * editedBytes, `literal ${stats.literalBytes} bytes for ${editedBytes} edited bytes`);
});

test('input read ahead while the parent is indexed: a new dump that ends, or fails, before indexing is done', async () => {
  const parent = seededBytes(24_000_000, 'ahead'); // indexed over many event-loop turns
  const parentPath = file(parent);
  const small = Buffer.concat([parent.subarray(0, 5000), Buffer.from('edit'), parent.subarray(5000, 90_000)]);
  await roundTrip(parent, small); // the whole input arrives (and ends) while the parent is still being indexed
  const failing = new Readable({
    read() {
      this.push(parent.subarray(0, 65536));
      this.destroy(new Error('the dump tool died'));
    },
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(
      pipeline(failing, createDeltaEncoder({ parentPath }), async (src: AsyncIterable<Buffer>) => {
        for await (const _ of src);
      }),
      /the dump tool died/,
    );
    // Kept as a sleep: what is tested is that nothing (no unhandled rejection) arrives in the turns after the failure.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

describe('parent index', () => {
  test('anchors added in batches keep "the first window with a key wins", within a batch and across batches', () => {
    const index = new ParentIndex(100_000_000);
    index.add(0xdead0001, 10);
    index.add(0xdead0001, 20); // same batch, later: ignored
    for (let i = 0; i < (1 << 18) + 5; i++) index.add(((i * 2654435761) >>> 0) | 1, 1000 + i); // fills and flushes a batch
    index.add(0xbeef0001, 30);
    index.flush();
    index.add(0xbeef0001, 40); // a later batch: ignored
    index.flush();
    assert.equal(index.lookup(0xdead0001), 10);
    assert.equal(index.lookup(0xbeef0001), 30);
    assert.equal(index.lookup(((7 * 2654435761) >>> 0) | 1), 1007);
    assert.equal(index.lookup(0x12345679), -1);
  });

  test('offsets past 4 GiB keep their fifth byte (only a parent that large pays for it)', () => {
    const big = new ParentIndex(6 * 2 ** 30);
    big.add(0xabc00001, 5 * 2 ** 30 + 12345);
    big.add(0xabc00003, 77);
    big.flush();
    assert.equal(big.lookup(0xabc00001), 5 * 2 ** 30 + 12345);
    assert.equal(big.lookup(0xabc00003), 77);
  });
});

describe('parent index in a worker thread', () => {
  test("gives byte-identical deltas to the main thread's index, on SQL text and on random bytes", async () => {
    const rows = sqlRows(1, 60_000);
    const parentText = Buffer.from(rows.join(''));
    const edited = rows.map((r, i) => (i % 100 === 7 ? r.replace('customer_', 'customer_X') : r));
    const nextText = Buffer.from(edited.join('') + sqlRows(60_000, 60_600).join(''));
    const parentRandom = seededBytes(3_000_000, 'worker');
    const nextRandom = Buffer.concat([parentRandom.subarray(0, 1_000_000), Buffer.from('an edit'), parentRandom.subarray(1_000_100)]);
    for (const [parent, next] of [
      [parentText, nextText],
      [parentRandom, nextRandom],
    ]) {
      const parentPath = file(parent);
      const main = await encode(parentPath, next, { thread: 'main' });
      const worker = await encode(parentPath, next, { thread: 'worker' });
      assert.ok(main.delta.length < next.length / 5, 'the delta found copies');
      assert.ok(worker.delta.equals(main.delta), 'same delta bytes from both indexes');
      assert.equal(main.stats.indexThread, 'main');
      assert.equal(worker.stats.indexThread, 'worker');
      assert.deepEqual({ ...worker.stats, indexThread: 'main' }, main.stats);
      const rebuilt = await decode(parentPath, worker.delta, { expectedSha256: sha(next) });
      assert.ok(rebuilt.equals(next));
    }
    // And with a tiny table that fills up (anchors dropped), both still agree.
    const parentPath = file(parentText);
    const main = await encode(parentPath, nextText, { thread: 'main', maxSlots: 1024 });
    const worker = await encode(parentPath, nextText, { thread: 'worker', maxSlots: 1024 });
    assert.ok(worker.delta.equals(main.delta));
  });

  test('a worker that fails is a coded error, with no unhandled rejection; a wrong parent is still refused', async () => {
    const parent = Buffer.from(sqlRows(1, 5000).join(''));
    const parentPath = file(parent);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (const workerFault of ['throw', 'exit'] as const) {
        await assert.rejects(encode(parentPath, parent, { thread: 'worker', workerFault }), (err: { code?: string; message?: string }) => {
          assert.equal(err.code, 'COFFRE_E_DELTA_INDEX_FAILED');
          assert.match(err.message!, /worker thread (raised an error|exited)/);
          return true;
        });
      }
      const encoder = createDeltaEncoder({ parentPath, parentSha256: sha(Buffer.from('other')), index: { thread: 'worker' } });
      await assert.rejects(
        pipeline(Readable.from([parent]), encoder, async (src: AsyncIterable<Buffer>) => {
          for await (const _ of src);
        }),
        { code: 'COFFRE_E_DELTA_WRONG_PARENT' },
      );
      // The parent replaced by another file between the encoder's open and the worker's: refused, coded.
      const moved = file(parent);
      const replaced = createDeltaEncoder({ parentPath: moved, index: { thread: 'worker' } });
      fs.rmSync(moved);
      fs.writeFileSync(moved, parent);
      await assert.rejects(
        pipeline(Readable.from([parent]), replaced, async (src: AsyncIterable<Buffer>) => {
          for await (const _ of src);
        }),
        { code: 'COFFRE_E_DELTA_WRONG_PARENT', message: /replaced/ },
      );
      // An encoder destroyed while its worker runs: the worker stops, nothing is left unhandled.
      const big = file(seededBytes(24_000_000, 'cancel'));
      const cancelled = createDeltaEncoder({ parentPath: big });
      cancelled.destroy();
      // Kept as a sleep: what is tested is that nothing (no unhandled rejection) arrives while the worker stops.
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
