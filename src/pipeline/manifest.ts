// The manifest written beside each artifact (`<key>.manifest.json`): enough for a person, or coffre
// without its catalog, to understand and restore the artifact. It is written last, after the artifact is
// stored and checked, so an artifact without a manifest is never taken for a finished backup.

import { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import type { BackupKind, CompressionName, EngineName, Manifest, RowCounts, Storage } from '../core/types.ts';
import { failure } from '../core/errors.ts';

/** The manifest's key for an artifact key. */
export function manifestKey(artifactKey: string): string {
  return `${artifactKey}.manifest.json`;
}

let version: string | undefined;

/** coffre's own version, from package.json. */
export function coffreVersion(): string {
  if (version === undefined) {
    try {
      version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

/**
 * Removes an artifact and its manifest from one storage: the one place a run's files are deleted (a failed
 * or interrupted run, a failed copy, retention, a dead run's recovery). Missing files are no error.
 */
export async function removeArtifact(storage: Storage, key: string): Promise<void> {
  await storage.delete(key);
  await storage.delete(manifestKey(key));
}

/** What a run knows of itself when its artifact is stored (the journal row's fields). */
export interface ManifestRun {
  id: string;
  planName: string;
  targetName: string;
  planId?: string | null;
  targetId?: string | null;
  engine: EngineName;
  database: string;
  kind: string;
  compression: string;
  artifactKey: string | null;
  startedAt: string;
  finishedAt: string;
  parent?: { id: string; sha256: string; key: string };
  /** The age recipients the artifact is encrypted to (compressed, then encrypted); absent or empty: not encrypted. */
  recipients?: readonly string[];
}

/** What the pipeline measured of the stored artifact. */
export interface ManifestResult {
  rawFormat: Manifest['rawFormat'];
  sizeBytes: number;
  rawSizeBytes: number;
  sha256: string;
  rawSha256: string;
  tool: string;
  clientVersion: string;
  serverVersion: string;
  rowCounts?: RowCounts;
}

/** The manifest of a stored artifact. */
export function buildManifest(run: ManifestRun, r: ManifestResult): Manifest {
  return {
    format: 'coffre-manifest',
    version: 1,
    id: run.id,
    plan: run.planName,
    ...(run.planId ? { planId: run.planId } : {}),
    ...(run.targetId ? { targetId: run.targetId } : {}),
    target: run.targetName,
    engine: run.engine,
    database: run.database,
    kind: run.kind as BackupKind,
    ...(run.parent ? { parent: { id: run.parent.id, sha256: run.parent.sha256, artifact: run.parent.key } } : {}),
    compression: run.compression as CompressionName,
    rawFormat: r.rawFormat,
    artifact: run.artifactKey!,
    sizeBytes: r.sizeBytes,
    rawSizeBytes: r.rawSizeBytes,
    sha256: r.sha256,
    rawSha256: r.rawSha256,
    tool: r.tool,
    clientVersion: r.clientVersion,
    serverVersion: r.serverVersion,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    coffreVersion: coffreVersion(),
    ...(run.recipients?.length ? { encryption: { format: 'age-v1' as const, recipients: [...run.recipients] } } : {}),
    ...(r.rowCounts ? { rowCounts: r.rowCounts } : {}),
  };
}

/** Stores the manifest beside its artifact. */
export async function writeManifest(storage: Storage, manifest: Manifest, signal?: AbortSignal): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
  await storage.put(manifestKey(manifest.artifact), Readable.from([body]), signal);
}

/** Reads and checks an artifact's manifest. */
export async function readManifest(storage: Storage, artifactKey: string): Promise<Manifest> {
  const chunks: Buffer[] = [];
  for await (const c of await storage.get(manifestKey(artifactKey))) {
    chunks.push(Buffer.from(c));
    if (chunks.reduce((n, b) => n + b.length, 0) > 1 << 20) throw failure('MANIFEST_INVALID', `The manifest of ${artifactKey} is larger than 1 MiB: it is not a coffre manifest.`);
  }
  let parsed: Manifest;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest;
  } catch {
    throw failure('MANIFEST_INVALID', `The manifest of ${artifactKey} is not valid JSON.`);
  }
  if (parsed.format !== 'coffre-manifest' || parsed.version !== 1) throw failure('MANIFEST_INVALID', `The manifest of ${artifactKey} is not a version 1 coffre manifest.`);
  return parsed;
}
