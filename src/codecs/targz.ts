// PLACEHOLDER: replaced by the real codec.
import { PassThrough } from 'node:stream';
import type { Codec } from '../core/types.ts';

export const targz = {
  name: 'targz',
  extension: '.tar.gz',
  compress: () => new PassThrough(),
  decompress: () => new PassThrough(),
} satisfies Codec;
