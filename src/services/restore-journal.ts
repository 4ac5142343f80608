// The restore journal one page at a time, for GET /api/restores. services/restores.ts's listRestoreJournal
// takes only a limit, so this reads the catalog with a limit and an offset and maps each row exactly as
// listRestoreJournal does (a listed row names its backup by id only: plan, kind, artifact and sha256 stay
// null, as in `coffre journal --restores --json`). Once listRestoreJournal accepts an offset, this file can go.

import { listRestores, type RestoreRecord } from '../catalog/journal.ts';
import type { EngineName } from '../core/types.ts';
import type { ServiceContext } from './context.ts';
import type { RestoreView } from './restores.ts';

function listed(r: RestoreRecord): RestoreView {
  return {
    id: r.id,
    status: r.status,
    backupId: r.backupId,
    source: r.sourcePath,
    plan: null,
    kind: null,
    artifact: null,
    sha256: null,
    target: r.targetName,
    engine: r.engine as EngineName,
    database: r.database,
    replace: r.replace,
    sizeBytes: r.sizeBytes,
    rawSizeBytes: r.rawSizeBytes,
    trigger: r.trigger,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    message: r.message,
  };
}

/** Restore journal rows, newest first: `limit` rows after skipping `offset`. */
export async function listRestorePage(ctx: ServiceContext, q: { limit: number; offset: number }): Promise<RestoreView[]> {
  return (await listRestores(ctx.catalog.db, { limit: q.limit, offset: q.offset })).map(listed);
}
