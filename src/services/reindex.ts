// `coffre reindex DESTINATION`: rebuilds the journal from the manifests found in a destination, for the day
// the catalog is lost (or a destination is shared with another coffre). Every `<key>.manifest.json` is read
// and checked (a coffre v1 manifest, naming this very artifact, which is present with the recorded size);
// a backup the journal does not know gets a `success` row (trigger `reindex`) and a copy on this
// destination; a known one gains the copy if it lacked it, else is skipped. Objects without a manifest are
// listed as orphans and never imported: an artifact without its manifest may be a partial or foreign file.
// Artifacts are not re-hashed here (that would download everything): `coffre verify ID` does it per backup,
// and a restore checks the sha256 before touching a target.
//
// A manifest is a claim anyone who can write to the destination can make (issue 9, finding 5). An imported
// row therefore counts for no plan until a person adopts it (`adoptBackup`, `coffre journal adopt`): its
// plan_id stays null, so no retention, delta parent, latest-backup or RPO query of a plan sees it, and a
// restore of it needs an explicit target. It is attached (import_plan_id) only to the plan whose id its
// manifest names, never by name; the target likewise only by id.

import { hostname } from 'node:os';
import { backupKinds, compressionNames, engineNames, type Manifest } from '../core/types.ts';
import { asCoffreError, conflict, usageError } from '../core/errors.ts';
import { newId, isoNow } from '../core/ids.ts';
import { redact } from '../core/redact.ts';
import { getBackup, isPendingImport, listCopies, restorableStatuses, type BackupRecord } from '../catalog/journal.ts';
import { adoptImported, importBackup, linkCopy } from '../catalog/runs.ts';
import { getPlan } from '../catalog/plans.ts';
import { getTarget } from '../catalog/targets.ts';
import { readManifest } from '../pipeline/manifest.ts';
import type { ServiceContext } from './service-context.ts';
import { findDestinationRecord, storageOf } from './destinations.ts';
import { findPlanRecord } from './plans.ts';

const MANIFEST_SUFFIX = '.manifest.json';

export interface ReindexItem {
  id: string;
  plan: string;
  kind: string;
  artifact: string;
  startedAt: string;
}

/** What a reindex found and did. */
export interface ReindexReport {
  destination: string;
  destinationId: string;
  /** Objects listed in the destination. */
  scanned: number;
  /** Backups the journal did not know, now journaled `success` with a copy here. */
  imported: ReindexItem[];
  /** Known backups that gained the record of their copy here. */
  linked: ReindexItem[];
  /** Known backups whose copy here was already recorded. */
  skipped: ReindexItem[];
  /** Objects without a manifest: not imported. */
  orphans: Array<{ key: string; sizeBytes: number }>;
  /** Manifests that do not check out (unreadable, artifact missing or of another size, clash with the journal). */
  invalid: Array<{ key: string; reason: string }>;
}

const HEX64 = /^[0-9a-f]{64}$/;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Why a parsed manifest cannot be imported, or undefined when it can. */
function manifestProblem(m: Manifest, artifactKey: string): string | undefined {
  if (m.artifact !== artifactKey) return `it describes "${m.artifact}", not the artifact beside it`;
  if (typeof m.id !== 'string' || !ID.test(m.id)) return 'its id is not a coffre journal id';
  if (!engineNames.includes(m.engine)) return `unknown engine ${JSON.stringify(m.engine)}`;
  if (!backupKinds.includes(m.kind)) return `unknown kind ${JSON.stringify(m.kind)}`;
  if (!compressionNames.includes(m.compression)) return `unknown compression ${JSON.stringify(m.compression)}`;
  if (typeof m.sha256 !== 'string' || !HEX64.test(m.sha256) || typeof m.rawSha256 !== 'string' || !HEX64.test(m.rawSha256)) return 'its sha256 fields are not sha256 digests';
  if (!Number.isSafeInteger(m.sizeBytes) || !Number.isSafeInteger(m.rawSizeBytes)) return 'its sizes are not whole numbers';
  if (m.kind !== 'full' && (!m.parent || !ID.test(m.parent.id) || !HEX64.test(m.parent.sha256))) return `a ${m.kind} backup without a valid parent`;
  if (typeof m.startedAt !== 'string' || Number.isNaN(Date.parse(m.startedAt)) || typeof m.finishedAt !== 'string' || Number.isNaN(Date.parse(m.finishedAt)))
    return 'its times are not ISO times';
  return undefined;
}

