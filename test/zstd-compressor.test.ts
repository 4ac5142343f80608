// The zstd codec's two compressors: the `zstd` CLI as a child process (used when PATH has it) and node:zlib
// (the fallback). Each one's frames decode with the other side and with `zstd -d`, whatever the input's
// chunking; without zstd in PATH the codec falls back to node:zlib; a failing child is a coded error. And
// the pipeline's reclaimer (pipeline/reclaim.ts) keeps the memory of spent chunks bounded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { findZstd, zstdCodec, zstdCompressor } from '../src/codecs/zstd.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { createMeter } from '../src/pipeline/meter.ts';
import { createReclaimer, exposedGc, RECLAIM_BYTES } from '../src/pipeline/reclaim.ts';

const dir = mkdtempSync(join(tmpdir(), 'coffre-zstd-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const cliPath = findZstd();

/** A dump-like, compressible input: SQL lines with random parts. */
function dumpLike(bytes: number): Buffer {
  const lines: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const line = `${i}\titem-${createHash('md5').update(String(i)).digest('hex')}\t${randomBytes(6).toString('hex')}\t2024-01-01 00:00:${String(i % 60).padStart(2, '0')}+00\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** buf cut into uneven pieces (1 byte to ~70 KiB), so no boundary lines up with anything. */
function uneven(buf: Buffer): Readable {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < buf.length; k++) {
    const n = 1 + ((k * 7919) % 70001);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return Readable.from(out, { objectMode: false });
}

async function through(input: Readable, transform: Duplex): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    input,
    transform,
    new Writable({
      write: (c: Buffer, _e, cb) => {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

test('the CLI and node:zlib write frames that the other side and `zstd -d` decode', { skip: cliPath ? false : 'zstd CLI not in PATH' }, async () => {
  const cli = zstdCodec({ compressor: 'cli' });
  const node = zstdCodec({ compressor: 'node' });
  assert.equal(cli.takesSmallChunks(), true);
  assert.equal(node.takesSmallChunks(), false);
  for (const size of [0, 1, 65536, 3_000_001]) {
    const plain = dumpLike(size);
    const byCli = await through(uneven(plain), cli.compress());
    const byNode = await through(uneven(plain), node.compress());
    // Both are zstd frames (magic 28 B5 2F FD) with a content checksum (frame header descriptor bit 2).
    for (const frame of [byCli, byNode]) {
      assert.equal(frame.readUInt32LE(0), 0xfd2fb528, `size ${size}: a zstd frame`);
      assert.equal((frame[4] >> 2) & 1, 1, `size ${size}: a content checksum`);
    }
    assert.ok((await through(Readable.from([byCli]), node.decompress())).equals(plain), `size ${size}: CLI frame, node:zlib decodes`);
    assert.ok((await through(Readable.from([byNode]), cli.decompress())).equals(plain), `size ${size}: node:zlib frame, decoded`);
    assert.ok(execFileSync(cliPath!, ['-d', '-c', '-q'], { input: byNode, maxBuffer: 1 << 26 }).equals(plain), `size ${size}: node:zlib frame, zstd -d decodes`);
    assert.ok(execFileSync(cliPath!, ['-d', '-c', '-q'], { input: byCli, maxBuffer: 1 << 26 }).equals(plain), `size ${size}: CLI frame, zstd -d decodes`);
  }
});

test('without zstd in PATH the codec falls back to node:zlib, and its frames still decode', async () => {
  const empty = mkdtempSync(join(dir, 'path-'));
  assert.equal(findZstd(empty), undefined);
  assert.equal(zstdCompressor('auto', empty), 'node');
  if (cliPath) assert.equal(zstdCompressor('auto', `${empty}:${join(cliPath, '..')}`), cliPath);
  const saved = process.env.PATH;
  process.env.PATH = empty;
  try {
    const codec = zstdCodec();
    assert.equal(codec.takesSmallChunks(), false, 'node:zlib is used');
    const plain = dumpLike(500_000);
    const frame = await through(uneven(plain), codec.compress());
    assert.ok((await through(Readable.from([frame]), codec.decompress())).equals(plain));
    // Asked for the CLI where there is none: the child's spawn error, coded.
    await assert.rejects(through(uneven(plain), zstdCodec({ compressor: 'cli' }).compress()), (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_ZSTD_NOT_FOUND');
    if (cliPath) {
      process.env.PATH = join(cliPath, '..');
      assert.equal(zstdCodec().takesSmallChunks(), true, 'the CLI is used once PATH has it');
      assert.ok(execFileSync(cliPath, ['-d', '-c', '-q'], { input: frame, maxBuffer: 1 << 26 }).equals(plain), 'zstd -d decodes the fallback frame');
    }
  } finally {
    process.env.PATH = saved;
  }
});

/** Short rows as a delta's literals are (an id, two random numbers, a status): where the parser matters. */
function shortRows(count: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`${(i * 2654435761) % 3000000}\t${randomBytes(2).readUInt16LE() % 1000}\t${randomBytes(4).readUInt32LE() % 100000}\tupd1\n`);
  return Buffer.from(lines.join(''));
}

test('a small delta is compressed with the optimal parser: a smaller standard frame that every side decodes', async () => {
  const plain = shortRows(40000);
  for (const compressor of cliPath ? (['cli', 'node'] as const) : (['node'] as const)) {
    const codec = zstdCodec({ compressor });
    const asDump = await through(uneven(plain), codec.compress({ entryName: 'd', delta: false }));
    const asDelta = await through(uneven(plain), codec.compress({ entryName: 'd', delta: true }));
    assert.equal(asDelta.readUInt32LE(0), 0xfd2fb528, `${compressor}: a zstd frame`);
    assert.equal((asDelta[4] >> 2) & 1, 1, `${compressor}: a content checksum`);
    assert.ok(asDelta.length < 0.9 * asDump.length, `${compressor}: delta ${asDelta.length} bytes, as a dump ${asDump.length}`);
    assert.ok((await through(Readable.from([asDelta]), codec.decompress())).equals(plain), `${compressor}: node:zlib decodes it`);
    if (cliPath) assert.ok(execFileSync(cliPath, ['-d', '-c', '-q'], { input: asDelta, maxBuffer: 1 << 26 }).equals(plain), `${compressor}: zstd -d decodes it`);
  }
});

test("a delta over the size limit streams at the plan's level, the bytes held until then included", async () => {
  const plain = shortRows(40000);
  const codec = zstdCodec({ compressor: 'node', smallDeltaBytes: 100_000 });
  const asDump = await through(uneven(plain), codec.compress({ entryName: 'd' }));
  const asDelta = await through(uneven(plain), codec.compress({ entryName: 'd', delta: true }));
  assert.ok(asDelta.equals(asDump), 'the same frame as a dump of these bytes');
  assert.ok((await through(Readable.from([asDelta]), codec.decompress())).equals(plain));
  // A failing source fails the delta's stream too, in either state (held or streaming).
  for (const at of [50_000, 400_000]) {
    async function* broken() {
      yield plain.subarray(0, at);
      throw new Error('source failed');
    }
    await assert.rejects(through(Readable.from(broken(), { objectMode: false }), codec.compress({ entryName: 'd', delta: true })), /source failed/);
  }
});

test('a zstd child that fails makes the stream fail with COFFRE_E_ZSTD_FAILED', async () => {
  const bin = mkdtempSync(join(dir, 'bad-'));
  writeFileSync(join(bin, 'zstd'), '#!/bin/sh\ncat >/dev/null\necho "zstd: simulated failure" >&2\nexit 1\n');
  chmodSync(join(bin, 'zstd'), 0o755);
  symlinkSync('/bin/cat', join(bin, 'cat'));
  const codec = zstdCodec();
  const saved = process.env.PATH;
  process.env.PATH = bin;
  try {
    await assert.rejects(
      through(uneven(dumpLike(200_000)), codec.compress()),
      (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_ZSTD_FAILED' && /simulated failure/.test(err.message),
    );
  } finally {
    process.env.PATH = saved;
  }
});

test('the reclaimer runs one minor collection per RECLAIM_BYTES of data', () => {
  const calls: unknown[] = [];
  const reclaim = createReclaimer({ every: 1000, gc: (o) => void calls.push(o) });
  for (let i = 0; i < 35; i++) reclaim(100);
  assert.equal(calls.length, 3);
  assert.deepEqual(calls[0], { type: 'minor' });
  assert.equal(typeof exposedGc(), 'function', "V8's gc is available to the pipeline");
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'and not made global');
  assert.ok(RECLAIM_BYTES <= 16 << 20);
});

/** Peak ArrayBuffer memory while 256 MiB of fresh 16 KiB chunks go through a meter feeding `reclaim`. */
async function peakThrough(reclaim: (bytes: number) => void): Promise<number> {
  let seen = 0;
  let peak = 0;
  const meter = createMeter({
    onProgress: (b) => {
      reclaim(b - seen);
      seen = b;
    },
  });
  async function* chunks() {
    for (let i = 0; i < 16384; i++) yield Buffer.alloc(16384, i & 255);
  }
  const sink = new Writable({
    write(_c, _e, cb) {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      cb();
    },
  });
  await pipeline(Readable.from(chunks(), { objectMode: false }), meter, sink);
  assert.equal(meter.bytes, 256 << 20);
  return peak;
}

test('spent chunks stay bounded: with the reclaimer, far fewer dead buffers pile up than with V8 alone', async () => {
  const gc = exposedGc()!;
  // The tests above leave buffers whose memory V8 returns only after a collection and a turn of the event
  // loop: settle that first, so each peak is this test's own.
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc({ type: 'major' });
      await new Promise(setImmediate);
    }
  };
  await settle();
  const alone = await peakThrough(createReclaimer({ gc: null }));
  await settle();
  const reclaimed = await peakThrough(createReclaimer({ every: 4 << 20 }));
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  assert.ok(reclaimed < 20 << 20, `peak ArrayBuffer memory with the reclaimer ${mib(reclaimed)} (V8 alone: ${mib(alone)})`);
  assert.ok(reclaimed * 1.5 < alone, `with the reclaimer ${mib(reclaimed)}, V8 alone ${mib(alone)}`);
});
