// Storage registry: destination type -> backend. Adding a backend is its file, one line here, and its
// test running the shared contract suite (test/storage-contract.ts).

import { Registry } from '../core/registry.ts';
import type { StorageBackend } from '../core/types.ts';
import { local } from './local.ts';

export const storageBackends = new Registry<StorageBackend>('destination type').register('local', local);
