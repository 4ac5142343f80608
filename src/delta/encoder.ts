// The streaming delta encoder: raw new dump in, delta bytes out. It indexes the parent's anchors (see
// parent-index.ts), then rolls the same gear hash over the new bytes; at each anchor it looks the window
// up, confirms the bytes against the parent, extends the match forward (through later chunks too) and
// backward into the pending literal, and emits COPY records for matches and LITERAL records for the rest.
// When a copy breaks on a small edit, resync() finds where it picks up again near both positions before
// falling back to the next anchor (docs/delta-format.md, step 4).
// A parent of 16 MiB or more is indexed in a worker thread (parent-index.ts, index-worker.ts), its table in
// shared memory, so this thread keeps reading the new dump meanwhile; the result is the same index.
// Memory: the index (at most 151 MiB, plus 6 MiB of batch arrays in the worker), up to 64 MiB of new input read ahead
// while the parent is indexed, a 16 MiB parent block cache, and a working buffer holding the pending
// literal (flushed at 1 MiB) plus one input slice (at most 1 MiB).

import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { deltaWrongParent, encodeHeader, normaliseSha256, TAG_COPY, TAG_END, TAG_LITERAL, TRAILER_MAGIC, writeVarint, zigzag } from './format.ts';
import { ParentBlocks, openParent } from './parent-file.ts';
import { GEAR, indexParent, indexParentInWorker, WINDOW, WORKER_MIN_BYTES, windowKey, type IndexOptions } from './parent-index.ts';

export interface DeltaEncoderOptions {
  /** The parent's raw dump on local disk (random access is needed). */
  parentPath: string;
  /** The parent's sha256 as recorded at its backup; checked while the parent is indexed. */
  parentSha256?: string;
  /** Tuning for tests: the index's size limits. */
  index?: IndexOptions;
  /**
   * The sha256 (hex) of every byte written in, from a hasher upstream that has seen them all by the time
   * the input ends (the backup pipeline's raw meter), so the encoder need not hash them a second time.
   */
  newSha256?: () => string;
}

export interface DeltaEncodeStats {
  parentSize: number;
  parentSha256: string;
  /** The new raw dump's size and sha256 (what a manifest records as the raw dump). */
  newSize: number;
  newSha256: string;
  deltaSize: number;
  copies: number;
  copiedBytes: number;
  literals: number;
  literalBytes: number;
  /** Average distance between parent anchors, in bytes. */
  anchorStride: number;
  indexEntries: number;
  /** Where the parent was indexed: a worker thread (large parents) or the main thread. */
  indexThread: 'worker' | 'main';
}

export type DeltaEncoder = Duplex & {
  /** Filled in when the delta's last byte has been produced (before 'end'). */
  readonly stats: DeltaEncodeStats | undefined;
};

const SLICE = 1 << 20; // input is processed in slices of at most this many bytes
const LITERAL_FLUSH = 1 << 20; // a pending literal longer than this is emitted
const OUT_SIZE = 1 << 18;
/** Where a broken copy picks up again: `skip` new bytes go as literal, then `forward` bytes copy from parentAt. */
interface Resync {
  skip: number;
  parentAt: number;
  forward: number;
}
/** New-dump bytes read ahead into memory while the parent is still being indexed. */
const EARLY_BYTES = 64 << 20;
/** How far past a broken copy resync() looks for where it picks up again, on each side. */
const RESYNC = 256;

/**
 * Starts encoding: write the new raw dump into the returned duplex and read the delta from it. The parent
 * is indexed right away (overlapping the dump's start). Fails with COFFRE_E_DELTA_WRONG_PARENT when the
 * parent's sha256 differs from `parentSha256`, COFFRE_E_DELTA_PARENT_MISSING when the file is absent.
 */
