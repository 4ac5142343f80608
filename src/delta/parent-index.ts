// The fingerprint index of a parent dump, so the encoder can find where a run of new bytes already
// exists in the parent. Anchors are content-defined: a 32-byte window is an anchor when its gear hash has
// its top `strideBits` bits at zero, which happens about once every 2^strideBits bytes. The encoder applies
// the same test to the new bytes, so it looks up only anchors (not every position) and still finds every
// indexed window. Each anchor's window is fingerprinted with an independent 32-bit hash (the table key)
// and its parent offset is stored in an open-addressing table made of typed arrays.
//
// Memory bound: the stride doubles until the expected anchor count fits MAX_ENTRIES, and the table never
// exceeds MAX_SLOTS slots of 9 bytes (4-byte key, 5-byte offset): 2^24 * 9 B = 151 MiB, whatever the
// parent's size (a 10 GiB parent gets a 1 KiB stride), plus 6 MiB of batch arrays (anchors go into the
// table a batch at a time, bucketed by slot: see ParentIndex.add). Inserts stop when the table is 3/4
// full, so even pathological data cannot grow it. The 5th offset byte is kept only for parents of 4 GiB or more.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { asCoffreError, CoffreError, failure, type ErrorKind } from '../core/errors.ts';
import { deltaWrongParent } from './format.ts';

/** Bytes in a fingerprinted window: the width of the 32-bit gear hash. */
export const WINDOW = 32;
const MAX_SLOTS = 1 << 24;
/** Expected anchors at most this fraction of the table, so probes stay short. */
const TARGET_LOAD = 0.7;
const MIN_STRIDE_BITS = 7;

/** 256 pseudo-random words for the gear rolling hash (fixed seed: results are reproducible). */
export const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    table[i] = z ^ (z >>> 16);
  }
  return table;
})();

/**
 * Fingerprint of the 32-byte window at buf[start]: FNV-1a over its eight little-endian 32-bit words, with a
 * final avalanche; never 0 (0 marks an empty slot). In memory only (never written to a delta), so it may change.
 */
export function windowKey(buf: Buffer, start: number): number {
  let t = 0x811c9dc5;
  for (let k = start; k < start + WINDOW; k += 4) t = Math.imul(t ^ (buf[k] | (buf[k + 1] << 8) | (buf[k + 2] << 16) | (buf[k + 3] << 24)), 0x01000193);
  t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
  t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
  t = (t ^ (t >>> 16)) >>> 0;
  return t === 0 ? 1 : t;
}

/** Mask of the top bits that must be zero in the gear hash for a window to be an anchor. */
export function anchorMask(strideBits: number): number {
  return (~0 << (32 - strideBits)) | 0;
}

export interface IndexOptions {
  /** Largest table, in slots (a power of two); the default gives the 151 MiB bound. Tests lower it. */
  maxSlots?: number;
  /**
   * Smallest anchor stride as a power of two (default 7: one anchor per 128 bytes on average). Denser
   * anchors find a few more short matches (PostgreSQL bench: 1.20 % of a full at 32-64 B, 1.45 % at 128 B,
   * 1.63 % at 256 B) but cost indexing time (1.31x, 1.15x and 1.02x a full's backup time); the encoder's
   * resync already recovers most of what sparse anchors would miss.
   */
  minStrideBits?: number;
  /**
   * Where the index is built: 'worker' (a worker thread, the table in shared memory, so the main thread
   * stays free to read the new dump), 'main' (on the main thread, yielding to the event loop every 512 KiB),
   * or 'auto' (default: a worker for parents of WORKER_MIN_BYTES or more). Both give the same index.
   */
  thread?: 'auto' | 'worker' | 'main';
  /** Tests only: make the worker fail ('throw': an uncaught exception in it; 'exit': it exits without answering). */
  workerFault?: 'throw' | 'exit';
}

/** Parents at least this large are indexed in a worker thread (see IndexOptions.thread). */
export const WORKER_MIN_BYTES = 16 << 20;

/** What a worker hands back: the index's parameters and its table, in shared memory (not copied). */
export interface IndexSnapshot {
  strideBits: number;
  slots: number;
  entries: number;
  dropped: number;
  table: Uint32Array;
  high: Uint8Array | undefined;
}

/** Anchors gathered before they go into the table together (see ParentIndex.add). */
const BATCH = 1 << 18;
/** Buckets of a batch, by the key's top bits: each covers 1/256 of the table. */
const BUCKET_BITS = 8;

export class ParentIndex {
  readonly strideBits: number;
  readonly mask: number;
  readonly slots: number;
  entries = 0;
  /** Anchors dropped because the table was full (only with pathological data). */
  dropped = 0;
  private readonly shift: number;
  private readonly limit: number;
  /** Interleaved [key, offset low 32 bits] per slot. */
  private readonly table: Uint32Array;
  /** Offset bits above 32, per slot; only for a parent of 4 GiB or more. */
  private readonly high: Uint8Array | undefined;
  /** The batch being gathered, and the scratch arrays it is bucketed into (allocated by the first add()). */
  private batch: { keys: Uint32Array; offsets: Float64Array; sortedKeys: Uint32Array; sortedOffsets: Float64Array; starts: Uint32Array } | undefined;
  private pending = 0;

