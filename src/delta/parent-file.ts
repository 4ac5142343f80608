// Random access to a delta base (a parent raw dump on local disk). The encoder probes the parent at
// scattered offsets and then walks it sequentially while a match lasts, so reads go through a small
// direct-mapped block cache; the decoder reads exact ranges. Synchronous reads keep the hot loops free of
// promises: the parent is a local file, mostly in the page cache.

import fs from 'node:fs';
import { asCoffreError, notFound } from '../core/errors.ts';
import { deltaWrongParent } from './format.ts';

/** Opens a parent file for reading; a missing one is a not_found error naming it. `close()` may be called more than once. */
export function openParent(parentPath: string): { fd: number; size: number; dev: number; ino: number; close(): void } {
  let fd: number;
  try {
    fd = fs.openSync(parentPath, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('DELTA_PARENT_MISSING', `The parent dump ${parentPath} does not exist: rebuild it from its backup first.`);
    throw asCoffreError(err);
  }
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw deltaWrongParent(`${parentPath} is not a regular file`);
  }
  let closed = false;
  const close = (): void => {
    if (!closed) fs.closeSync(fd);
    closed = true;
  };
  return { fd, size: stat.size, dev: stat.dev, ino: stat.ino, close };
}

/** Reads exactly `length` bytes at `position` into buf[offset..]; a short file is a wrong parent. */
export function readExact(fd: number, buf: Buffer, offset: number, length: number, position: number): void {
  while (length > 0) {
    const got = fs.readSync(fd, buf, offset, length, position);
    if (got === 0) throw deltaWrongParent(`the parent file ended at byte ${position}, earlier than expected (was it changed while in use?)`);
    offset += got;
    length -= got;
    position += got;
  }
}

const BLOCK_BITS = 15; // 32 KiB blocks
const BLOCK_SIZE = 1 << BLOCK_BITS;
const CACHE_BLOCKS = 512; // 16 MiB in all

/** A direct-mapped cache of parent blocks. `block(offset)` makes `buf` hold the block containing offset. */
export class ParentBlocks {
  readonly size: number;
  private readonly fd: number;
  private readonly memory = Buffer.allocUnsafe(BLOCK_SIZE * CACHE_BLOCKS);
  private readonly tags = new Float64Array(CACHE_BLOCKS).fill(-1);
  private readonly lengths = new Int32Array(CACHE_BLOCKS);
  /** After block(): the cache memory, the index in it of the block's first byte, the block's parent offset and length. */
  buf: Buffer = this.memory;
  start = 0;
  blockOffset = 0;
  blockLength = 0;

  constructor(fd: number, size: number) {
    this.fd = fd;
    this.size = size;
  }

  /** Loads the block holding parent byte `offset` (which must be < size). */
  block(offset: number): void {
    const index = Math.floor(offset / BLOCK_SIZE);
    const slot = index % CACHE_BLOCKS;
    const blockOffset = index * BLOCK_SIZE;
    const start = slot * BLOCK_SIZE;
    if (this.tags[slot] !== index) {
      const length = Math.min(BLOCK_SIZE, this.size - blockOffset);
      readExact(this.fd, this.memory, start, length, blockOffset);
      this.tags[slot] = index;
      this.lengths[slot] = length;
    }
    this.start = start;
    this.blockOffset = blockOffset;
    this.blockLength = this.lengths[slot];
  }

  /** Copies parent bytes [offset, offset + length) (clipped at the parent's end) into a new buffer. */
  read(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(length, this.size - offset)));
    let n = 0;
    while (n < out.length) {
      this.block(offset + n);
      const from = this.start + (offset + n - this.blockOffset);
      const span = Math.min(this.blockLength - (offset + n - this.blockOffset), out.length - n);
      this.buf.copy(out, n, from, from + span);
      n += span;
    }
    return out;
  }

  /**
   * Length of the common prefix of data[from, to) and the parent from `parentOffset`, stopping at the
   * parent's end.
   */
  matchForward(data: Buffer, from: number, to: number, parentOffset: number): number {
    let n = from;
    let p = parentOffset;
    while (n < to && p < this.size) {
      this.block(p);
      const bi = this.start + (p - this.blockOffset);
      const span = Math.min(this.blockLength - (p - this.blockOffset), to - n);
      if (data.compare(this.buf, bi, bi + span, n, n + span) === 0) {
        n += span;
        p += span;
        continue;
      }
      let k = 0;
      while (k + 64 <= span && data.compare(this.buf, bi + k, bi + k + 64, n + k, n + k + 64) === 0) k += 64;
      const mem = this.buf;
      while (k < span && data[n + k] === mem[bi + k]) k++;
      return n + k - from;
    }
    return n - from;
  }

  /**
   * Length of the common suffix of data[floor, from) and the parent before `parentOffset`, i.e. how far a
   * match at (from, parentOffset) extends backwards.
   */
  matchBackward(data: Buffer, floor: number, from: number, parentOffset: number): number {
    let n = from;
    let p = parentOffset;
    while (n > floor && p > 0) {
      this.block(p - 1);
      const mem = this.buf;
      const inBlock = p - this.blockOffset;
      const steps = Math.min(inBlock, n - floor);
      const top = this.start + inBlock;
      let k = 0;
      while (k < steps && data[n - 1 - k] === mem[top - 1 - k]) k++;
      n -= k;
      p -= k;
      if (k < steps) break;
    }
    return from - n;
  }
}
