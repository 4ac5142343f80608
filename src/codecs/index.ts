// Codec registry: compression name -> implementation. Adding a codec is its file, its name in
// core/codec-names.ts, one line here, and its test; the compiler refuses a name without its codec here
// (or a codec under another's name), and codecs/sniff.ts recognises it by the magic bytes it declares.

import type { CompressionName } from '../core/codec-names.ts';
import { Registry } from '../core/registry.ts';
import type { Codec } from '../core/types.ts';
import { gzip } from './gzip.ts';
import { none } from './none.ts';
import { targz } from './targz.ts';
import { zip } from './zip.ts';
import { zstd } from './zstd.ts';

const implementations: { [N in CompressionName]: Codec & { name: N } } = { gzip, zstd, zip, targz, none };

// An unknown name has the code the plan's own check gives it (services/plans.ts: checkCompression).
export const codecs = new Registry<Codec>('compression', 'BAD_COMPRESSION');
for (const codec of Object.values(implementations)) codecs.register(codec.name, codec);
