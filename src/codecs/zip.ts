// PLACEHOLDER: replaced by the real codec.
import { PassThrough } from 'node:stream';
import type { Codec } from '../core/types.ts';

export const zip = {
  name: 'zip',
  extension: '.zip',
  compress: () => new PassThrough(),
  decompress: () => new PassThrough(),
} satisfies Codec;
