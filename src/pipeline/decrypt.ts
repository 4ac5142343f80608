// Encrypted restore inputs given by path (`coffre restore --file`): an age file is authenticated end to end
// in a first read, before the target is touched, so that a damaged or truncated file is refused with
// nothing restored (a journal artifact gets the same guarantee from its sha256, checked in full first).
// The plaintext of that first read goes nowhere: no temporary file ever holds it.

import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { openEncrypted, type AgeIdentity } from '../crypto/age.ts';
import { discard } from './restore.ts';

/** Whether the file is age-encrypted; when it is, resolves only once every chunk decrypted and authenticated. */
export async function authenticateAgeFile(file: string, identities: readonly AgeIdentity[], signal?: AbortSignal): Promise<boolean> {
  const opened = await openEncrypted(createReadStream(file, { highWaterMark: 1 << 20 }), { identities, what: `The file ${file}` });
  if (!opened.encrypted) {
    opened.stream.destroy();
    return false;
  }
  await pipeline(opened.stream, discard(), { signal });
  return true;
}
