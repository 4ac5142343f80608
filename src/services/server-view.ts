// How a server run is shown (CLI journal, --json, API): one line, the group's, shaped like a backup row
// (id: the run's, sizes summed) with its databases' rows beneath in `databases`.

import type { ServiceContext } from './service-context.ts';
import { backupsOfRun, backupsOfRuns, type ServerRunRecord } from '../catalog/server-runs.ts';
import { copyViewsOf } from './copies.ts';
import { describeBackup, type BackupView } from './backup-view.ts';
import type { BackupKind, EngineName } from '../core/types.ts';
import type { BackupRecord } from '../catalog/journal.ts';

function sum(rows: BackupView[], f: (r: BackupView) => number | null): number | null {
  const v = rows.map(f).filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) : null;
}

/** The group's view from its record and its rows' views. */
export function groupView(g: ServerRunRecord, rows: BackupView[]): BackupView {
  const first = rows.find((r) => r.runPart !== 'globals') ?? rows[0];
  return {
    id: g.id,
    status: g.status as BackupView['status'],
    kind: (rows.every((r) => r.kind === rows[0]?.kind) && rows[0] ? rows[0].kind : g.requestedKind) as BackupKind,
    requestedKind: g.requestedKind as BackupKind,
    plan: g.planName,
    target: g.targetName,
    engine: g.engine as EngineName,
    database: `${g.databases.length} database${g.databases.length === 1 ? '' : 's'}`,
    compression: first?.compression ?? 'none',
    rawFormat: null,
    sizeBytes: sum(rows, (r) => r.sizeBytes),
    rawSizeBytes: sum(rows, (r) => r.rawSizeBytes),
    sha256: null,
    rawSha256: null,
    artifact: null,
    parentId: null,
    trigger: g.trigger,
    startedAt: g.startedAt,
    finishedAt: g.finishedAt,
    durationMs: g.durationMs,
    tool: first?.tool ?? null,
    clientVersion: first?.clientVersion ?? null,
    serverVersion: first?.serverVersion ?? null,
    message: g.message,
    copies: [],
    recipients: first?.recipients ?? [],
    lastVerifiedAt: null,
    lastVerifyStatus: null,
    lastVerifyMessage: null,
    adoption: null,
    adoptedAt: null,
    adoptedBy: null,
    runId: g.id,
    runPart: 'run',
    databases: rows,
    newDatabases: g.newDatabases,
    vanished: g.vanished,
    failedDatabases: g.failed,
  };
}

async function viewsOf(ctx: ServiceContext, rows: BackupRecord[]): Promise<BackupView[]> {
  const copies = await copyViewsOf(
    ctx,
    rows.map((r) => r.id),
  );
  return rows.map((r) => describeBackup(r, copies.get(r.id) ?? []));
}

/** One server run's view, with its rows. */
export async function describeServerRunView(ctx: ServiceContext, g: ServerRunRecord): Promise<BackupView> {
  return groupView(g, await viewsOf(ctx, await backupsOfRun(ctx.catalog.db, g.id)));
}

/** Views of several server runs. */
export async function describeServerRunViews(ctx: ServiceContext, groups: ServerRunRecord[]): Promise<Map<string, BackupView>> {
  const rowsByRun = await backupsOfRuns(
    ctx.catalog.db,
    groups.map((g) => g.id),
  );
  const out = new Map<string, BackupView>();
  for (const g of groups) out.set(g.id, groupView(g, await viewsOf(ctx, rowsByRun.get(g.id) ?? [])));
  return out;
}