/** Scans a destination and journals the backups its manifests describe; see the module header. */
export async function reindexDestination(ctx: ServiceContext, ref: string): Promise<ReindexReport> {
  const db = ctx.catalog.db;
  const dest = await findDestinationRecord(ctx, ref);
  const storage = await storageOf(ctx, dest);
  const objects = new Map<string, number>();
  for await (const info of storage.list('')) {
    if (info.key.endsWith('.partial') || info.key.split('/').pop()!.startsWith('.coffre-check-')) continue;
    objects.set(info.key, info.size);
  }
  const report: ReindexReport = { destination: dest.name, destinationId: dest.id, scanned: objects.size, imported: [], linked: [], skipped: [], orphans: [], invalid: [] };

  const found: Array<{ key: string; manifest: Manifest }> = [];
  for (const [key, size] of objects) {
    if (key.endsWith(MANIFEST_SUFFIX)) {
      const artifactKey = key.slice(0, -MANIFEST_SUFFIX.length);
      let manifest: Manifest;
      try {
        manifest = await readManifest(storage, artifactKey);
      } catch (err) {
        report.invalid.push({ key, reason: redact(asCoffreError(err).message) });
        continue;
      }
      const problem = manifestProblem(manifest, artifactKey);
      const stored = objects.get(artifactKey);
      if (problem) report.invalid.push({ key, reason: `The manifest cannot be trusted: ${problem}.` });
      else if (stored === undefined) report.invalid.push({ key, reason: `Its artifact ${artifactKey} is not in the destination.` });
      else if (stored !== manifest.sizeBytes) report.invalid.push({ key, reason: `Its artifact holds ${stored} bytes, and the manifest says ${manifest.sizeBytes}.` });
      else found.push({ key: artifactKey, manifest });
    } else if (!objects.has(key + MANIFEST_SUFFIX)) {
      report.orphans.push({ key, sizeBytes: size });
    }
  }

  // Oldest first, so a chain's parents are journaled before their children.
  found.sort((a, b) => (a.manifest.startedAt < b.manifest.startedAt ? -1 : a.manifest.startedAt > b.manifest.startedAt ? 1 : 0));
  for (const { key, manifest: m } of found) {
    const item: ReindexItem = { id: m.id, plan: m.plan, kind: m.kind, artifact: key, startedAt: m.startedAt };
    const known = await getBackup(db, m.id).catch(() => undefined);
    const copy = {
      id: newId(),
      backupId: m.id,
      destinationId: dest.id,
      key,
      sizeBytes: m.sizeBytes,
      checksum: `sha256:${m.sha256}`,
      status: 'success',
      message: `Found by coffre reindex ${isoNow()}.`,
      createdAt: isoNow(),
    };
    if (known) {
      if (known.sha256 !== null && known.sha256 !== m.sha256) {
        report.invalid.push({ key: key + MANIFEST_SUFFIX, reason: `The journal's backup ${m.id} has sha256 ${known.sha256}, and this manifest says ${m.sha256}: left alone.` });
        continue;
      }
      const copies = await listCopies(db, m.id);
      if (copies.some((c) => c.destinationId === dest.id && c.key === key && c.status === 'success')) report.skipped.push(item);
      else {
        await linkCopy(ctx, copy);
        report.linked.push(item);
      }
      continue;
    }
    // By id only: a name (or an id prefix) in a manifest proves nothing.
    const plan = typeof m.planId === 'string' && ID.test(m.planId) ? await getPlan(db, m.planId) : undefined;
    const target = typeof m.targetId === 'string' && ID.test(m.targetId) ? await getTarget(db, m.targetId) : undefined;
    const started = Date.parse(m.startedAt);
    const finished = Date.parse(m.finishedAt);
    const row: BackupRecord = {
      id: m.id,
      planId: null,
      importPlanId: plan?.id ?? null,
      planName: plan?.name ?? m.plan,
      targetId: target && target.engine === m.engine ? target.id : null,
      targetName: target && target.engine === m.engine ? target.name : m.target,
      engine: m.engine,
      database: m.database,
      kind: m.kind,
      requestedKind: m.kind,
      parentId: m.parent?.id ?? null,
      parentSha256: m.parent?.sha256 ?? null,
      status: 'success',
      trigger: 'reindex',
      compression: m.compression,
      rawFormat: m.rawFormat,
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      durationMs: finished - started,
      rawSizeBytes: m.rawSizeBytes,
      sizeBytes: m.sizeBytes,
      sha256: m.sha256,
      rawSha256: m.rawSha256,
      artifactKey: key,
      serverVersion: m.serverVersion,
      clientVersion: m.clientVersion,
      tool: m.tool,
      // Stored, and read from the CLI, the API and the dashboard alike: both edges' words.
      message: `Rebuilt by reindex from the manifest in destination ${dest.name} (on ${hostname()}); not adopted: it counts for no plan until a person adopts it (\`coffre journal adopt ${m.id}${plan ? '' : ' --plan PLAN'}\`, POST /api/journals/${m.id}/adopt), and a restore of it must name its target; a verify (\`coffre verify ${m.id}\`, POST /api/journals/${m.id}/verify) re-hashes it.`,
      pid: null,
      host: null,
      recipients: manifestRecipients(m),
      rowCounts: manifestRowCounts(m),
      adoptedAt: null,
      adoptedBy: null,
    };
    await importBackup(ctx, row, copy);
    report.imported.push(item);
  }
  return report;
}

