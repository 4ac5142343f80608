// Storage registry: destination type -> backend. Adding a backend is its file, one line here, and its
// test running the shared contract suite (test/storage-contract.ts).

import { Registry } from '../core/registry.ts';
import type { StorageBackend } from '../core/types.ts';
import { local } from './local.ts';
import { s3 } from './s3.ts';
import { gcs } from './gcs.ts';
import { azure } from './azure.ts';

export const storageBackends = new Registry<StorageBackend>('destination type').register('local', local)
  .register('s3', s3)
  .register('gcs', gcs)
  .register('azure', azure);