export function createDeltaEncoder(options: DeltaEncoderOptions): DeltaEncoder {
  const claimedSha = options.parentSha256 === undefined ? undefined : normaliseSha256(options.parentSha256, 'parentSha256');
  const parent = openParent(options.parentPath);
  // Every closure below shares this scope, and the duplex keeps it alive (its `stats` getter), so the
  // index (up to 151 MiB) is dropped by hand as soon as encoding ends: a finished encoder holds nothing big.
  // A large parent is indexed in a worker thread, so this thread only reads the new dump meanwhile (and
  // the dump tool never waits on a full pipe); a small one here, where a worker's start-up would cost more.
  const thread = options.index?.thread ?? 'auto';
  const inWorker = thread === 'worker' || (thread === 'auto' && parent.size >= WORKER_MIN_BYTES);
  const job = inWorker ? indexParentInWorker(options.parentPath, parent, options.index) : undefined;
  let indexing: ReturnType<typeof indexParent> | undefined = job ? job.done : indexParent(parent.fd, parent.size, options.index);
  indexing.catch(() => {}); // reported when the generator awaits it
  let stats: DeltaEncodeStats | undefined;
  const close = (): void => {
    job?.cancel(); // a no-op once the worker has answered
    parent.close();
  };

  const duplex = Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    try {
      // While the parent is indexed, keep reading the new dump (up to EARLY_BYTES, in memory), so that the
      // dump tool goes on producing on the other core instead of waiting on a full pipe.
      const input = source[Symbol.asyncIterator]();
      const early: Buffer[] = [];
      let earlyBytes = 0;
      // Each pending read is also caught at once: if indexing fails while one is pending, its own failure
      // must not become an unhandled rejection (the indexing error is the one reported).
      const pull = (): Promise<IteratorResult<Buffer>> => {
        const p = input.next();
        p.catch(() => {});
        return p;
      };
      let next = pull();
      let ended = false;
      const ready = indexing!.then(
        () => undefined,
        () => undefined,
      );
      while (earlyBytes < EARLY_BYTES) {
        const got = await Promise.race([ready, next]);
        if (got === undefined) break; // indexed (or failed: reported below)
        if (got.done) {
          ended = true;
          break;
        }
        early.push(got.value);
        earlyBytes += got.value.length;
        next = pull();
      }
      const { index, sha256: parentSha } = await indexing!;
      if (claimedSha !== undefined && claimedSha !== parentSha) {
        throw deltaWrongParent(`${options.parentPath} has sha256 ${parentSha}, not the recorded ${claimedSha}`, { expected: claimedSha, actual: parentSha });
      }
      const state = new EncoderState(new ParentBlocks(parent.fd, parent.size), index.lookup.bind(index), index.mask, options.newSha256 === undefined);
      yield encodeHeader(parent.size, parentSha);
      let deltaSize = 50;
      const rest = async function* (): AsyncGenerator<Buffer> {
        yield* early.splice(0);
        if (ended) return;
        for (let r = await next; !r.done; r = await input.next()) yield r.value;
      };
      for await (const chunk of rest()) {
        for (let at = 0; at < chunk.length; at += SLICE) {
          state.feed(chunk.subarray(at, Math.min(chunk.length, at + SLICE)));
          for (const piece of state.take()) {
            deltaSize += piece.length;
            yield piece;
          }
        }
      }
      state.finish();
      for (const piece of state.takeAll()) {
        deltaSize += piece.length;
        yield piece;
      }
      const newSha = options.newSha256 ? normaliseSha256(options.newSha256(), 'newSha256') : state.sha!.digest('hex');
      const trailer = Buffer.alloc(1 + 9 + 32 + TRAILER_MAGIC.length);
      trailer[0] = TAG_END;
      let p = writeVarint(trailer, 1, state.total);
      p += Buffer.from(newSha, 'hex').copy(trailer, p);
      p += TRAILER_MAGIC.copy(trailer, p);
      deltaSize += p;
      stats = {
        parentSize: parent.size,
        parentSha256: parentSha,
        newSize: state.total,
        newSha256: newSha,
        deltaSize,
        copies: state.copies,
        copiedBytes: state.copiedBytes,
        literals: state.literals,
        literalBytes: state.literalBytes,
        anchorStride: 2 ** index.strideBits,
        indexEntries: index.entries,
        indexThread: job ? 'worker' : 'main',
      };
      yield trailer.subarray(0, p);
    } finally {
      indexing = undefined;
      close();
    }
  });
  Object.defineProperty(duplex, 'stats', { get: () => stats });
  duplex.once('close', () => {
    indexing = undefined; // destroyed before the generator ran to its end
    close();
  });
  return duplex as DeltaEncoder;
}

/** The matching state machine; positions named abs* are offsets in the new dump, others index `work`. */
class EncoderState {
  /** Hashes the new bytes, unless the caller's upstream hasher does (DeltaEncoderOptions.newSha256). */
  readonly sha: ReturnType<typeof createHash> | undefined;
  total = 0;
  copies = 0;
  copiedBytes = 0;
  literals = 0;
  literalBytes = 0;

