// An encoder that finished must not keep its parent index (up to 151 MiB) alive, even while the caller
// still holds the encoder (to read its stats): several encoders in one process must not add up.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createDeltaEncoder, type DeltaEncoder } from '../src/delta/index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('finished encoders release their parent index while the caller still holds them', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coffre-enc-mem-'));
  try {
    const parent = path.join(dir, 'parent');
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) lines.push(`${i}\tcustomer ${i}\t${(i * 2654435761) >>> 0}\n`);
    const body = Buffer.from(lines.join(''));
    writeFileSync(parent, body);
    const held: DeltaEncoder[] = [];
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let k = 0; k < 6; k++) {
      const encoder = createDeltaEncoder({ parentPath: parent });
      await pipeline(Readable.from([body]), encoder, new Writable({ write: (_c, _e, cb) => cb() }));
      held.push(encoder);
    }
    // External memory is released by finalizers that may need more than one collection and a turn of the
    // event loop: settle a few times and take the lowest reading, so that a slow collector is not a failure.
    // (Kept as short sleeps: they are the turns of the event loop the finalizers need, not a wait for an event.)
    let after = Infinity;
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 20));
      gc();
      after = Math.min(after, process.memoryUsage().arrayBuffers);
    }
    const grown = after - before;
    // One index for this parent is about 4.5 MiB of typed arrays; six kept alive would be ~27 MiB.
    assert.ok(grown < 8 * 1024 * 1024, `array buffers grew by ${(grown / 1048576).toFixed(1)} MiB after six finished encoders`);
    assert.equal(
      held.every((e) => e.stats?.newSize === body.length),
      true,
      'stats stay readable',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
