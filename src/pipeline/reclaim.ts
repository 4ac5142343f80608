// Frees the pipeline's spent buffers as it goes. Every chunk read from a dump's pipe is a fresh Buffer whose
// memory lives outside V8's heap; V8 collects it only when a garbage collection runs, and it starts one for
// external memory alone after about 64 MiB of it. A backup allocates hundreds of MiB of short-lived chunks
// and little else, so without help its peak RSS carried ~60 MiB of dead buffers and it paid for ~25 full
// (mark-compact) collections of a 305 MB dump. A minor collection (a scavenge) frees young dead buffers for
// well under a millisecond; running one every RECLAIM_BYTES of data bounds the dead memory to about that.
//
// The `gc` function comes from V8's documented --expose-gc flag, set for a fresh vm context only (nothing
// global changes); where that is unavailable the reclaimer does nothing and V8's own heuristics apply.

import v8 from 'node:v8';
import vm from 'node:vm';

/** Bytes of data between two minor collections. */
export const RECLAIM_BYTES = 8 << 20;

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let exposed: GcFunction | null | undefined;

/** V8's gc function, exposed to one new context (the flag is turned back off at once), or null. */
export function exposedGc(): GcFunction | null {
  if (exposed !== undefined) return exposed;
  try {
    const already = (globalThis as { gc?: GcFunction }).gc;
    if (typeof already === 'function') return (exposed = already);
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('typeof gc === "function" ? gc : null') as GcFunction | null;
    v8.setFlagsFromString('--no-expose-gc');
    exposed = fn;
  } catch {
    exposed = null;
  }
  return exposed;
}

/**
 * A counter to call with each chunk's size (or a running total's increase): after every `every` bytes it
 * runs a minor collection. `gc` is for tests; by default V8's (or nothing when it cannot be had).
 */
export function createReclaimer(options: { every?: number; gc?: GcFunction | null } = {}): (bytes: number) => void {
  const every = options.every ?? RECLAIM_BYTES;
  const gc = options.gc === undefined ? exposedGc() : options.gc;
  let since = 0;
  return (bytes: number) => {
    since += bytes;
    if (since < every || !gc) return;
    since = 0;
    gc({ type: 'minor' });
  };
}
