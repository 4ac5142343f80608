// The manifest written beside each artifact (`<key>.manifest.json`): enough for a person, or coffre
// without its catalog, to understand and restore the artifact. It is written last, after the artifact is
// stored and checked, so an artifact without a manifest is never taken for a finished backup.

import { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import type { Manifest, Storage } from '../core/types.ts';
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
