// Storage registry: destination type -> backend. Adding a backend is its file, one line here, and its
// test running the shared contract suite (test/support/storage-contract.ts).
//
// Cloud backends are loaded on first use (dynamic import): the AWS, Google and Azure SDKs weigh ~100 MiB
// of RSS and ~0.4 s of start-up, which a command that never touches that kind of destination must not pay.
// The registry holds loaders; unknown types are refused before anything loads. Every storage opened here
// is wrapped in withRetry (storage/retry.ts), so no caller opens a bare backend.

import { Registry } from '../core/registry.ts';
import type { DestinationSettings, Storage, StorageBackend } from '../core/types.ts';
import { local } from './local.ts';
import { withRetry } from './retry.ts';

type Loader = () => Promise<StorageBackend>;

const loaders = new Registry<Loader>('destination type')
  .register('local', async () => local)
  .register('s3', async () => (await import('./s3.ts')).s3)
  .register('gcs', async () => (await import('./gcs.ts')).gcs)
  .register('azure', async () => (await import('./azure.ts')).azure);

/** The known destination types, without loading any backend. */
export function storageTypes(): string[] {
  return loaders.names();
}

/** The backend of a destination type, loaded on first use; a usage error listing the types when unknown. */
export async function loadBackend(type: string): Promise<StorageBackend> {
  return loaders.get(type)();
}

/** Validates a destination's settings with its backend (see StorageBackend.configure). */
export async function configureStorage(type: string, input: Record<string, unknown>): Promise<DestinationSettings> {
  return (await loadBackend(type)).configure(input);
}

/** Opens a destination's storage, wrapped in the retry policy. */
export async function openStorage(type: string, settings: DestinationSettings): Promise<Storage> {
  return withRetry((await loadBackend(type)).open(settings));
}
