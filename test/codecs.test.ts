// The compression codecs: round trips of random bytes at the edges (empty, one byte, 1 MiB, more than one
// tar chunk) fed in awkward chunk sizes, interoperability with other writers and readers (GNU tar, Info-ZIP,
// Python's zipfile), damaged input that must error with a coded message naming the layer, archive entries
// that would escape, and a ~200 MB stream through each codec with bounded memory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync, gunzipSync } from 'node:zlib';
import yazl from 'yazl';
import tarStream from 'tar-stream';
import type { Codec, CompressionName } from '../src/core/types.ts';
import { compressionNames } from '../src/core/types.ts';
import { codecs } from '../src/codecs/index.ts';
import { targzCodec } from '../src/codecs/targz.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { collect } from './support/streams.ts';

const CHUNK = 64 * 1024;
/** Every codec under test; tar.gz with a small chunk so "more than one part" needs little data. */
const codecFor = (name: CompressionName): Codec => (name === 'targz' ? targzCodec({ chunkSize: CHUNK }) : codecs.get(name));

/** A small deterministic PRNG (mulberry32), so a failing split can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stream of buf cut into pieces: all of one size, or random sizes up to `max`. */
function pieces(buf: Buffer, split: number | { seed: number; max: number }): Readable {
  const out: Buffer[] = [];
  const next =
    typeof split === 'number'
      ? () => split
      : (
          (r) => () =>
            1 + Math.floor(r() * split.max)
        )(prng(split.seed));
  for (let at = 0; at < buf.length; ) {
    const n = next();
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  return Readable.from(out, { objectMode: false });
}

async function run(input: Readable, transform: Duplex): Promise<Buffer> {
  const [, out] = await Promise.all([pipeline(input, transform), collect(transform)]);
  return out;
}

const compress = (codec: Codec, data: Buffer, entryName = 'dump.sql') => run(Readable.from([data]), codec.compress({ entryName }));

function expectCorrupt(layer: string) {
  return (err: unknown) => {
    assert.ok(isCoffreError(err), `a CoffreError, got ${String(err)}`);
    assert.equal(err.code, 'COFFRE_E_CORRUPT_ARTIFACT', err.message);
    assert.equal(err.kind, 'failed');
    assert.equal(err.details?.layer, layer);
    assert.match(err.message, new RegExp(layer.replace('.', '\\.')));
    return true;
  };
}

function expectRefused(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isCoffreError(err), `a CoffreError, got ${String(err)}`);
    assert.equal(err.code, 'COFFRE_E_UNSUPPORTED_ARCHIVE', err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

const sizes = [0, 1, 10_000, 1024 * 1024, 3 * CHUNK + 17];

for (const name of compressionNames) {
  test(`${name}: round trip of random bytes (0 B, 1 B, 10 kB, 1 MiB, > one tar chunk), fed in odd pieces`, async () => {
    const codec = codecFor(name);
    for (const size of sizes) {
      const data = randomBytes(size);
      const stored = await run(pieces(data, { seed: size + 1, max: 5000 }), codec.compress({ entryName: 'dump.sql' }));
      // Decompress from pieces of every awkward size: the readers must not depend on chunk boundaries.
      for (const split of [1, 7, 511, { seed: 42, max: 70000 }]) {
        if (typeof split === 'number' && split < 100 && stored.length > 20_000) continue; // slow, and covered by the small sizes
        const back = await run(pieces(stored, split), codec.decompress());
        assert.ok(back.equals(data), `${name}: ${size} bytes survive, input split ${JSON.stringify(split)}`);
      }
    }
  });
}

test("an unknown compression has one code, from the registry as from a plan's check", async () => {
  const { checkCompression } = await import('../src/services/plans.ts');
  for (const attempt of [() => codecs.get('lz4'), () => checkCompression('lz4')]) {
    assert.throws(attempt, (err: unknown) => isCoffreError(err) && err.code === 'COFFRE_E_BAD_COMPRESSION' && err.kind === 'usage');
  }
});

test('none: the artifact is the raw dump', async () => {
  const data = randomBytes(1000);
  assert.ok((await compress(codecs.get('none'), data)).equals(data));
});

test('gzip and zstd: standard streams that the command-line tools read', async () => {
  const data = Buffer.from('SELECT 1;\n'.repeat(1000));
  assert.ok(gunzipSync(await compress(codecs.get('gzip'), data)).equals(data));
  const zst = spawnSync('zstd', ['-d', '-c'], { input: await compress(codecs.get('zstd'), data) });
  if (zst.error) return; // zstd CLI absent: the round trip above still covers the codec
  assert.equal(zst.status, 0, zst.stderr?.toString());
  assert.ok(zst.stdout.equals(data));
});

// ---- tar.gz layout -------------------------------------------------------------------------------------

async function tarEntries(tgz: Buffer): Promise<{ name: string; size: number; type: string }[]> {
  const extract = tarStream.extract();
  const entries: { name: string; size: number; type: string }[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      entries.push({ name: entry.header.name, size: entry.header.size, type: String(entry.header.type) });
      for await (const _ of entry);
    }
  })();
  extract.end(gunzipSync(tgz));
  await done;
  return entries;
}

