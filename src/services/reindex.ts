// `coffre reindex DESTINATION`: rebuilds the journal from the manifests found in a destination, for the day
// the catalog is lost (or a destination is shared with another coffre). Every `<key>.manifest.json` is read
// and checked (a coffre v1 manifest, naming this very artifact, which is present with the recorded size);
// a backup the journal does not know gets a `success` row (trigger `reindex`) and a copy on this
// destination; a known one gains the copy if it lacked it, else is skipped. Objects without a manifest are
// listed as orphans and never imported: an artifact without its manifest may be a partial or foreign file.
// Artifacts are not re-hashed here (that would download everything): `coffre verify ID` does it per backup,
// and a restore checks the sha256 before touching a target.

import { hostname } from 'node:os';
import { backupKinds, compressionNames, engineNames, type Manifest } from '../core/types.ts';
import { asCoffreError } from '../core/errors.ts';
import { newId, isoNow } from '../core/ids.ts';
import { redact } from '../core/redact.ts';
import { getBackup, listCopies, type BackupRecord } from '../catalog/journal.ts';
import { importBackup, linkCopy } from '../catalog/runs.ts';
import { findPlan } from '../catalog/plans.ts';
import { findTarget } from '../catalog/targets.ts';
import { readManifest } from '../pipeline/manifest.ts';
import type { ServiceContext } from './service-context.ts';
import { findDestinationRecord, storageOf } from './destinations.ts';

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
  if (typeof m.startedAt !== 'string' || Number.isNaN(Date.parse(m.startedAt)) || typeof m.finishedAt !== 'string' || Number.isNaN(Date.parse(m.finishedAt))) return 'its times are not ISO times';
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
    const copy = { id: newId(), backupId: m.id, destinationId: dest.id, key, sizeBytes: m.sizeBytes, checksum: `sha256:${m.sha256}`, status: 'success', message: `Found by coffre reindex ${isoNow()}.`, createdAt: isoNow() };
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
    const plan = await findPlan(db, m.plan).catch(() => undefined);
    const target = await findTarget(db, m.target).catch(() => undefined);
    const started = Date.parse(m.startedAt);
    const finished = Date.parse(m.finishedAt);
    const row: BackupRecord = {
      id: m.id,
      planId: plan?.name === m.plan ? plan.id : null,
      planName: m.plan,
      targetId: target?.name === m.target && target.engine === m.engine ? target.id : null,
      targetName: m.target,
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
      message: `Rebuilt by coffre reindex from the manifest in destination ${dest.name} (on ${hostname()}); run \`coffre verify ${m.id}\` to re-hash it.`,
      pid: null,
      host: null,
      recipients: manifestRecipients(m),
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
