// No compression: the artifact is the raw dump, byte for byte. Useful when the dump is already
// compressed (pg_dump -Fc) or the storage compresses on its own.

import { PassThrough } from 'node:stream';
import type { Codec } from '../core/types.ts';

export const none = {
  name: 'none',
  extension: '',
  compress: () => new PassThrough(),
  decompress: () => new PassThrough(),
} satisfies Codec;
