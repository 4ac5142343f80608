// What every service call needs: the configuration and an open catalog. Opening it is also the moment to
// finish the bookkeeping of runs whose process died (see recoverInterruptedRuns), so the CLI and the server
// both start from a truthful journal.

import { loadConfig, type Config } from '../config.ts';
import { openCatalog } from '../catalog/db.ts';
import { recoverInterruptedRuns } from './recovery.ts';
import { RunEvents } from '../core/run-events.ts';
import type { ServiceContext } from './service-context.ts';

export type { ServiceContext } from './service-context.ts';

export interface OpenContextOptions {
  config?: Config;
  /** Where one-time notices go (a generated key, recovered runs); default stderr. */
  announce?: (message: string) => void;
}

/** Loads the configuration, opens and migrates the catalog, and marks dead runs interrupted. */
export async function openContext(options: OpenContextOptions = {}): Promise<ServiceContext> {
  const config = options.config ?? loadConfig();
  const catalog = await openCatalog(config, { announce: options.announce });
  const ctx = { config, catalog, events: new RunEvents() };
  try {
    await recoverInterruptedRuns(ctx);
  } catch (err) {
    await catalog.close();
    throw err;
  }
  return ctx;
}

/** Closes the catalog. */
export async function closeContext(ctx: ServiceContext): Promise<void> {
  await ctx.catalog.close();
}
