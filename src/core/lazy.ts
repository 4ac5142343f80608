// Packages loaded the first time a function needs them rather than when the module naming them loads. The
// registries load every engine and codec, so without this every command (a PostgreSQL backup, `coffre
// journal`) also loaded MongoDB's BSON (~10 ms), tar-stream (~8 ms) and yazl (~4 ms) that it never uses.
// require() loads synchronously, for code that cannot await (a codec's compress() returns its stream at once).

import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/** `name`'s module, loaded on the first call (its CommonJS build, the one the MongoDB driver loads too). */
export function lazy<T>(name: string): () => T {
  let mod: T | undefined;
  return () => {
    mod ??= load(name) as T;
    return mod;
  };
}
