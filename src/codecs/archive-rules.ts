// The errors and entry rules every codec shares. A damaged artifact must fail loudly and say which layer
// broke; an archive entry that could land outside the restore (`..`, an absolute path, a link, a device)
// is refused outright, never skipped, because an artifact may come from anywhere (`restore --file`).

import { type CoffreError, failure, usageError, isCoffreError } from '../core/errors.ts';

/** The artifact's bytes are damaged or cut short: the named layer (gzip, zstd, zip, tar.gz, tar) failed. */
export function corruptArtifact(layer: string, detail: string, cause?: unknown): CoffreError {
  return failure('CORRUPT_ARTIFACT', `The artifact is corrupt or truncated: its ${layer} layer failed (${detail}). Check the file was copied whole, or restore another backup.`, {
    cause,
    details: { layer },
  });
}

/** An archive holds something coffre will not unpack (an escaping path, a link, several files). */
export function unsupportedArchive(layer: string, detail: string): CoffreError {
  return usageError(
    'UNSUPPORTED_ARCHIVE',
    `The ${layer} archive cannot be restored: ${detail}. coffre restores archives that hold exactly one dump file with a plain relative name.`,
    { layer },
  );
}

/** Returns a mapper that keeps coded errors and turns any other failure inside a layer into a corrupt-artifact error. */
export function layerErrors(layer: string): (err: unknown) => Error {
  return (err) => {
    if (isCoffreError(err)) return err;
    const message = err instanceof Error ? err.message : String(err);
    return corruptArtifact(layer, message || 'unreadable data', err);
  };
}

/**
 * Refuses an entry name that would escape the folder it is unpacked into: an absolute path (also
 * `C:` or `\\`), a `..` segment, or a NUL byte. Backslashes count as separators.
 */
export function checkEntryPath(layer: string, name: string): void {
  const path = name.replaceAll('\\', '/');
  if (path.length === 0) throw unsupportedArchive(layer, 'an entry has an empty name');
  if (path.includes('\0')) throw unsupportedArchive(layer, `the entry ${JSON.stringify(name)} has a NUL byte in its name`);
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) {
    throw unsupportedArchive(layer, `the entry ${JSON.stringify(name)} has an absolute path`);
  }
  if (path.split('/').includes('..')) throw unsupportedArchive(layer, `the entry ${JSON.stringify(name)} would escape with ".."`);
}