  /**
   * An empty index sized for the parent; with `shared`, its table lives in shared memory (a worker builds
   * it, the main thread adopts it with fromSnapshot()).
   */
  constructor(parentSize: number, options: IndexOptions = {}, shared = false, from?: IndexSnapshot) {
    let bits: number;
    let slots: number;
    if (from) {
      bits = from.strideBits;
      slots = from.slots;
    } else {
      const maxSlots = options.maxSlots ?? MAX_SLOTS;
      bits = options.minStrideBits ?? MIN_STRIDE_BITS;
      while (bits < 30 && parentSize / 2 ** bits > maxSlots * TARGET_LOAD) bits++;
      slots = 1024;
      while (slots < maxSlots && slots * TARGET_LOAD < parentSize / 2 ** bits) slots *= 2;
    }
    this.strideBits = bits;
    this.mask = anchorMask(bits);
    this.slots = slots;
    this.shift = 32 - Math.log2(slots);
    this.limit = Math.floor(slots * 0.75);
    if (from) {
      if (from.table.length !== slots * 2 || (from.high !== undefined && from.high.length !== slots)) throw new RangeError('index snapshot of the wrong size');
      this.table = from.table;
      this.high = from.high;
      this.entries = from.entries;
      this.dropped = from.dropped;
      return;
    }
    const words = (n: number): Uint32Array => (shared ? new Uint32Array(new SharedArrayBuffer(n * 4)) : new Uint32Array(n));
    this.table = words(slots * 2);
    const big = parentSize > 0xffffffff;
    this.high = !big ? undefined : shared ? new Uint8Array(new SharedArrayBuffer(slots)) : new Uint8Array(slots);
  }

  /** The index built elsewhere (a worker thread), its table used in place. */
  static fromSnapshot(snapshot: IndexSnapshot): ParentIndex {
    return new ParentIndex(0, {}, false, snapshot);
  }

  /** The parameters and (shared) table, for posting to another thread. Call after flush(). */
  snapshot(): IndexSnapshot {
    return { strideBits: this.strideBits, slots: this.slots, entries: this.entries, dropped: this.dropped, table: this.table, high: this.high };
  }

  /**
   * Records that the window with this key starts at parent `offset`; the first window with a key wins.
   * Anchors are gathered and go into the table a batch at a time, bucketed by slot so that the table is
   * written one region after another rather than at random (the random writes, each a cache and TLB miss
   * in a table of up to 151 MiB, were most of the indexing time). Call flush() after the last one.
   */
  add(key: number, offset: number): void {
    const batch = (this.batch ??= {
      keys: new Uint32Array(BATCH),
      offsets: new Float64Array(BATCH),
      sortedKeys: new Uint32Array(BATCH),
      sortedOffsets: new Float64Array(BATCH),
      starts: new Uint32Array((1 << BUCKET_BITS) + 1),
    });
    batch.keys[this.pending] = key;
    batch.offsets[this.pending] = offset;
    if (++this.pending === BATCH) this.flush();
  }

  /** Puts the gathered anchors into the table, in their order within each bucket (so the first still wins). */
  flush(): void {
    const n = this.pending;
    const batch = this.batch;
    if (n === 0 || !batch) return;
    const keys = batch.keys;
    const starts = batch.starts.fill(0);
    const top = 32 - BUCKET_BITS;
    for (let i = 0; i < n; i++) starts[(keys[i] >>> top) + 1]++;
    for (let b = 0; b < 1 << BUCKET_BITS; b++) starts[b + 1] += starts[b];
    for (let i = 0; i < n; i++) {
      const at = starts[keys[i] >>> top]++;
      batch.sortedKeys[at] = keys[i];
      batch.sortedOffsets[at] = batch.offsets[i];
    }
    for (let i = 0; i < n; i++) this.insert(batch.sortedKeys[i], batch.sortedOffsets[i]);
    this.pending = 0;
  }

  /** Records one anchor in the table at once (add() and flush() do it in batches). */
  insert(key: number, offset: number): void {
    if (this.entries >= this.limit) {
      this.dropped++;
      return;
    }
    const table = this.table;
    const mask = this.slots - 1;
    let slot = key >>> this.shift;
    for (;;) {
      const k = table[slot * 2];
      if (k === 0) break;
      if (k === key) return;
      slot = (slot + 1) & mask;
    }
    table[slot * 2] = key;
    table[slot * 2 + 1] = offset >>> 0;
    if (this.high) this.high[slot] = Math.floor(offset / 0x100000000);
    this.entries++;
  }

  /** Parent offset of a window with this key, or -1. The caller confirms by comparing bytes. */
  lookup(key: number): number {
    const table = this.table;
    const mask = this.slots - 1;
    let slot = key >>> this.shift;
    for (;;) {
      const k = table[slot * 2];
      if (k === key) return (this.high ? this.high[slot] * 0x100000000 : 0) + table[slot * 2 + 1];
      if (k === 0) return -1;
      slot = (slot + 1) & mask;
    }
  }
}

