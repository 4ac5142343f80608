// One stored byte stream, several destinations: the backup is dumped, compressed and hashed once, and each
// chunk is handed to every destination's `storage.put` through its own small buffer. Backpressure follows
// the slowest live upload (a chunk is acknowledged only when every live branch took it), so memory stays
// bounded by the branches' buffers plus what each backend holds in flight, whatever the artifact's size.
// An upload that fails is dropped from the fan (its put, by contract, leaves nothing under the key) and the
// others go on; only when every upload has failed does the sink fail, which stops the dump. A failure
// upstream (the dump, the codec) destroys every branch, so every put rejects and cleans up.

import { PassThrough, Writable } from 'node:stream';
import type { PutResult, Storage } from '../core/types.ts';
import { asCoffreError, failure, type CoffreError } from '../core/errors.ts';

/** What became of one upload: the storage's report, or why it failed. */
export interface CopyOutcome {
  put?: PutResult;
  error?: CoffreError;
}

export interface FanTarget {
  /** For messages: the destination's name. */
  name: string;
  storage: Storage;
}

export interface FanOut {
  /** The last stage of the backup pipeline. */
  sink: Writable;
  /** Settles once every upload settled, with one outcome per target, in order; never rejects. */
  done: Promise<CopyOutcome[]>;
  /** True when the sink failed because every upload had failed (rather than from upstream). */
  exhausted(): boolean;
}

const BRANCH_BUFFER = 1 << 20;

/** The error of a fan whose every upload failed: the single one as it is, or all of them named. */
export function allFailed(targets: readonly FanTarget[], outcomes: readonly CopyOutcome[]): CoffreError {
  const errors = outcomes.map((o) => o.error).filter((e): e is CoffreError => e !== undefined);
  if (targets.length === 1 && errors[0]) return errors[0];
  const parts = targets.map((t, i) => `${t.name}: ${outcomes[i]?.error?.message ?? 'did not finish'}`);
  return failure('ALL_UPLOADS_FAILED', `No destination took the backup (${parts.join('; ')}).`, { retryable: errors.every((e) => e.retryable) });
}

/** Starts one put per target under `key` and returns the sink that feeds them all. */
export function fanOut(targets: readonly FanTarget[], key: string, signal?: AbortSignal): FanOut {
  const branches = targets.map((t) => {
    const input = new PassThrough({ highWaterMark: BRANCH_BUFFER });
    const branch: { input: PassThrough; alive: boolean; outcome?: CopyOutcome; settled: Promise<void> } = { input, alive: true, settled: Promise.resolve() };
    branch.settled = t.storage.put(key, input, signal).then(
      (put) => {
        branch.outcome = { put };
      },
      (err: unknown) => {
        branch.alive = false;
        branch.outcome = { error: asCoffreError(err, 'STORAGE_WRITE_FAILED') };
        input.destroy();
      },
    );
    return branch;
  });
  const done = Promise.all(branches.map((b) => b.settled)).then(() => branches.map((b) => b.outcome ?? { error: failure('UPLOAD_UNFINISHED', 'The upload did not finish.') }));

  const waitFor = (b: (typeof branches)[number]) =>
    new Promise<void>((resolve) => {
      if (!b.alive) return resolve();
      const finish = () => {
        b.input.off('drain', finish);
        b.input.off('close', finish);
        resolve();
      };
      b.input.on('drain', finish);
      b.input.on('close', finish);
      b.settled.then(finish, finish);
    });

  const noneLeft = () => branches.every((b) => !b.alive);
  let exhausted = false;
  const deadError = async () => {
    exhausted = true;
    return allFailed(targets, await done);
  };

  let ended = false;
  const sink = new Writable({
    highWaterMark: BRANCH_BUFFER,
    write(chunk: Buffer, _enc, cb) {
      if (noneLeft()) {
        void deadError().then(cb);
        return;
      }
      const waits: Promise<void>[] = [];
      for (const b of branches) if (b.alive && !b.input.write(chunk)) waits.push(waitFor(b));
      if (waits.length === 0) return cb();
      void Promise.all(waits).then(() => (noneLeft() ? deadError().then(cb) : cb()));
    },
    final(cb) {
      ended = true;
      for (const b of branches) if (b.alive) b.input.end();
      if (noneLeft()) void deadError().then(cb);
      else cb();
    },
    destroy(err, cb) {
      // After a normal end (autoDestroy) the branches drain on their own; otherwise every put must fail.
      if (err || !ended) for (const b of branches) if (b.alive) b.input.destroy(err ?? new Error('The backup stream was closed before it ended.'));
      cb(err);
    },
  });
  return { sink, done, exhausted: () => exhausted };
}
