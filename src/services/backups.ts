// Backups as users see them: the journal listing, one entry, and verify. A run itself starts in
// services/plan-run.ts (one database: backup-run.ts; a whole server: server-run.ts); its view is
// services/backup-view.ts (both re-exported here for callers).

import { asCoffreError, failure } from '../core/errors.ts';
import { isoNow } from '../core/ids.ts';
import { redact } from '../core/redact.ts';
import type { BackupKind } from '../core/types.ts';
import { verifyArtifact } from '../pipeline/verify.ts';
import { checkStoredArtifact } from '../pipeline/restore.ts';
import { backupsById, getBackup, listJournalEntries, restorableStatuses, type BackupRecord, type BackupStatus } from '../catalog/journal.ts';
import { recordVerification } from '../catalog/runs.ts';
import { findPlan } from '../catalog/plans.ts';
import { notFound, usageError } from '../core/errors.ts';
import type { ServiceContext } from './service-context.ts';
import { copyLocations, copyViewsOf, locateCopy } from './copies.ts';
import { verifyChain } from './chains.ts';
import { checkKeyringOpens, keyringOf, recordedRecipients, type IdentitySources } from './keys.ts';
import { describeBackup, type BackupView, type RunOutcome } from './backup-view.ts';
import { findServerRun, serverRunsById } from '../catalog/server-runs.ts';
import { describeServerRunView, describeServerRunViews } from './server-view.ts';

export { describeBackup, type BackupView, type RunOutcome } from './backup-view.ts';
export { ensurePlanIdle, type RunBackupOptions } from './backup-run.ts';
export { runBackup, runBackupThenPrune } from './plan-run.ts';

/** Views of journal rows with their copies. */
async function describeWithCopies(ctx: ServiceContext, rows: BackupRecord[]): Promise<BackupView[]> {
  const copies = await copyViewsOf(
    ctx,
    rows.map((r) => r.id),
  );
  return rows.map((r) => describeBackup(r, copies.get(r.id) ?? []));
}

export interface JournalQuery {
  /** Plan name, id or id prefix; a removed plan's name still finds its rows. */
  plan?: string;
  status?: BackupStatus;
  kind?: BackupKind;
  from?: string;
  to?: string;
  limit?: number;
  offset?: number;
}

/** Backup journal rows, newest first. */
export async function listJournal(ctx: ServiceContext, q: JournalQuery = {}): Promise<BackupView[]> {
  if (q.limit !== undefined && (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 10000)) {
    throw usageError('BAD_LIMIT', 'The limit must be a whole number between 1 and 10000.', { field: 'limit' });
  }
  let planId: string | undefined;
  let planName: string | undefined;
  if (q.plan) {
    const plan = await findPlan(ctx.catalog.db, q.plan);
    if (plan) planId = plan.id;
    else planName = q.plan;
  }
  const db = ctx.catalog.db;
  // Paged as entries: a server run is one, with its databases beneath (services/server-view.ts).
  const entries = await listJournalEntries(db, { planId, planName, status: q.status, kind: q.kind, from: q.from, to: q.to, limit: q.limit, offset: q.offset });
  if (planName && entries.length === 0 && !q.offset) throw notFound('PLAN_NOT_FOUND', `No plan named "${q.plan}" and no journal rows for it: see {hint}.`, { see: 'plans' });
  const rowIds = entries.filter((e) => e.entry === 'row').map((e) => e.id);
  const runIds = entries.filter((e) => e.entry === 'run').map((e) => e.id);
  const [singles, groups] = await Promise.all([
    backupsById(db, rowIds).then((rows) => describeWithCopies(ctx, rows)),
    serverRunsById(db, runIds).then((runs) => describeServerRunViews(ctx, [...runs.values()])),
  ]);
  const views = new Map([...singles.map((v) => [v.id, v] as const), ...groups]);
  return entries.map((e) => views.get(e.id)).filter((v): v is BackupView => v !== undefined);
}

