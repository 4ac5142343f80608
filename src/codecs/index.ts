// Codec registry: compression name -> implementation. Adding a codec is its file, one line here, and its test.

import { Registry } from '../core/registry.ts';
import type { Codec } from '../core/types.ts';
import { gzip } from './gzip.ts';
import { zstd } from './zstd.ts';
import { zip } from './zip.ts';
import { targz } from './targz.ts';
import { none } from './none.ts';

// An unknown name has the code the plan's own check gives it (services/plans.ts: checkCompression).
export const codecs = new Registry<Codec>('compression', 'BAD_COMPRESSION')
  .register('gzip', gzip)
  .register('zstd', zstd)
  .register('zip', zip)
  .register('targz', targz)
  .register('none', none);
