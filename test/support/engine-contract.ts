// The shared contract every engine passes: a restore round trip in every compression, refusal of a
// non-empty target without replace, replace when asked, and a failing dump that never ends cleanly.
// Each engine's test file supplies a fixture for its real server and calls engineContract(fixture).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Connection } from '../../src/core/connection.ts';
import type { Engine, CompressionName } from '../../src/core/types.ts';
import { compressionNames } from '../../src/core/types.ts';
import { codecs } from '../../src/codecs/index.ts';
import { openDump } from '../../src/codecs/sniff.ts';
import { isCoffreError } from '../../src/core/errors.ts';
import { collect } from './streams.ts';

export interface EngineFixture {
  engine: Engine;
  /** A new, empty database with a unique name (not created on the server for engines that create on restore). */
  fresh(): Promise<Connection>;
  /** Fills a database with data that hurts (unicode, NULLs, binary, edge numbers, odd identifiers...). */
  seed(conn: Connection): Promise<void>;
  /** A canonical text of everything a restore must bring back, equal for equal databases. */
  fingerprint(conn: Connection): Promise<string>;
  /** Drops the database; must not fail when it does not exist. */
  drop(conn: Connection): Promise<void>;
  /** A connection that cannot dump (a database that does not exist, or a wrong password). */
  broken?(): Promise<Connection>;
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export function engineContract(fx: EngineFixture, options: { compressions?: readonly CompressionName[] } = {}): void {
  const name = fx.engine.name;
  const made: Connection[] = [];
  const fresh = async () => {
    const c = await fx.fresh();
    made.push(c);
    return c;
  };
  after(async () => {
    for (const c of made) await fx.drop(c).catch(() => {});
  });

  let source: Connection;
  let raw: Buffer;
  let expected: string;

  test(`${name}: dump of seeded data`, async () => {
    source = await fresh();
    await fx.seed(source);
    expected = await fx.fingerprint(source);
    const dump = await fx.engine.dump(source, {});
    assert.ok(dump.serverVersion, 'server version reported');
    assert.ok(dump.clientVersion, 'client version reported');
    raw = await collect(dump.stream);
    assert.ok(raw.length > 0, 'dump is not empty');
  });

  for (const compression of options.compressions ?? compressionNames) {
    test(`${name}: round trip through ${compression}`, async () => {
      const codec = codecs.get(compression);
      const compressed = new PassThrough();
      const feed = new PassThrough();
      feed.end(raw);
      const stored = collect(compressed);
      await pipeline(feed, codec.compress({ entryName: `dump.${fx.engine.extension}` }), compressed);
      const bytes = await stored;
      const input = new PassThrough();
      input.end(bytes);
      const opened = await openDump(input);
      if (compression !== 'none') assert.deepEqual(opened.layers, [compression]);
      const target = await fresh();
      // Re-hash what the sniffer hands over: it must be the raw dump, byte for byte.
      const hash = createHash('sha256');
      const tap = new Transform({
        transform(chunk, _enc, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      await fx.engine.restore(target, opened.stream.pipe(tap), opened.format, { replace: false });
      assert.equal(hash.digest('hex'), sha256(raw), 'decompressed bytes equal the raw dump');
      assert.equal(await fx.fingerprint(target), expected);
    });
  }

  test(`${name}: a non-empty target is refused without replace, and replaced with it`, async () => {
    const target = await fresh();
    await fx.seed(target);
    const before = await fx.fingerprint(target);
    const state = await fx.engine.inspect(target);
    assert.deepEqual(state, { exists: true, empty: false });
    const dump = await fx.engine.dump(source, {});
    const restoreRaw = async (replace: boolean) => {
      const input = new PassThrough();
      input.end(raw);
      const opened = await openDump(input);
      return fx.engine.restore(target, opened.stream, opened.format, { replace });
    };
    dump.stream.destroy();
    await assert.rejects(restoreRaw(false), (err) => isCoffreError(err) && err.code === 'COFFRE_E_TARGET_NOT_EMPTY');
    assert.equal(await fx.fingerprint(target), before, 'refused restore changed nothing');
    await restoreRaw(true);
    assert.equal(await fx.fingerprint(target), expected);
  });

  test(`${name}: inspect of a missing database`, async () => {
    const missing = await fresh();
    assert.deepEqual(await fx.engine.inspect(missing), { exists: false, empty: true });
  });

  if (fx.broken) {
    test(`${name}: a dump that cannot run errors instead of ending`, async () => {
      const conn = await fx.broken!();
      await assert.rejects(
        (async () => {
          const dump = await fx.engine.dump(conn, {});
          await collect(dump.stream);
        })(),
        (err) => isCoffreError(err) && err.kind === 'failed',
      );
    });
  }
}
