// Local disk storage under a root folder (BACKUP_ROOT by default). An object is written as
// `<key>.partial`, fsynced, renamed onto `<key>`, and the folder fsynced, so that a crash leaves either
// the whole previous state or the whole new object, never a truncated file under the real name.
// Folders are created 0700 and files 0600: backups hold a database's entire contents.

import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { loadConfig } from '../config.ts';
import { asCoffreError, conflict, failure, notFound, usageError } from '../core/errors.ts';
import type { GetRange, ObjectInfo, PutResult, Storage, StorageBackend } from '../core/types.ts';

const PARTIAL = '.partial';

/** Checks a storage key and returns its path under root; a key can never point outside root. */
export function resolveKey(root: string, key: string): string {
  if (!key || key.startsWith('/') || key.includes('\\') || key.includes('\0') || key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw usageError('BAD_KEY', `Invalid storage key "${key}": keys are relative, "/"-separated, without "." or ".." parts.`);
  }
  return path.join(root, ...key.split('/'));
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The destination's path names a file (saved before paths were checked, or replaced since). */
function notAFolder(root: string): Error {
  return conflict(
    'DESTINATION_NOT_A_FOLDER',
    `Local destination path ${root} is not a folder: point the destination at a folder (coffre destination edit NAME --path DIR, or PATCH /api/destinations/:id).`,
    { path: root },
  );
}

/** The nearest existing path at or above p, if it is not a folder (a destination there could never be written). */
function fileInTheWay(p: string): string | undefined {
  for (let at = p; ; at = path.dirname(at)) {
    try {
      return statSync(at).isDirectory() ? undefined : at;
    } catch {
      if (path.dirname(at) === at) return undefined;
    }
  }
}

/** A Storage on a local folder. */
export function localStorage(root: string): Storage {
  const rootDir = path.resolve(root);

  async function put(key: string, input: Readable, signal?: AbortSignal): Promise<PutResult> {
    const file = resolveKey(rootDir, key);
    const partial = file + PARTIAL;
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      fh = await open(partial, 'w', 0o600);
      const hash = createHash('sha256');
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      // flush: the stream fsyncs the file before closing it (and closes fh), so pipeline resolves only once durable.
      const out = fh.createWriteStream({ flush: true, highWaterMark: 1 << 20 });
      fh = undefined;
      await pipeline(input, tap, out, { signal });
      const written = await stat(partial);
      if (written.size !== size) {
        throw failure('SHORT_WRITE', `Wrote ${size} bytes to ${partial} but the file holds ${written.size}: the disk may be failing.`);
      }
      await rename(partial, file);
      await fsyncDir(path.dirname(file));
      return { size, sha256: hash.digest('hex') };
    } catch (err) {
      await fh?.close().catch(() => {});
      await rm(partial, { force: true }).catch(() => {});
      input.destroy();
      throw asCoffreError(err, 'STORAGE_WRITE_FAILED');
    }
  }

  async function get(key: string, range?: GetRange): Promise<Readable> {
    const file = resolveKey(rootDir, key);
    try {
      const fh = await open(file, 'r');
      return fh.createReadStream({ start: range?.start, end: range?.end, highWaterMark: 1 << 20 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('ARTIFACT_NOT_FOUND', `No object "${key}" in local storage ${rootDir}.`);
      throw asCoffreError(err, 'STORAGE_READ_FAILED');
    }
  }

  async function statKey(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(resolveKey(rootDir, key));
      return s.isFile() ? { key, size: s.size, modified: s.mtime } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw asCoffreError(err, 'STORAGE_READ_FAILED');
    }
  }

  async function* walk(dir: string, rel: string): AsyncGenerator<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' && dir === rootDir) throw notAFolder(rootDir);
      throw asCoffreError(err, 'STORAGE_READ_FAILED');
    }
    for (const e of entries) {
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) yield* walk(path.join(dir, e.name), key);
      else if (e.isFile() && !e.name.endsWith(PARTIAL)) {
        const s = await stat(path.join(dir, e.name)).catch(() => undefined);
        if (s) yield { key, size: s.size, modified: s.mtime };
      }
    }
  }

  async function* list(prefix: string): AsyncGenerator<ObjectInfo> {
    // Walk only the deepest folder the prefix names, then filter by the rest.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const dir = dirKey ? resolveKey(rootDir, dirKey) : rootDir;
    for await (const obj of walk(dir, dirKey)) if (obj.key.startsWith(prefix)) yield obj;
  }

  async function remove(key: string): Promise<void> {
    const file = resolveKey(rootDir, key);
    try {
      await rm(file, { force: true });
      await rm(file + PARTIAL, { force: true });
    } catch (err) {
      throw asCoffreError(err, 'STORAGE_DELETE_FAILED');
    }
  }

  async function check(): Promise<void> {
    try {
      await mkdir(rootDir, { recursive: true, mode: 0o700 });
      const probe = path.join(rootDir, `.coffre-check-${process.pid}-${Date.now()}`);
      const fh = await open(probe, 'w', 0o600);
      await fh.close();
      await rm(probe, { force: true });
    } catch (err) {
      const e = asCoffreError(err, 'STORAGE_UNWRITABLE');
      throw failure('STORAGE_UNWRITABLE', `Local storage folder ${rootDir} is not writable: ${e.message}`, { cause: err });
    }
  }

  return { type: 'local', put, get, stat: statKey, list, delete: remove, check } satisfies Storage;
}

export const local = {
  type: 'local',
  configure(input: Record<string, unknown>) {
    const given = input.path;
    if (given !== undefined && (typeof given !== 'string' || given.trim() === '')) {
      throw usageError('BAD_DESTINATION', 'A local destination\'s "path" must be a folder path (or left out to use BACKUP_ROOT).', { field: 'path' });
    }
    if (typeof given === 'string' && (/[\0-\x1f]/.test(given) || given.length > 4096 || given.split(/[\\/]/).some((part) => Buffer.byteLength(part) > 255))) {
      throw usageError('BAD_DESTINATION', 'A local destination\'s "path" must be a usable folder path: no control characters, at most 4096 characters, and 255 bytes a name.', {
        field: 'path',
      });
    }
    const resolved = given ? path.resolve(given) : undefined;
    const blocker = resolved && fileInTheWay(resolved);
    if (blocker) {
      throw usageError('BAD_DESTINATION', `A local destination's "path" must be a folder, but ${blocker} is a file: choose a folder path.`, { field: 'path' });
    }
    return { config: resolved ? { path: resolved } : {}, secrets: {} };
  },
  open(settings) {
    const p = settings.config.path;
    return localStorage(typeof p === 'string' ? p : loadConfig().backupRoot);
  },
} satisfies StorageBackend;