/** One journal row by id or unique prefix, with its copies. */
export async function getJournalEntry(ctx: ServiceContext, ref: string): Promise<BackupView> {
  const run = await findServerRun(ctx.catalog.db, ref);
  if (run) return describeServerRunView(ctx, run);
  return (await describeWithCopies(ctx, [await getBackup(ctx.catalog.db, ref)]))[0];
}

/** The result of verifying a backup: the journal row's fields, with the verification's status and message. */
export type VerifyView = BackupView & { verifiedAt: string };

/**
 * Re-hashes a stored backup and decompresses it end to end against its journal row; no database is touched.
 * The copy read is the first one found intact in size, local destinations first (services/copies.ts).
 */
export async function verifyBackup(ctx: ServiceContext, ref: string, signal?: AbortSignal, options: { identities?: IdentitySources } = {}): Promise<RunOutcome<VerifyView>> {
  const run = await getBackup(ctx.catalog.db, ref);
  const base = (await describeWithCopies(ctx, [run]))[0];
  if (!restorableStatuses.includes(run.status) || !run.artifactKey || !run.sha256 || !run.rawSha256 || run.sizeBytes === null || run.rawSizeBytes === null) {
    throw usageError('BACKUP_NOT_VERIFIABLE', `Backup ${run.id} is ${run.status}: only successful backups can be verified.`);
  }
  // Identities given or kept in the catalog; with none, an encrypted backup is checked by its sha256 only.
  const keyring = await keyringOf(ctx, options.identities);
  const recipients = recordedRecipients(run);
  if (keyring.length > 0) checkKeyringOpens(`Backup ${run.id}`, recipients, keyring);
  let outcome;
  let from = '';
  if (run.parentId)
    outcome = await verifyChain(ctx, run, signal, keyring); // a delta: every link's sha256, then the rebuilt dump's
  else {
    let copy;
    try {
      copy = await locateCopy(ctx, run);
    } catch (err) {
      outcome = { status: 'failed' as const, message: asCoffreError(err).message };
    }
    if (copy) {
      from = ` (copy on destination ${copy.destination})`;
      outcome = await verifyArtifact(copy.storage, copy.key, { sha256: run.sha256, sizeBytes: run.sizeBytes, rawSha256: run.rawSha256, rawSizeBytes: run.rawSizeBytes }, signal, {
        identities: keyring,
        recipients,
      });
      // Every other copy must hold the same bytes: one full read and hash each (same sha256, same dump).
      const others = (await copyLocations(ctx, run)).filter((l) => !(l.destinationId === copy.destinationId && l.key === copy.key));
      if (outcome.status === 'success' && others.length > 0) {
        const bad: string[] = [];
        for (const other of others) {
          try {
            await checkStoredArtifact(other.storage, other.key, { sha256: run.sha256, size: run.sizeBytes }, signal);
          } catch (err) {
            bad.push(`${other.destination}: ${asCoffreError(err).message}`);
          }
        }
        const names = [copy.destination, ...others.map((o) => o.destination)].join(', ');
        from = bad.length === 0 ? ` (all ${others.length + 1} copies checked: ${names})` : from;
        if (bad.length > 0) {
          outcome = {
            status: 'failed' as const,
            message: `${bad.length} of ${others.length + 1} copies fail verification (${bad.join('; ')}); the copy on ${copy.destination} is intact.`,
          };
          from = '';
        }
      }
    }
  }
  outcome ??= { status: 'failed' as const, message: 'Nothing was verified.' };
  const verifiedAt = isoNow();
  const message = redact(outcome.message + from);
  await recordVerification(ctx, run.id, { verifiedAt, verifyStatus: outcome.status, verifyMessage: message });
  const view: VerifyView = { ...base, status: outcome.status, message, verifiedAt, lastVerifiedAt: verifiedAt, lastVerifyStatus: outcome.status, lastVerifyMessage: message };
  return outcome.status === 'success' ? { view } : { view, error: failure('VERIFY_FAILED', view.message ?? 'Verification failed.') };
}
