// The format sniffer: every layer and raw format told from its bytes (never a file name), peeked bytes
// given back whole, real pg_dump -Fc / -Ft files (also gzip-wrapped), and clear refusals of empty input,
// binary junk, and damaged layers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DatabaseSync } from 'node:sqlite';
import { gzipSync } from 'node:zlib';
import type { Codec, CompressionName, RawFormat } from '../src/core/types.ts';
import { codecs } from '../src/codecs/index.ts';
import { openDump } from '../src/codecs/sniff.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { collect } from './support/streams.ts';

async function compress(codec: Codec, data: Buffer, entryName = 'dump.sql'): Promise<Buffer> {
  const transform = codec.compress({ entryName });
  const [, out] = await Promise.all([pipeline(Readable.from([data]), transform), collect(transform)]);
  return out;
}

/** A stream of buf in pieces of `size` bytes (1 makes every peek cross many chunks). */
function pieces(buf: Buffer, size = 1000): Readable {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; at += size) out.push(buf.subarray(at, at + size));
  return Readable.from(out, { objectMode: false });
}

async function expectOpened(input: Buffer, format: RawFormat, layers: CompressionName[], raw: Buffer, piece = 1000): Promise<void> {
  const opened = await openDump(pieces(input, piece));
  assert.equal(opened.format, format);
  assert.deepEqual(opened.layers, layers);
  assert.ok((await collect(opened.stream)).equals(raw), `the ${format} bytes come back whole`);
}

const sql = Buffer.from(`-- PostgreSQL database dump\nSET client_encoding = 'UTF8';\nCREATE TABLE t (v text);\n${"INSERT INTO t VALUES ('héllo 🌍');\n".repeat(2000)}`);

test('plain SQL, and SQL inside each compression (also nested), byte for byte', async () => {
  await expectOpened(sql, 'sql', [], sql);
  await expectOpened(sql, 'sql', [], sql, 1);
  await expectOpened(Buffer.from('SELECT 1;'), 'sql', [], Buffer.from('SELECT 1;'));
  for (const name of ['gzip', 'zstd', 'zip', 'targz'] as const) {
    await expectOpened(await compress(codecs.get(name), sql), 'sql', [name], sql);
  }
  await expectOpened(await compress(codecs.get('gzip'), sql), 'sql', ['gzip'], sql, 1);
  const nested = await compress(codecs.get('zstd'), await compress(codecs.get('gzip'), sql));
  await expectOpened(nested, 'sql', ['zstd', 'gzip'], sql);
  const zipInTargz = await compress(codecs.get('targz'), await compress(codecs.get('zip'), sql), 'dump.sql.zip');
  await expectOpened(zipInTargz, 'sql', ['targz', 'zip'], sql);
});

test('a plain tar holding one dump is unpacked (no layer: it compresses nothing)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffre-sniff-'));
  try {
    writeFileSync(join(dir, 'dump.sql'), sql);
    execFileSync('tar', ['cf', 'dump.tar', 'dump.sql'], { cwd: dir });
    await expectOpened(readFileSync(join(dir, 'dump.tar')), 'sql', [], sql);
    execFileSync('tar', ['cf', 'dump.tar.zst', '--zstd', 'dump.sql'], { cwd: dir });
    await expectOpened(readFileSync(join(dir, 'dump.tar.zst')), 'sql', ['zstd'], sql);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SQLite files and mongodump archives, raw and compressed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffre-sniff-'));
  try {
    const db = new DatabaseSync(join(dir, 'x.db'));
    db.exec("CREATE TABLE t (v); INSERT INTO t VALUES ('x');");
    db.close();
    const sqlite = readFileSync(join(dir, 'x.db'));
    await expectOpened(sqlite, 'sqlite', [], sqlite);
    await expectOpened(await compress(codecs.get('zip'), sqlite, 'x.db'), 'sqlite', ['zip'], sqlite);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The mongodump archive magic (0x8199e26d little-endian) followed by BSON, which holds NUL bytes.
  const mongo = Buffer.concat([Buffer.from([0x6d, 0xe2, 0x99, 0x81]), Buffer.from([0x05, 0, 0, 0, 0]), randomBytes(2000)]);
  await expectOpened(mongo, 'mongo-archive', [], mongo);
  await expectOpened(await compress(codecs.get('gzip'), mongo), 'mongo-archive', ['gzip'], mongo);
});

// ---- real pg_dump files ------------------------------------------------------------------------------