test('targz: a dump that fits in one chunk is one entry; a longer one is parts that GNU tar + cat rebuild', async () => {
  const codec = targzCodec({ chunkSize: CHUNK });
  const exact = randomBytes(CHUNK);
  assert.deepEqual(await tarEntries(await compress(codec, exact, 'db.sql')), [{ name: 'db.sql', size: CHUNK, type: 'file' }]);

  const data = randomBytes(3 * CHUNK + 17);
  const tgz = await compress(codec, data, 'db.sql');
  assert.deepEqual(await tarEntries(tgz), [
    { name: 'db.sql.part000000', size: CHUNK, type: 'file' },
    { name: 'db.sql.part000001', size: CHUNK, type: 'file' },
    { name: 'db.sql.part000002', size: CHUNK, type: 'file' },
    { name: 'db.sql.part000003', size: 17, type: 'file' },
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'coffre-targz-'));
  try {
    writeFileSync(join(dir, 'x.tar.gz'), tgz);
    execFileSync('tar', ['xzf', 'x.tar.gz'], { cwd: dir });
    const parts = readdirSync(dir)
      .filter((f) => f.startsWith('db.sql.part'))
      .sort();
    assert.equal(parts.length, 4);
    assert.ok(Buffer.concat(parts.map((p) => readFileSync(join(dir, p)))).equals(data), 'cat of the parts is the dump');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('targz: a long entry name is kept through a PAX record', async () => {
  const codec = targzCodec({ chunkSize: CHUNK });
  const name = `${'très-long-nom-'.repeat(10)}.sql`;
  const data = randomBytes(1000);
  const tgz = await compress(codec, data, name);
  assert.deepEqual(
    (await tarEntries(tgz)).map((e) => e.name),
    [name],
  );
  const dir = mkdtempSync(join(tmpdir(), 'coffre-targz-'));
  try {
    writeFileSync(join(dir, 'x.tar.gz'), tgz);
    execFileSync('tar', ['xzf', 'x.tar.gz'], { cwd: dir });
    assert.ok(readFileSync(join(dir, name)).equals(data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok((await run(Readable.from([tgz]), codec.decompress())).equals(data));
});

test('targz: reads a tar.gz made by GNU tar holding one file, with a directory entry before it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffre-gnutar-'));
  try {
    const data = randomBytes(200_000);
    const longDir = 'a'.repeat(60);
    mkdirSync(join(dir, 'backup', longDir), { recursive: true });
    writeFileSync(join(dir, 'backup', longDir, `${'b'.repeat(60)}.sql`), data);
    execFileSync('tar', ['czf', 'gnu.tar.gz', 'backup'], { cwd: dir });
    const back = await run(Readable.from([readFileSync(join(dir, 'gnu.tar.gz'))]), codecs.get('targz').decompress());
    assert.ok(back.equals(data));
    writeFileSync(join(dir, 'dump.sql'), data);
    execFileSync('tar', ['--format=posix', '-czf', 'posix.tar.gz', 'dump.sql'], { cwd: dir });
    assert.ok((await run(Readable.from([readFileSync(join(dir, 'posix.tar.gz'))]), codecs.get('targz').decompress())).equals(data));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- zip interoperability ------------------------------------------------------------------------------

test('zip: what coffre writes, unzip and Python read', async () => {
  const data = randomBytes(300_000);
  const zipped = await compress(codecs.get('zip'), data, 'mydb.sql');
  const dir = mkdtempSync(join(tmpdir(), 'coffre-zip-'));
  try {
    writeFileSync(join(dir, 'x.zip'), zipped);
    const py = spawnSync('python3', [
      '-c',
      'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print(z.namelist()); z.testzip() is None or sys.exit(3); sys.stdout.flush(); sys.stdout.buffer.write(z.read("mydb.sql"))',
      join(dir, 'x.zip'),
    ]);
    assert.equal(py.status, 0, py.stderr.toString());
    const nl = py.stdout.indexOf(10);
    assert.equal(py.stdout.subarray(0, nl).toString(), "['mydb.sql']");
    assert.ok(py.stdout.subarray(nl + 1).equals(data));
    const unzip = spawnSync('unzip', ['-p', join(dir, 'x.zip'), 'mydb.sql'], { maxBuffer: 10 * 1024 * 1024 });
    if (!unzip.error) assert.ok(unzip.stdout.equals(data), 'unzip -p gives the dump');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('zip: reads archives from other writers (python -m zipfile, Python deflate, Info-ZIP from a pipe, yazl ZIP64)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffre-zip-'));
  try {
    const data = Buffer.concat([randomBytes(150_000), Buffer.from('INSERT INTO t VALUES (1);\n'.repeat(5000))]);
    writeFileSync(join(dir, 'dump.sql'), data);
    const made: string[] = [];
    // Stored entry with sizes in the local header.
    execFileSync('python3', ['-m', 'zipfile', '-c', 'stored.zip', 'dump.sql'], { cwd: dir });
    made.push('stored.zip');
    // Deflated entry, sizes known up front.
    execFileSync('python3', ['-c', 'import zipfile; zipfile.ZipFile("deflated.zip","w",zipfile.ZIP_DEFLATED).write("dump.sql")'], { cwd: dir });
    made.push('deflated.zip');
    // Deflated with a data descriptor: Python writing to an unseekable pipe.
    const piped = spawnSync(
      'python3',
      [
        '-c',
        'import sys,zipfile\nclass W:\n  def __init__(s,f): s.f=f\n  def write(s,b): return s.f.write(b)\n  def flush(s): s.f.flush()\nz=zipfile.ZipFile(W(sys.stdout.buffer),"w",zipfile.ZIP_DEFLATED)\nwith z.open("dump.sql","w") as e: e.write(open("dump.sql","rb").read())\nz.close()',
      ],
      { cwd: dir, maxBuffer: 10 * 1024 * 1024 },
    );
    assert.equal(piped.status, 0, piped.stderr.toString());
    writeFileSync(join(dir, 'python-pipe.zip'), piped.stdout);
    made.push('python-pipe.zip');
    // Info-ZIP reading stdin writes a data descriptor too.
    const infozip = spawnSync('zip', ['-q', '-', '-'], { cwd: dir, input: data, maxBuffer: 10 * 1024 * 1024 });
    if (!infozip.error) {
      assert.equal(infozip.status, 0, infozip.stderr.toString());
      writeFileSync(join(dir, 'infozip.zip'), infozip.stdout);
      made.push('infozip.zip');
    }
    for (const file of made) {
      const bytes = readFileSync(join(dir, file));
      for (const split of [bytes.length, 1000, { seed: 7, max: 3000 }]) {
        const back = await run(pieces(bytes, split), codecs.get('zip').decompress());
        assert.ok(back.equals(data), `${file} decodes (split ${JSON.stringify(split)})`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // ZIP64 data descriptors (24 bytes) without a ZIP64 extra in the local header, as yazl writes past 4 GB.
  for (const size of [0, 1, 100_000]) {
    const data = randomBytes(size);
    const z = new yazl.ZipFile();
    z.addReadStream(Readable.from([data]), 'big.sql', { forceZip64Format: true });
    z.end();
    const bytes = await collect(z.outputStream as Readable);
    const back = await run(pieces(bytes, { seed: size, max: 200 }), codecs.get('zip').decompress());
    assert.ok(back.equals(data), `ZIP64 entry of ${size} bytes`);
  }
});

// ---- damaged input -------------------------------------------------------------------------------------

const layerOf: Record<string, string> = { gzip: 'gzip', zstd: 'zstd', zip: 'zip', targz: 'tar.gz' };

for (const name of ['gzip', 'zstd', 'zip', 'targz'] as const) {
  test(`${name}: truncated or corrupt input errors (never ends cleanly), naming the layer`, async () => {
    const codec = codecFor(name);
    const data = Buffer.concat([randomBytes(100_000), Buffer.alloc(100_000, 'x'), randomBytes(100_000)]);
    const stored = await compress(codec, data);
    for (const cut of [1, 10, Math.floor(stored.length / 2), stored.length - 30, stored.length - 1]) {
      await assert.rejects(run(pieces(stored.subarray(0, cut), 4096), codec.decompress()), expectCorrupt(layerOf[name]), `cut at ${cut} of ${stored.length}`);
    }
    // Flip bytes in the middle of the compressed data (inside the random part, well away from headers).
    for (const at of [Math.floor(stored.length / 3), Math.floor(stored.length * 0.8)]) {
      const bad = Buffer.from(stored);
      bad[at] ^= 0x55;
      bad[at + 1] ^= 0xaa;
      await assert.rejects(run(pieces(bad, 4096), codec.decompress()), expectCorrupt(layerOf[name]), `byte ${at} flipped`);
    }
    await assert.rejects(run(Readable.from([randomBytes(5000)]), codec.decompress()), expectCorrupt(layerOf[name]), 'garbage');
  });
}

test('zip: a stored entry whose bytes changed fails its CRC-32 check', async () => {
  const data = randomBytes(10_000);
  const z = new yazl.ZipFile();
  z.addBuffer(data, 'dump.sql', { compress: false });
  z.end();
  const bytes = await collect(z.outputStream as Readable);
  const at = bytes.indexOf(data.subarray(0, 32)) + 5000;
  bytes[at] ^= 1;
  await assert.rejects(run(Readable.from([bytes]), codecs.get('zip').decompress()), (err) => expectCorrupt('zip')(err) && /CRC-32/.test((err as Error).message));
});

// ---- archive entries that would escape -----------------------------------------------------------------

/** A yazl zip, then the given renames applied to its raw bytes (yazl itself refuses unsafe names). */
async function craftZip(entries: { name: string; data?: Buffer; mode?: number; dir?: boolean }[], renames: [string, string][] = []): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) {
    if (e.dir) z.addEmptyDirectory(e.name);
    else z.addBuffer(e.data ?? Buffer.from('SELECT 1;\n'), e.name, e.mode ? { mode: e.mode } : {});
  }
  z.end();
  const bytes = await collect(z.outputStream as Readable);
  for (const [from, to] of renames) {
    assert.equal(from.length, to.length);
    let at = bytes.indexOf(from);
    assert.ok(at >= 0);
    while (at >= 0) {
      bytes.write(to, at, 'latin1');
      at = bytes.indexOf(from, at + 1);
    }
  }
  return bytes;
}

test('zip: refuses entries that escape, links, and more than one file', async () => {
  const unzip = (bytes: Buffer) => run(Readable.from([bytes]), codecs.get('zip').decompress());
  await assert.rejects(unzip(await craftZip([{ name: 'xx/evil.sql' }], [['xx/evil', '../evil']])), expectRefused(/"\.\.\/evil\.sql".*escape/));
  await assert.rejects(unzip(await craftZip([{ name: 'a/b/xx/evil.sql' }], [['a/b/xx/evil', 'a/b/../evil']])), expectRefused(/escape/));
  await assert.rejects(unzip(await craftZip([{ name: 'xetc/evil.sql' }], [['xetc/evil', '/etc/evil']])), expectRefused(/absolute/));
  await assert.rejects(unzip(await craftZip([{ name: 'xx/evil.sql' }], [['xx/evil', '..\\evil']])), expectRefused(/escape/));
  await assert.rejects(unzip(await craftZip([{ name: 'link.sql', data: Buffer.from('/etc/passwd'), mode: 0o120777 }])), expectRefused(/"link\.sql" is a symbolic link/));
  await assert.rejects(unzip(await craftZip([{ name: 'one.sql' }, { name: 'two.sql' }])), expectRefused(/more than one file \("one\.sql", "two\.sql"\)/));
  // A directory entry before the one file is fine.
  const data = randomBytes(5000);
  assert.ok(
    (
      await unzip(
        await craftZip([
          { name: 'backups', dir: true },
          { name: 'backups/db.sql', data },
        ]),
      )
    ).equals(data),
  );
});

async function craftTar(entries: { name: string; type?: string; data?: Buffer; linkname?: string }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const out = collect(pack as unknown as Readable);
  for (const e of entries) {
    const type = (e.type ?? 'file') as 'file';
    pack.entry({ name: e.name, type, linkname: e.linkname, size: e.data?.length ?? 0 }, e.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  return gzipSync(await out);
}

test('targz: refuses entries that escape, links, devices and unexpected extra files', async () => {
  const untgz = (bytes: Buffer) => run(Readable.from([bytes]), codecs.get('targz').decompress());
  const sql = Buffer.from('SELECT 1;\n');
  await assert.rejects(untgz(await craftTar([{ name: '../evil.sql', data: sql }])), expectRefused(/escape/));
  await assert.rejects(untgz(await craftTar([{ name: 'ok/../../evil.sql', data: sql }])), expectRefused(/escape/));
  await assert.rejects(untgz(await craftTar([{ name: '/etc/evil.sql', data: sql }])), expectRefused(/absolute/));
  await assert.rejects(untgz(await craftTar([{ name: 'dump.sql', type: 'symlink', linkname: '/etc/passwd' }])), expectRefused(/symbolic link/));
  await assert.rejects(untgz(await craftTar([{ name: 'dump.sql', type: 'link', linkname: 'other' }])), expectRefused(/hard link/));
  await assert.rejects(untgz(await craftTar([{ name: 'dump.sql', type: 'character-device' }])), expectRefused(/character device/));
  await assert.rejects(
    untgz(
      await craftTar([
        { name: 'dump.sql', data: sql },
        { name: 'extra.sql', data: sql },
      ]),
    ),
    expectRefused(/more than one file \("dump\.sql", "extra\.sql"\)/),
  );
  await assert.rejects(
    untgz(
      await craftTar([
        { name: 'd.sql.part000000', data: sql },
        { name: 'd.sql.part000002', data: sql },
      ]),
    ),
    expectRefused(/"d\.sql\.part000002" comes where part "d\.sql\.part000001" was expected/),
  );
  await assert.rejects(untgz(await craftTar([{ name: 'only-a-dir', type: 'directory' }])), expectRefused(/holds no file/));
  const back = await untgz(
    await craftTar([
      { name: 'dir', type: 'directory' },
      { name: 'dir/d.sql.part000000', data: sql },
      { name: 'dir/d.sql.part000001', data: sql },
    ]),
  );
  assert.equal(back.toString(), 'SELECT 1;\nSELECT 1;\n');
});

// ---- bounded memory ------------------------------------------------------------------------------------

const BIG = 200 * 1024 * 1024;

/** ~BIG bytes of varied, partly compressible data made on the fly, hashed as it goes. */
function generated(total: number, hash: ReturnType<typeof createHash>): Readable {
  const random = prng(1);
  const text = Buffer.from("INSERT INTO accounts (id, name, balance) VALUES (12345, 'un nom assez long', 9876.54);\n".repeat(600));
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, total - sent));
      text.copy(chunk, 0, 0, chunk.length);
      for (let i = 0; i < chunk.length; i += 16) chunk.writeUInt32LE((random() * 0x100000000) >>> 0, i);
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
}

for (const name of compressionNames) {
  test(`${name}: a ~200 MB stream goes through compress and decompress with bounded memory`, { timeout: 300_000 }, async (t) => {
    const codec = codecs.get(name); // the real default chunk size for tar.gz (16 MiB)
    const inHash = createHash('sha256');
    const outHash = createHash('sha256');
    let outBytes = 0;
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      await pipeline(
        generated(BIG, inHash),
        codec.compress({ entryName: 'big.sql' }),
        // The artifact passes through a plain stream, as it would from a storage.
        new PassThrough(),
        codec.decompress(),
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            outHash.update(chunk);
            outBytes += chunk.length;
            peak = Math.max(peak, process.memoryUsage().rss);
            cb();
          },
        }),
      );
    } finally {
      clearInterval(sampler);
    }
    assert.equal(outBytes, BIG);
    assert.equal(outHash.digest('hex'), inHash.digest('hex'));
    const growth = peak - baseline;
    t.diagnostic(`rss growth ${Math.round(growth / 1048576)} MiB`);
    assert.ok(growth < 100 * 1024 * 1024, `${name}: rss grew by ${Math.round(growth / 1048576)} MiB for ${BIG / 1048576} MiB of data`);
  });
}
