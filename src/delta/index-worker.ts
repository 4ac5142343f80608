// The worker thread that indexes a delta parent (see indexParentInWorker in parent-index.ts): it opens the
// parent itself (checking it is the same file the encoder opened), runs the same indexing loop as the main
// thread into a table in shared memory, and posts back the table (shared, not copied) and the sha256, or
// the error, as plain data (a CoffreError's code, kind, message and details).

import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { isCoffreError } from '../core/errors.ts';
import { deltaWrongParent } from './format.ts';
import { indexSteps, ParentIndex, type IndexOptions } from './parent-index.ts';

export interface IndexJob {
  path: string;
  size: number;
  dev: number;
  ino: number;
  options: Omit<IndexOptions, 'thread'>;
}

const job = workerData as IndexJob;
if (job.options.workerFault === 'throw') throw new Error('injected worker fault');
if (job.options.workerFault === 'exit') process.exit(3);
try {
  const fd = fs.openSync(job.path, 'r');
  try {
    const stat = fs.fstatSync(fd);
    if (stat.dev !== job.dev || stat.ino !== job.ino || stat.size !== job.size) throw deltaWrongParent(`${job.path} was replaced while it was being opened`);
    const index = new ParentIndex(job.size, job.options, true);
    const steps = indexSteps(fd, job.size, index);
    let r = steps.next();
    while (!r.done) r = steps.next();
    parentPort!.postMessage({ ok: true, snapshot: index.snapshot(), sha256: r.value });
  } finally {
    fs.closeSync(fd);
  }
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  parentPort!.postMessage({
    ok: false,
    error: isCoffreError(err)
      ? { code: err.code, kind: err.kind, message: err.message, details: err.details }
      : { syscall: e?.syscall, errno: e?.code, message: String(e?.message ?? err) },
  });
}
