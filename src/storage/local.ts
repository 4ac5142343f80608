// PLACEHOLDER: replaced by the real local storage.
import type { StorageBackend } from '../core/types.ts';
import { failure } from '../core/errors.ts';

export const local = {
  type: 'local',
  configure: (input) => ({ config: { path: String(input.path) }, secrets: {} }),
  open: () => {
    throw failure('NOT_IMPLEMENTED', 'local storage is not implemented yet');
  },
} satisfies StorageBackend;
