// Runs left `running` by a process that died (kill -9, power loss) would stay `running` forever and their
// half-written files would linger. At every catalog open, rows of this host whose pid is gone become
// `interrupted` (a server run's group too) and whatever their run had started writing (artifact, manifest, `.partial`, its partial
// raw-cache copy, a drill's scratch database) is removed, with the temporary folders under DATA_DIR/tmp of processes that are gone.
// Rows of other hosts are left to those hosts (or, later, to the cluster's lease timeout).

import { hostname } from 'node:os';
import { redact } from '../core/redact.ts';
import { asCoffreError } from '../core/errors.ts';
import { runningBackups, runningRestores } from '../catalog/journal.ts';
import { runningServerRuns } from '../catalog/server-runs.ts';
import { interruptBackup, interruptDrill, interruptRestore, interruptServerRun } from '../catalog/runs.ts';
import { runningDrills } from '../catalog/drills.ts';
import { dropDeadDrillScratch } from './drills.ts';
import type { ServiceContext } from './service-context.ts';
import { removeCopies } from './copies.ts';
import { RawCache } from '../pipeline/raw-cache.ts';

/** Whether a process with this pid exists on this machine. */
export function isAlive(pid: number | null): boolean {
  if (!pid || pid === process.pid) return pid === process.pid;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Marks dead runs of this host `interrupted` and removes their files; returns how many were found. */
export async function recoverInterruptedRuns(ctx: ServiceContext): Promise<number> {
  const host = hostname();
  let count = 0;
  const dead: string[] = [];
  for (const run of await runningBackups(ctx.catalog.db, host)) {
    if (isAlive(run.pid)) continue;
    count++;
    dead.push(run.id);
    let cleanup = 'its partial files were removed';
    if (run.artifactKey) {
      try {
        await removeCopies(ctx, run); // on every destination the run was uploading to
      } catch (err) {
        cleanup = `its partial files could not all be removed (${redact(asCoffreError(err).message)})`;
      }
    }
    const message = `The process running this backup (pid ${run.pid} on ${host}) stopped before it finished; ${cleanup}.`;
    await interruptBackup(ctx, run, message, 'The run stopped before this upload finished.');
  }
  // A server run's group, once its databases' rows are finished: each row says where its database got to.
  for (const run of await runningServerRuns(ctx.catalog.db, host)) {
    if (isAlive(run.pid)) continue;
    count++;
    await interruptServerRun(ctx, run, `The process running this server run (pid ${run.pid} on ${host}) stopped before it finished; each database's row says where it got to.`);
  }
  // Their partial raw-cache copies, and any temporary folder (a parent being rebuilt, a chain being
  // restored) whose process is gone.
  await new RawCache(ctx.config.dataDir, 0).sweep(isAlive, dead);
  for (const run of await runningRestores(ctx.catalog.db, host)) {
    if (isAlive(run.pid)) continue;
    count++;
    await interruptRestore(ctx, run, `The process running this restore (pid ${run.pid} on ${host}) stopped before it finished: check the target database "${run.database}".`);
  }
  // A dead drill's scratch database is dropped by its row (the name, the server and whether coffre made it).
  for (const run of await runningDrills(ctx.catalog.db, host)) {
    if (isAlive(run.pid)) continue;
    count++;
    const note = await dropDeadDrillScratch(ctx, run);
    await interruptDrill(ctx, run, `The process running this drill (pid ${run.pid} on ${host}) stopped before it finished; ${note}.`);
  }
  return count;
}