  private readonly parent: ParentBlocks;
  private readonly lookup: (key: number) => number;
  private readonly mask: number;
  private work = Buffer.allocUnsafe(LITERAL_FLUSH + SLICE + 2 * WINDOW);
  /** New-dump offset of work[0], and number of valid bytes in work. */
  private base = 0;
  private length = 0;
  /** Start of the pending (not yet emitted) literal, and next byte to examine. */
  private absLiteral = 0;
  private absScan = 0;
  /** Hashing restarted here: windows ending before absHashFrom + WINDOW - 1 are incomplete. */
  private absHashFrom = 0;
  private h = 0;
  private inCopy = false;
  private copyFrom = 0; // parent offset of the current copy's first byte
  private copyLength = 0;
  private prevCopyEnd = 0;
  private out = Buffer.allocUnsafe(OUT_SIZE);
  private outPos = 0;
  private ready: Buffer[] = [];

  constructor(parent: ParentBlocks, lookup: (key: number) => number, mask: number, hashNew: boolean) {
    this.sha = hashNew ? createHash('sha256') : undefined;
    this.parent = parent;
    this.lookup = lookup;
    this.mask = mask;
  }

  feed(chunk: Buffer): void {
    this.sha?.update(chunk);
    this.total += chunk.length;
    // Keep the pending literal and the last window's bytes; drop what was emitted or copied.
    const keepFrom = Math.max(this.base, Math.min(this.absLiteral, this.absScan - WINDOW));
    const drop = keepFrom - this.base;
    if (drop > 0) {
      this.work.copyWithin(0, drop, this.length);
      this.length -= drop;
      this.base = keepFrom;
    }
    if (this.length + chunk.length > this.work.length) {
      const bigger = Buffer.allocUnsafe(this.length + chunk.length);
      this.work.copy(bigger, 0, 0, this.length);
      this.work = bigger;
    }
    chunk.copy(this.work, this.length);
    this.length += chunk.length;
    this.scan();
  }

  finish(): void {
    if (this.inCopy) this.endCopy();
    this.emitLiteral(this.absScan);
  }

  /** Output ready to send: full buffers, and the current one once it holds a useful amount. */
  take(): Buffer[] {
    if (this.outPos >= OUT_SIZE / 4) this.flushOut();
    const ready = this.ready;
    this.ready = [];
    return ready;
  }

  takeAll(): Buffer[] {
    this.flushOut();
    return this.take();
  }

  private scan(): void {
    const work = this.work;
    const base = this.base;
    const end = this.length;
    const gear = GEAR;
    const mask = this.mask;
    while (this.absScan - base < end) {
      if (this.inCopy) {
        const m = this.parent.matchForward(work, this.absScan - base, end, this.copyFrom + this.copyLength);
        this.copyLength += m;
        this.absScan += m;
        this.absLiteral = this.absScan;
        if (this.absScan - base < end) {
          const parentEnd = this.copyFrom + this.copyLength;
          this.endCopy();
          const next = this.resync(this.absScan - base, end, parentEnd);
          if (next) {
            // The copy picks up again just past the edit: the edited new bytes become a literal.
            this.emitLiteral(this.absScan + next.skip);
            this.inCopy = true;
            this.copyFrom = next.parentAt;
            this.copyLength = next.forward;
            this.absScan += next.skip + next.forward;
            this.absLiteral = this.absScan;
            continue;
          }
          this.absHashFrom = this.absScan;
          this.h = 0;
        }
        continue;
      }
      let h = this.h;
      const hashReady = this.absHashFrom - base + WINDOW - 1;
      let i = this.absScan - base;
      let found = false;
      for (; i < end; i++) {
        h = ((h << 1) + gear[work[i]]) | 0;
        if ((h & mask) !== 0 || i < hashReady) continue;
        const windowStart = i - WINDOW + 1;
        const at = this.lookup(windowKey(work, windowStart));
        if (at < 0) continue;
        const forward = this.parent.matchForward(work, windowStart, end, at);
        if (forward < WINDOW) continue; // a fingerprint collision
        const back = this.parent.matchBackward(work, this.absLiteral - base, windowStart, at);
        this.emitLiteral(base + windowStart - back);
        this.inCopy = true;
        this.copyFrom = at - back;
        this.copyLength = back + forward;
        this.absScan = base + windowStart + forward;
        this.absLiteral = this.absScan;
        found = true;
        break;
      }
      this.h = h;
      if (found) continue;
      this.absScan = base + end;
      if (this.absScan - this.absLiteral >= LITERAL_FLUSH) this.emitLiteral(this.absScan);
    }
  }

