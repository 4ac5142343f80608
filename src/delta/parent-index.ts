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
  /** The batch being gathered, and the scratch arrays it is bucketed into. */
  private readonly batchKeys = new Uint32Array(BATCH);
  private readonly batchOffsets = new Float64Array(BATCH);
  private readonly sortedKeys = new Uint32Array(BATCH);
  private readonly sortedOffsets = new Float64Array(BATCH);
  private readonly bucketStarts = new Uint32Array((1 << BUCKET_BITS) + 1);
  private pending = 0;

  constructor(parentSize: number, options: IndexOptions = {}) {
    const maxSlots = options.maxSlots ?? MAX_SLOTS;
    let bits = options.minStrideBits ?? MIN_STRIDE_BITS;
    while (bits < 30 && parentSize / 2 ** bits > maxSlots * TARGET_LOAD) bits++;
    this.strideBits = bits;
    this.mask = anchorMask(bits);
    let slots = 1024;
    while (slots < maxSlots && slots * TARGET_LOAD < parentSize / 2 ** bits) slots *= 2;
    this.slots = slots;
    this.shift = 32 - Math.log2(slots);
    this.limit = Math.floor(slots * 0.75);
    this.table = new Uint32Array(slots * 2);
    this.high = parentSize > 0xffffffff ? new Uint8Array(slots) : undefined;
  }

  /**
   * Records that the window with this key starts at parent `offset`; the first window with a key wins.
   * Anchors are gathered and go into the table a batch at a time, bucketed by slot so that the table is
   * written one region after another rather than at random (the random writes, each a cache and TLB miss
   * in a table of up to 151 MiB, were most of the indexing time). Call flush() after the last one.
   */
  add(key: number, offset: number): void {
    this.batchKeys[this.pending] = key;
    this.batchOffsets[this.pending] = offset;
    if (++this.pending === BATCH) this.flush();
  }

  /** Puts the gathered anchors into the table, in their order within each bucket (so the first still wins). */
  flush(): void {
    const n = this.pending;
    const keys = this.batchKeys;
    const starts = this.bucketStarts.fill(0);
    const top = 32 - BUCKET_BITS;
    for (let i = 0; i < n; i++) starts[(keys[i] >>> top) + 1]++;
    for (let b = 0; b < 1 << BUCKET_BITS; b++) starts[b + 1] += starts[b];
    for (let i = 0; i < n; i++) {
      const at = starts[keys[i] >>> top]++;
      this.sortedKeys[at] = keys[i];
      this.sortedOffsets[at] = this.batchOffsets[i];
    }
    for (let i = 0; i < n; i++) this.insert(this.sortedKeys[i], this.sortedOffsets[i]);
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
 * Reads the whole parent once: builds its anchor index and its sha256 (so a caller's claimed sha256 can be
 * checked for free). Yields to the event loop every few megabytes.
 */
export async function indexParent(fd: number, size: number, options: IndexOptions = {}): Promise<{ index: ParentIndex; sha256: string }> {
  const index = new ParentIndex(size, options);
  const sha = createHash('sha256');
  // buf[0, WINDOW) holds the WINDOW bytes before buf[WINDOW], so a window can straddle two reads.
  const buf = Buffer.allocUnsafe(WINDOW + READ_SIZE).fill(0, 0, WINDOW);
  let h = 0;
  let position = 0;
  let reads = 0;
  while (position < size) {
    const got = fs.readSync(fd, buf, WINDOW, Math.min(READ_SIZE, size - position), position);
    if (got === 0) break;
    sha.update(buf.subarray(WINDOW, WINDOW + got));
    const end = WINDOW + got;
    h = indexChunk(index, buf, end, position, h);
    buf.copyWithin(0, got, got + WINDOW);
    position += got;
    // Often enough for the event loop to keep draining the new dump's pipe meanwhile (see the encoder).
    if (++reads % 2 === 0) await yieldToLoop();
  }
  if (position !== size) throw deltaWrongParent(`the parent file shrank while being indexed (read ${position} of ${size} bytes)`);
  index.flush();
  return { index, sha256: sha.digest('hex') };
}
