// An in-process coffre on a fresh SQLite catalog, for tests that call the services and write the catalog's
// rows themselves: a temporary folder with a one-row SQLite database as target `app`, a local destination
// `disk` and a plan `p` backing one up to the other.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig } from '../../src/config.ts';
import { openContext, closeContext, type ServiceContext } from '../../src/services/context.ts';
import { addTarget } from '../../src/services/targets.ts';
import { addDestination } from '../../src/services/destinations.ts';
import { addPlan, type PlanView } from '../../src/services/plans.ts';

export interface AppContext {
  dir: string;
  ctx: ServiceContext;
  plan: PlanView;
  /** Closes the context and removes the folder. */
  close(): Promise<void>;
}

/** A fresh catalog under a temporary folder named from `prefix`, with target `app`, destination `disk` and plan `p`. */
export async function appContext(prefix: string): Promise<AppContext> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const db = new DatabaseSync(path.join(dir, 'app.db'));
  db.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a')");
  db.close();
  const ctx = await openContext({ config: loadConfig({ DATA_DIR: path.join(dir, 'data') }), announce: () => {} });
  await addTarget(ctx, { name: 'app', url: `sqlite:${path.join(dir, 'app.db')}` }, { via: 'cli' });
  await addDestination(ctx, { name: 'disk', type: 'local', path: path.join(dir, 'backups') }, { via: 'cli' });
  const plan = await addPlan(ctx, { name: 'p', target: 'app', destination: 'disk' });
  return {
    dir,
    ctx,
    plan,
    close: async () => {
      await closeContext(ctx);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