const READ_SIZE = 1 << 18;

/** Rolls the gear hash over buf[WINDOW, end) (parent offset of buf[i] is position + i - WINDOW), inserting anchors; returns the hash. */
function indexChunk(index: ParentIndex, buf: Buffer, end: number, position: number, hash: number): number {
  const gear = GEAR;
  const mask = index.mask;
  let h = hash;
  // A window ending at i starts at i - WINDOW + 1; the first WINDOW - 1 bytes of the parent end no window.
  const first = position === 0 ? 2 * WINDOW - 1 : WINDOW;
  for (let i = WINDOW; i < end; i++) {
    h = ((h << 1) + gear[buf[i]]) | 0;
    if ((h & mask) !== 0 || i < first) continue;
    index.add(windowKey(buf, i - WINDOW + 1), position + i - 2 * WINDOW + 1);
  }
  return h;
}

/**
 * The indexing loop, one read at a time (the caller decides when to yield): builds the parent's anchor
 * index and its sha256 (so a caller's claimed sha256 can be checked for free).
 */
export function* indexSteps(fd: number, size: number, index: ParentIndex): Generator<void, string> {
  const sha = createHash('sha256');
  // buf[0, WINDOW) holds the WINDOW bytes before buf[WINDOW], so a window can straddle two reads.
  const buf = Buffer.allocUnsafe(WINDOW + READ_SIZE).fill(0, 0, WINDOW);
  let h = 0;
  let position = 0;
  while (position < size) {
    const got = fs.readSync(fd, buf, WINDOW, Math.min(READ_SIZE, size - position), position);
    if (got === 0) break;
    sha.update(buf.subarray(WINDOW, WINDOW + got));
    const end = WINDOW + got;
    h = indexChunk(index, buf, end, position, h);
    buf.copyWithin(0, got, got + WINDOW);
    position += got;
    yield;
  }
  if (position !== size) throw deltaWrongParent(`the parent file shrank while being indexed (read ${position} of ${size} bytes)`);
  index.flush();
  return sha.digest('hex');
}

/**
 * Reads the whole parent once, on this thread: its anchor index and sha256. Yields to the event loop every
 * 512 KiB, so the new dump's pipe keeps draining meanwhile (see the encoder).
 */
export async function indexParent(fd: number, size: number, options: IndexOptions = {}): Promise<{ index: ParentIndex; sha256: string }> {
  const index = new ParentIndex(size, options);
  const steps = indexSteps(fd, size, index);
  let reads = 0;
  for (;;) {
    const r = steps.next();
    if (r.done) return { index, sha256: r.value };
    if (++reads % 2 === 0) await yieldToLoop();
  }
}

/**
 * The same as indexParent(), in a worker thread: the main thread stays free to read the new dump while
 * the parent is indexed on the other core. The table is built in shared memory and adopted as is. A worker
 * that fails is a coded error (its own coded error when it raised one, else COFFRE_E_DELTA_INDEX_FAILED);
 * `cancel()` stops it (its promise then rejects, which callers must have caught).
 */
export function indexParentInWorker(
  path: string,
  stat: { dev: number; ino: number; size: number },
  options: IndexOptions = {},
): { done: Promise<{ index: ParentIndex; sha256: string }>; cancel(): void } {
  const { thread: _thread, ...rest } = options;
  let worker: Worker | undefined;
  const done = new Promise<{ index: ParentIndex; sha256: string }>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    const failed = (why: string, cause?: unknown): CoffreError =>
      failure('DELTA_INDEX_FAILED', `Indexing the delta parent ${path} failed: ${why}. Try the backup again; if it keeps failing, take a full backup.`, { cause });
    try {
      worker = new Worker(new URL('./index-worker.ts', import.meta.url), { workerData: { path, size: stat.size, dev: stat.dev, ino: stat.ino, options: rest } });
    } catch (err) {
      settle(() => reject(failed('the worker thread could not start', err)));
      return;
    }
    worker.once('message', (m: WorkerAnswer) => {
      settle(() => {
        if (m.ok) resolve({ index: ParentIndex.fromSnapshot(m.snapshot), sha256: m.sha256 });
        else if ('code' in m.error) reject(new CoffreError(m.error.code, m.error.message, { kind: m.error.kind, details: m.error.details }));
        else reject(asCoffreError(Object.assign(new Error(m.error.message), { code: m.error.errno, syscall: m.error.syscall, path })));
      });
      void worker?.terminate();
    });
    worker.once('error', (err) => settle(() => reject(failed('the worker thread raised an error', err))));
    worker.once('exit', (code) => settle(() => reject(failed(`the worker thread exited (code ${code}) without an answer`))));
  });
  return {
    done,
    cancel() {
      void worker?.terminate();
    },
  };
}

type WorkerAnswer =
  | { ok: true; snapshot: IndexSnapshot; sha256: string }
  | { ok: false; error: { code: string; kind: ErrorKind; message: string; details?: Record<string, unknown> } | { errno?: string; syscall?: string; message: string } };