/** The age recipients a manifest names (public keys only; anything else in the field is dropped), as the journal column holds them. */
function manifestRecipients(m: Manifest): string | null {
  const list = Array.isArray(m.encryption?.recipients) ? m.encryption.recipients.filter((r) => typeof r === 'string' && /^age1[02-9ac-hj-np-z]{58}$/.test(r)) : [];
  return list.length ? JSON.stringify(list) : null;
}

const ROW_COUNT_METHODS = new Set(['copy-rows', 'insert-tuples', 'bson-documents', 'snapshot-count']);

/**
 * The row counts a manifest recorded, for the drills of a rebuilt row, as the journal column holds them; null
 * when absent or not of the shape coffre writes (a known method, at most 100,000 tables with names of at most
 * 1,000 characters, each a whole count): a drill then skips its row-count check and says so.
 */
function manifestRowCounts(m: Manifest): string | null {
  const rc = m.rowCounts as unknown;
  if (!rc || typeof rc !== 'object') return null;
  const { method, tables } = rc as { method?: unknown; tables?: unknown };
  if (typeof method !== 'string' || !ROW_COUNT_METHODS.has(method) || !tables || typeof tables !== 'object' || Array.isArray(tables)) return null;
  const entries = Object.entries(tables as Record<string, unknown>);
  if (entries.length > 100_000) return null;
  for (const [name, n] of entries) if (name.length > 1000 || !Number.isSafeInteger(n) || (n as number) < 0) return null;
  return JSON.stringify({ method, tables: Object.fromEntries(entries) });
}

/** How far ahead of this host's clock an adopted backup may claim to have started (clock skew between hosts). */
const FUTURE_SLACK_MS = 3600_000;

export interface AdoptOptions {
  /** Plan name, id or prefix; default: the plan the manifest named by id. */
  plan?: string;
  /** Who adopts it (the token's name, or `cli:USER`), kept on the row. */
  by: string;
  /** Defaults to the current time (tests pass a controlled one). */
  now?: Date;
}