const pg = { host: '127.0.0.1', port: '5432', user: 'postgres' };
const database = `coffre_sniff_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const work = mkdtempSync(join(tmpdir(), 'coffre-pgdump-'));
const psql = (command: string, db = 'postgres') => execFileSync('psql', ['-h', pg.host, '-p', pg.port, '-U', pg.user, '-d', db, '-v', 'ON_ERROR_STOP=1', '-qAtc', command]);

before(() => {
  psql(`CREATE DATABASE ${database}`);
  psql("CREATE TABLE t (id int PRIMARY KEY, v text, b bytea); INSERT INTO t SELECT g, 'row ' || g, '\\x00ff'::bytea FROM generate_series(1, 500) g;", database);
  for (const format of ['c', 't']) {
    execFileSync('pg_dump', ['-h', pg.host, '-p', pg.port, '-U', pg.user, `-F${format}`, '-f', join(work, `dump.${format}`), database]);
  }
});

after(() => {
  psql(`DROP DATABASE IF EXISTS ${database}`);
  rmSync(work, { recursive: true, force: true });
});

test('a real pg_dump -Fc file is pg-custom, raw or compressed', async () => {
  const custom = readFileSync(join(work, 'dump.c'));
  await expectOpened(custom, 'pg-custom', [], custom);
  await expectOpened(await compress(codecs.get('zstd'), custom), 'pg-custom', ['zstd'], custom);
  await expectOpened(await compress(codecs.get('targz'), custom, 'db.dump'), 'pg-custom', ['targz'], custom);
});

test('a real pg_dump -Ft file is pg-tar and passes through whole, also inside gzip (layer gzip, not targz)', async () => {
  const tar = readFileSync(join(work, 'dump.t'));
  assert.equal(tar.toString('latin1', 0, 7), 'toc.dat');
  await expectOpened(tar, 'pg-tar', [], tar);
  await expectOpened(tar, 'pg-tar', [], tar, 1);
  await expectOpened(gzipSync(tar), 'pg-tar', ['gzip'], tar);
  await expectOpened(await compress(codecs.get('gzip'), tar), 'pg-tar', ['gzip'], tar);
  await expectOpened(await compress(codecs.get('zstd'), tar), 'pg-tar', ['zstd'], tar);
  // pg_restore accepts what comes out: the archive was not unpacked or altered.
  const opened = await openDump(pieces(gzipSync(tar)));
  const listed = execFileSync('pg_restore', ['-l'], { input: await collect(opened.stream) }).toString();
  assert.match(listed, /TABLE DATA public t /);
});

// ---- refusals ------------------------------------------------------------------------------------------

function coded(code: string, kind: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(isCoffreError(err), `a CoffreError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.kind, kind);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

test('empty input, and a layer that holds nothing, are refused', async () => {
  await assert.rejects(openDump(Readable.from([], { objectMode: false })), coded('COFFRE_E_EMPTY_ARTIFACT', 'usage', /empty/));
  await assert.rejects(openDump(pieces(gzipSync(Buffer.alloc(0)))), coded('COFFRE_E_EMPTY_ARTIFACT', 'usage', /gzip/));
});

test('binary data that is not SQL text is refused, listing the recognised formats', async () => {
  const junk = Buffer.concat([Buffer.from('looks like text at first'), Buffer.from([0, 1, 2, 3]), randomBytes(100)]);
  await assert.rejects(openDump(pieces(junk)), coded('COFFRE_E_UNKNOWN_FORMAT', 'usage', /not SQL text.*gzip, zstd, zip, tar.*SQLite.*mongodump/));
  await assert.rejects(openDump(pieces(gzipSync(junk))), coded('COFFRE_E_UNKNOWN_FORMAT', 'usage', /inside gzip/));
  const xz = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6]);
  await assert.rejects(openDump(pieces(xz)), coded('COFFRE_E_UNKNOWN_FORMAT', 'usage', /xz-compressed/));
  // A NUL byte past the first 4 KiB is the restore tool's business, not the sniffer's.
  const lateNul = Buffer.concat([Buffer.alloc(5000, 'a'), Buffer.from([0])]);
  assert.equal((await openDump(pieces(lateNul))).format, 'sql');
});

test('damage within the first bytes rejects; damage later makes the returned stream error', async () => {
  const gz = await compress(codecs.get('gzip'), sql);
  await assert.rejects(openDump(pieces(gz.subarray(0, 20))), coded('COFFRE_E_CORRUPT_ARTIFACT', 'failed', /gzip layer/));
  const big = Buffer.concat([sql, Buffer.from(randomBytes(500_000).toString('base64'))]);
  for (const name of ['gzip', 'zstd', 'zip', 'targz'] as const) {
    const stored = await compress(codecs.get(name), big);
    const opened = await openDump(pieces(stored.subarray(0, Math.floor(stored.length * 0.7)), 4096));
    assert.deepEqual(opened.layers, [name]);
    await assert.rejects(collect(opened.stream), coded('COFFRE_E_CORRUPT_ARTIFACT', 'failed', new RegExp(`${name === 'targz' ? 'tar\\.gz' : name} layer`)));
  }
});

test('too many nested layers are refused', async () => {
  let bytes = Buffer.from(sql);
  for (let i = 0; i < 6; i++) bytes = gzipSync(bytes);
  await assert.rejects(openDump(pieces(bytes)), coded('COFFRE_E_UNKNOWN_FORMAT', 'usage', /more than 4 compression layers/));
});

test('destroying the opened stream, even unread, releases the input', async () => {
  for (const bytes of [sql, await compress(codecs.get('gzip'), sql)]) {
    const input = pieces(Buffer.concat([bytes, bytes.subarray(0, 0)]), 100);
    const opened = await openDump(input);
    opened.stream.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(input.destroyed, 'the input is closed');
  }
});
