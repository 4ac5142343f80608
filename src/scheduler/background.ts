// What `coffre serve` (with or without its API) runs beside the HTTP server: the scheduler, with its
// dispatcher chosen by the catalog (the local JobRunner on SQLite; pg-boss shared by every worker on
// PostgreSQL); retention after each successful backup is the JobRunner's (its pruneLog option). SCHEDULER_ENABLED=false leaves only
// retention and, in cluster mode, the worker that takes queued runs (so a node can be a pure worker).

import type { ServiceContext } from '../services/context.ts';
import type { JobRunner } from '../services/jobs.ts';
import { localDispatcher, Scheduler } from './scheduler.ts';
import { startCluster, type Cluster } from './cluster.ts';
import { DrillScheduler } from './drills.ts';
import { Notifications } from '../services/notifications.ts';
import { recoverInterruptedRuns } from '../services/recovery.ts';
import { asCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';

export interface Background {
  /** 'embedded' (one process) or 'cluster' (pg-boss). */
  mode: 'embedded' | 'cluster';
  /** The scheduler, when SCHEDULER_ENABLED. */
  scheduler?: Scheduler;
  /** The restore drills' scheduler, when SCHEDULER_ENABLED. */
  drills?: DrillScheduler;
  /** Stops firing ticks and taking queued runs; call before the JobRunner's shutdown. */
  stop(): Promise<void>;
  /** Releases the rest (pg-boss); call after the JobRunner's shutdown. */
  close(): Promise<void>;
}

/** Starts scheduling and retention for a server; see the module header. */
export async function startBackground(ctx: ServiceContext, runner: JobRunner, log: (line: string) => void): Promise<Background> {
  const settings = ctx.config.scheduler;
  // Notifications of this process's runs, and (every NOTIFY_CHECK_SECONDS) the RPO check and pending deliveries.
  const notifications = new Notifications(ctx, { log }).attach().startChecks();
  let cluster: Cluster | undefined;
  let scheduler: Scheduler | undefined;
  let drills: DrillScheduler | undefined;
  try {
    if (ctx.catalog.kind === 'postgres') {
      cluster = await startCluster(ctx, runner, {
        leaseSeconds: settings.leaseSeconds,
        maxConcurrent: ctx.config.api.maxConcurrentJobs,
        maxPerTarget: settings.maxConcurrentPerTarget,
        log,
      });
    }
    if (settings.enabled) {
      scheduler = new Scheduler(ctx, {
        dispatcher: cluster?.dispatcher ?? localDispatcher(ctx, runner),
        defaultTimezone: settings.timezone,
        reloadMs: settings.reloadSeconds * 1000,
        log,
      });
      await scheduler.start();
      drills = new DrillScheduler(ctx, { defaultTimezone: settings.timezone, reloadMs: settings.reloadSeconds * 1000, log });
      await drills.start();
    }
  } catch (err) {
    notifications.stop();
    await drills?.stop();
    await scheduler?.stop();
    await cluster?.close();
    throw err;
  }
  const mode = cluster ? 'cluster' : 'embedded';
  // Runs of this machine whose process died while the server runs (a killed `coffre backup`): the sweeper
  // finishes them, as the start-up recovery does (a cluster's worker also sweeps stale heartbeats).
  const sweeper = setInterval(() => {
    void recoverInterruptedRuns(ctx)
      .then((n) => n && log(`recovery: finished ${n} run(s) whose process stopped`))
      .catch((err) => log(`recovery: sweep failed: ${redact(asCoffreError(err).message)}`));
  }, settings.leaseSeconds * 1000);
  sweeper.unref();
  log(
    `scheduler: ${settings.enabled ? `on (${scheduler!.upcoming().length} scheduled plan(s), default time zone ${settings.timezone})` : 'off (SCHEDULER_ENABLED=false)'}, ${mode} mode`,
  );
  return {
    mode,
    scheduler,
    drills,
    async stop() {
      clearInterval(sweeper);
      await drills?.stop();
      await scheduler?.stop();
      await cluster?.stopTaking();
    },
    async close() {
      clearInterval(sweeper);
      notifications.stop();
      await notifications.flush();
      await cluster?.close();
    },
  };
}