/**
 * Adopts a row imported by `coffre reindex` into a plan: from now on it counts for that plan (retention,
 * delta parent, latest backup, RPO) and restores by default into the plan's target (or the target its
 * manifest named by id, when that one exists here with the same engine). Refused, with nothing changed,
 * for one of coffre's own rows, a row already adopted into another plan, a backup of another engine than
 * the plan's target, a delta whose parent is not a backup of that plan yet (adopt the parent first), and a
 * backup that claims to start in the future (a manifest's date cannot be taken on trust).
 */
export async function adoptBackup(ctx: ServiceContext, ref: string, options: AdoptOptions): Promise<BackupRecord> {
  const db = ctx.catalog.db;
  const row = await getBackup(db, ref);
  if (row.trigger !== 'reindex')
    throw usageError('NOT_IMPORTED', `Backup ${row.id} was made by coffre (trigger ${row.trigger}), not imported by reindex: it belongs to its plan already.`);
  const planRef = options.plan ?? row.importPlanId ?? undefined;
  if (!planRef) {
    throw usageError(
      'ADOPT_NEEDS_PLAN',
      `Backup ${row.id} was imported from a manifest that names no plan of this catalog by id (it claims "${row.planName}"): say which plan it belongs to: {hint}.`,
      { field: 'planId' },
      { adopt: [row.id], plan: 'PLAN' },
    );
  }
  const plan = await findPlanRecord(ctx, planRef);
  if (!isPendingImport(row)) {
    if (row.planId === plan.id) return row;
    throw conflict('ALREADY_ADOPTED', `Backup ${row.id} was adopted into plan ${row.planName} on ${row.adoptedAt} by ${row.adoptedBy}.`);
  }
  if (!restorableStatuses.includes(row.status) || row.prunedAt)
    throw usageError('BACKUP_NOT_RESTORABLE', `Backup ${row.id} is ${row.prunedAt ? 'pruned' : row.status}: only a restorable backup can be adopted.`);
  const now = (options.now ?? new Date()).getTime();
  if (Date.parse(row.startedAt) > now + FUTURE_SLACK_MS || (row.finishedAt && Date.parse(row.finishedAt) > now + FUTURE_SLACK_MS)) {
    throw usageError(
      'ADOPT_FUTURE_BACKUP',
      `Backup ${row.id} claims to have started on ${row.startedAt}, in the future: its manifest is not to be trusted, and adopting it would make it plan ${plan.name}'s newest backup. Restore it with {hint} if you need its content.`,
      undefined,
      { target: 'TARGET' },
    );
  }
  const planTarget = await getTarget(db, plan.targetId);
  if (!planTarget) throw conflict('MISSING_TARGET', `Plan ${plan.name} has no target.`);
  if (planTarget.engine !== row.engine) {
    throw usageError(
      'FORMAT_MISMATCH',
      `Backup ${row.id} is a ${row.engine} dump and plan ${plan.name} backs up a ${planTarget.engine} target: adopt it into a ${row.engine} plan.`,
    );
  }
  if (row.parentId) {
    const parent = await getBackup(db, row.parentId).catch(() => undefined);
    if (!parent || parent.planId !== plan.id) {
      throw usageError(
        'ADOPT_PARENT_FIRST',
        `Backup ${row.id} is ${row.kind === 'incremental' ? 'an' : 'a'} ${row.kind} whose parent ${row.parentId} is ${parent ? `not a backup of plan ${plan.name}` : 'not in the journal'}: adopt the parent first, then this one: {hint}.`,
        undefined,
        { adopt: [row.parentId, row.id], plan: plan.name },
      );
    }
  }
  const own = row.targetId ? await getTarget(db, row.targetId) : undefined;
  const target = own && own.engine === row.engine ? own : planTarget;
  const adoptedAt = isoNow();
  if (!(await adoptImported(ctx, row.id, { planId: plan.id, planName: plan.name, targetId: target.id, targetName: target.name, adoptedAt, adoptedBy: options.by }))) {
    const now2 = await getBackup(db, row.id);
    if (now2.planId === plan.id) return now2;
    throw conflict('ALREADY_ADOPTED', `Backup ${row.id} was adopted into plan ${now2.planName} meanwhile.`);
  }
  return getBackup(db, row.id);
}