  /**
   * Where the copy that just broke at new work[i] / parent `parentEnd` picks up again after a small edit,
   * found by looking near both positions instead of waiting for the next anchor (anchors are up to 1 KiB
   * apart in a large parent): a deletion (the new bytes at i are found a little further in the parent), a
   * substitution (the same skip on both sides), or an insertion (the parent's bytes at parentEnd are found
   * a little further in the new bytes). The candidate that leaves the fewest new bytes as literal wins;
   * each must match at least WINDOW bytes. Undefined when none does (the scan then goes on by anchors).
   */
  private resync(i: number, end: number, parentEnd: number): Resync | undefined {
    const work = this.work;
    const parent = this.parent;
    if (end - i < RESYNC + 2 * WINDOW || parentEnd >= parent.size) return undefined;
    const found: { best?: Resync } = {};
    // A candidate: the new bytes from i + skip match the parent from parentAt. It also takes back what it
    // can of the skipped bytes (the parent bytes just before parentAt may equal them, as when an inserted
    // line begins like the line after it), and the one leaving the fewest literal bytes wins.
    const consider = (skip: number, parentAt: number): void => {
      const forward = parent.matchForward(work, i + skip, end, parentAt);
      if (forward < WINDOW) return;
      const back = skip > 0 ? parent.matchBackward(work, i, i + skip, parentAt) : 0;
      const c = { skip: skip - back, parentAt: parentAt - back, forward: forward + back };
      const best = found.best;
      if (!best || c.skip < best.skip || (c.skip === best.skip && c.forward > best.forward)) found.best = c;
    };
    // The parent bytes from parentEnd, read once: the three kinds of edit are looked for in them.
    const ahead = parent.read(parentEnd, RESYNC + WINDOW + 1);
    // Deletion: the new bytes at i go on a little further in the parent.
    const deleted = ahead.subarray(1).indexOf(work.subarray(i, i + WINDOW));
    if (deleted >= 0) consider(0, parentEnd + 1 + deleted);
    if (found.best) return found.best;
    // Insertion: the parent's bytes at parentEnd come a little further in the new bytes.
    if (ahead.length >= WINDOW) {
      const inserted = work.subarray(i + 1, i + 1 + RESYNC + WINDOW).indexOf(ahead.subarray(0, WINDOW));
      if (inserted >= 0) consider(1 + inserted, parentEnd);
    }
    // Substitution: both sides skip the same few bytes.
    const bound = (): number => Math.min(found.best?.skip ?? RESYNC, ahead.length); // (a call: consider() changes found.best)
    for (let d = 1; d < bound(); d++) {
      if (work[i + d] === ahead[d]) consider(d, parentEnd + d);
    }
    return found.best;
  }

  private endCopy(): void {
    const out = this.reserve(1 + 2 * 9);
    let p = this.outPos;
    out[p++] = TAG_COPY;
    p = writeVarint(out, p, zigzag(this.copyFrom - this.prevCopyEnd));
    p = writeVarint(out, p, this.copyLength);
    this.outPos = p;
    this.prevCopyEnd = this.copyFrom + this.copyLength;
    this.copies++;
    this.copiedBytes += this.copyLength;
    this.inCopy = false;
  }

  /** Emits the pending literal up to new-dump offset absEnd. */
  private emitLiteral(absEnd: number): void {
    const length = absEnd - this.absLiteral;
    if (length <= 0) return;
    const start = this.absLiteral - this.base;
    const out = this.reserve(1 + 9);
    out[this.outPos] = TAG_LITERAL;
    this.outPos = writeVarint(out, this.outPos + 1, length);
    if (length <= OUT_SIZE - this.outPos) {
      this.work.copy(this.out, this.outPos, start, start + length);
      this.outPos += length;
    } else {
      this.flushOut();
      this.ready.push(Buffer.from(this.work.subarray(start, start + length)));
    }
    this.absLiteral = absEnd;
    this.literals++;
    this.literalBytes += length;
  }

  private reserve(bytes: number): Buffer {
    if (OUT_SIZE - this.outPos < bytes) this.flushOut();
    return this.out;
  }

  private flushOut(): void {
    if (this.outPos === 0) return;
    this.ready.push(Buffer.from(this.out.subarray(0, this.outPos)));
    this.outPos = 0;
  }
}
