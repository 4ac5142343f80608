// A small crafted zip must not blow up memory (issue 9, finding 8). The zip reader used to buffer whatever
// length a ZIP64 end record or an archive extra data record claimed; wrapped in gzip, a file of a few hundred
// KB then fed hundreds of MB of zeros into one buffer. Each crafted file below is built here, restored with
// the real CLI (`coffre restore --file`) in a child whose peak RSS is read from the kernel at its exit, and
// must be restored or refused with a clear error, with peak RSS under 300 MB.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DatabaseSync } from 'node:sqlite';
import { crc32, createGzip } from 'node:zlib';
import { workspace, expectCode, mainScript, type Workspace } from './support/cli.ts';

const PEAK_LIMIT = 300 * 1024 * 1024;
const ZEROS = 400 * 1024 * 1024;

let ws: Workspace;
let dir: string;
let dbBytes: Buffer;

before(async () => {
  ws = await workspace('coffre-sec-zip-');
  dir = await mkdtemp(path.join(tmpdir(), 'coffre-sec-zip-files-'));
  const src = path.join(dir, 'src.db');
  const db = new DatabaseSync(src);
  db.exec("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('zip-ok')");
  db.close();
  dbBytes = await readFile(src);
});
after(async () => {
  await ws?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

/** A stored one-entry zip, cut in the parts between which a crafted record goes. */
function zipParts(name: string, data: Buffer): { local: Buffer; central: Buffer; end: (centralOffset: number) => Buffer } {
  const n = Buffer.from(name);
  const crc = crc32(data);
  const local = Buffer.concat([u32(0x04034b50), u16(20), u16(0), u16(0), u16(0), u16(0x21), u32(crc), u32(data.length), u32(data.length), u16(n.length), u16(0), n, data]);
  const central = Buffer.concat([
    u32(0x02014b50),
    u16((3 << 8) | 20),
    u16(20),
    u16(0),
    u16(0),
    u16(0),
    u16(0x21),
    u32(crc),
    u32(data.length),
    u32(data.length),
    u16(n.length),
    u16(0),
    u16(0),
    u16(0),
    u16(0),
    u32((0o100644 << 16) >>> 0),
    u32(0),
    n,
  ]);
  const end = (centralOffset: number) => Buffer.concat([u32(0x06054b50), u16(0), u16(0), u16(1), u16(1), u32(central.length), u32(centralOffset), u16(0)]);
  return { local, central, end };
}

/** Writes head, `zeros` zero bytes, then tail, all through gzip, to file; returns its size. */
async function gzipFile(file: string, head: Buffer, zeros: number, tail: Buffer): Promise<number> {
  const block = Buffer.alloc(1 << 20);
  async function* parts() {
    yield head;
    for (let left = zeros; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left);
    yield tail;
  }
  await pipeline(Readable.from(parts()), createGzip({ level: 6 }), createWriteStream(file));
  return (await stat(file)).size;
}

/** Runs `coffre ARGS` in a child that prints its own peak RSS (getrusage) on exit. */
function runMeasured(args: string[]): Promise<{ code: number; stderr: string; maxRss: number }> {
  // A preload that prints the process's peak RSS as it exits, whatever the command does.
  const preload = `data:text/javascript,${encodeURIComponent("process.on('exit', () => process.stderr.write('\\nMAXRSS ' + process.resourceUsage().maxRSS * 1024 + '\\n'));")}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', preload, mainScript, ...args], { cwd: ws.dir, env: ws.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /MAXRSS (\d+)/.exec(stderr);
      if (!m) return reject(new Error(`no peak RSS printed (exit ${code}): ${stderr}`));
      resolve({ code: code ?? -1, stderr, maxRss: Number(m[1]) });
    });
  });
}

test('finding 8: a gzip-wrapped zip whose ZIP64 end record claims gigabytes is refused with bounded memory', async () => {
  const { local, central, end } = zipParts('app.db', dbBytes);
  const head = Buffer.concat([local, central, u32(0x06064b50), u64(BigInt(ZEROS))]);
  const tail = Buffer.concat([u32(0x07064b50), u32(0), u64(0n), u32(1), end(local.length)]);
  const file = path.join(dir, 'zip64-claim.zip.gz');
  const size = await gzipFile(file, head, ZEROS, tail);
  assert.ok(size < 1024 * 1024, `the crafted file is small (${size} bytes)`);
  expectCode(await ws.run(['target', 'add', 'z1', '--url', `sqlite:${path.join(dir, 'z1.db')}`]), 0, 'target add');
  const r = await runMeasured(['restore', '--file', file, '--to', 'z1']);
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, /ZIP64 end record claims/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.ok(r.maxRss < PEAK_LIMIT, `peak RSS ${(r.maxRss / 1048576).toFixed(0)} MB is under 300 MB`);
  console.log(`zip64 end record claim: input ${size} B, peak RSS ${(r.maxRss / 1048576).toFixed(0)} MB`);
});

test('finding 8: a gzip-wrapped zip with a 400 MB archive extra data record restores with bounded memory', async () => {
  const { local, central, end } = zipParts('app.db', dbBytes);
  const head = Buffer.concat([local, u32(0x08064b50), u32(ZEROS)]);
  const centralOffset = local.length + 8 + ZEROS;
  const tail = Buffer.concat([central, end(centralOffset)]);
  const file = path.join(dir, 'extra-data.zip.gz');
  const size = await gzipFile(file, head, ZEROS, tail);
  assert.ok(size < 1024 * 1024, `the crafted file is small (${size} bytes)`);
  const target = path.join(dir, 'z2.db');
  expectCode(await ws.run(['target', 'add', 'z2', '--url', `sqlite:${target}`]), 0, 'target add');
  const r = await runMeasured(['restore', '--file', file, '--to', 'z2']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.maxRss < PEAK_LIMIT, `peak RSS ${(r.maxRss / 1048576).toFixed(0)} MB is under 300 MB`);
  const db = new DatabaseSync(target, { readOnly: true });
  assert.deepEqual(
    db
      .prepare('SELECT v FROM t')
      .all()
      .map((x: any) => x.v),
    ['zip-ok'],
  );
  db.close();
  console.log(`archive extra data record: input ${size} B, peak RSS ${(r.maxRss / 1048576).toFixed(0)} MB`);
});
