// The type every service takes: the configuration, an open catalog and the process's run bus. Opening one
// (and the start-up recovery that comes with it) is services/context.ts; this file holds the type alone, so
// that a service never imports the start-up code that calls it.

import type { Config } from '../config.ts';
import type { Catalog } from '../catalog/db.ts';
import type { RunEvents } from '../core/run-events.ts';

export interface ServiceContext {
  readonly config: Config;
  readonly catalog: Catalog;
  /** This process's run event bus (src/core/run-events.ts). */
  readonly events: RunEvents;
}
