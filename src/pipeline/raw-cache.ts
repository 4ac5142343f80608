// The local cache of raw dumps that differential and incremental backups use as delta parents. The delta
// encoder needs random access to its parent's raw bytes; rebuilding them from storage (download,
// decompress, apply a chain) costs a full read, so each backup of a plan that makes deltas tees its raw
// dump into `$DATA_DIR/cache/raw/<backup id>.raw` as it streams by. The cache is an optimisation only: a
// missing, evicted or damaged entry is rebuilt from storage, and nothing restores from it.
//
// Trust: an entry is written as `.partial`, renamed when its run succeeded, and described by a marker
// `<id>.json` holding its sha256, size, inode and mtime. A lookup trusts an entry when the marker matches
// the file's stat and the journal's raw sha256 (no re-read of hundreds of megabytes at every backup); the
// encoder then hashes the parent anyway while indexing it and refuses a parent whose bytes changed
// (COFFRE_E_DELTA_WRONG_PARENT), so silent damage fails the run rather than producing a wrong delta, and
// the caller drops the entry and retries from storage.
//
// Bound: the total size of the entries stays under `maxBytes` (DELTA_CACHE_MAX_BYTES): the least recently
// used entries (marker mtime, touched at each lookup) are evicted after each addition; a tee stops and
// drops its file as soon as one dump alone would exceed the bound. Files 0600, folders 0700.

import fs from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';

interface Marker {
  id: string;
  sha256: string;
  size: number;
  ino: number;
  mtimeMs: number;
}

/** A tee that copies a raw dump into the cache while it streams; commit() only once the run succeeded. */
export interface CacheTee {
  /** The pass-through to place in the pipeline (after the raw meter). */
  stream: Transform;
  /** Renames the copy into place under its backup id, records its marker, and evicts to the bound. */
  commit(sha256: string): Promise<void>;
  /** Removes the partial copy (a failed run). */
  discard(): Promise<void>;
}

const ID = /^[0-9a-f-]{36}$/;

export class RawCache {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly tempRoot: string;

  /** A cache under `<dataDir>/cache/raw`, temporary folders under `<dataDir>/tmp`. */
  constructor(dataDir: string, maxBytes: number) {
    this.dir = path.join(dataDir, 'cache', 'raw');
    this.tempRoot = path.join(dataDir, 'tmp');
    this.maxBytes = maxBytes;
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Where the raw dump of backup `id` lives when cached. */
  entryPath(id: string): string {
    if (!ID.test(id)) throw new Error(`not a backup id: ${id}`);
    return path.join(this.dir, `${id}.raw`);
  }

  private markerPath(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  /** A new private temporary folder (0700) under DATA_DIR, named with this pid; the caller removes it. */
  async tempDir(prefix: string): Promise<string> {
    await mkdir(this.tempRoot, { recursive: true, mode: 0o700 });
    return mkdtemp(path.join(this.tempRoot, `${prefix}-p${process.pid}-`));
  }

  /**
   * Removes what dead processes left behind: temporary folders whose pid is not alive, and the partial
   * cache copies of the given runs (interrupted ones). Returns how many were removed; never throws.
   */
  async sweep(isAlive: (pid: number) => boolean, deadRuns: string[] = []): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tempRoot).catch(() => [] as string[])) {
      const pid = /^[a-z]+-p(\d+)-/.exec(name)?.[1];
      if (pid === undefined || isAlive(Number(pid))) continue;
      await rm(path.join(this.tempRoot, name), { recursive: true, force: true }).then(
        () => removed++,
        () => {},
      );
    }
    for (const id of deadRuns) {
      if (!ID.test(id)) continue;
      const partial = `${this.entryPath(id)}.partial`;
      if (
        await stat(partial).then(
          () => true,
          () => false,
        )
      )
        await rm(partial, { force: true }).then(
          () => removed++,
          () => {},
        );
    }
    return removed;
  }

  /**
   * The cached raw dump of backup `id` when its marker matches the file and the expected sha256 and size;
   * marks it recently used. A stale or damaged entry is removed and undefined returned.
   */
  async lookup(id: string, sha256: string, size: number | null): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    const file = this.entryPath(id);
    let marker: Marker;
    let info: fs.Stats;
    try {
      marker = JSON.parse(await readFile(this.markerPath(id), 'utf8')) as Marker;
      info = await stat(file);
    } catch {
      await this.remove(id);
      return undefined;
    }
    const fits = marker.sha256 === sha256 && marker.size === info.size && (size === null || size === info.size) && marker.ino === info.ino && marker.mtimeMs === info.mtimeMs;
    if (!fits) {
      await this.remove(id);
      return undefined;
    }
    const now = new Date();
    await utimes(this.markerPath(id), now, now).catch(() => {});
    return file;
  }

  /** Drops an entry (missing is fine). */
  async remove(id: string): Promise<void> {
    await rm(this.entryPath(id), { force: true });
    await rm(this.markerPath(id), { force: true });
  }

  /** Starts copying the raw dump of backup `id` into the cache. With the cache disabled, a plain pass-through. */
  async tee(id: string): Promise<CacheTee> {
    if (!this.enabled) {
      const stream = new Transform({ transform: (c, _e, cb) => cb(null, c) });
      return { stream, commit: async () => {}, discard: async () => {} };
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const partial = `${this.entryPath(id)}.partial`;
    let fd: number | undefined = fs.openSync(partial, 'w', 0o600);
    let written = 0;
    const drop = (): void => {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
      fs.rmSync(partial, { force: true });
    };
    const maxBytes = this.maxBytes;
    const stream = new Transform({
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        if (fd === undefined) return cb(null, chunk);
        if (written + chunk.length > maxBytes) {
          drop(); // this dump alone is larger than the cache: never cache it
          return cb(null, chunk);
        }
        fs.write(fd, chunk, 0, chunk.length, written, (err) => {
          if (err) {
            drop(); // a full cache disk must not fail the backup
            return cb(null, chunk);
          }
          written += chunk.length;
          cb(null, chunk);
        });
      },
    });
    return {
      stream,
      commit: async (sha256: string) => {
        if (fd === undefined) return;
        fs.closeSync(fd);
        fd = undefined;
        await this.adopt(id, partial, sha256).catch(() => rm(partial, { force: true }));
      },
      discard: async () => drop(),
    };
  }

  /**
   * Moves `file` (on the same file system, e.g. from tempDir()) into the cache as the raw dump of backup
   * `id`, whose sha256 the caller has checked. Returns the entry's path, or undefined when the file alone
   * exceeds the bound (the file is then left where it was).
   */
  async adopt(id: string, file: string, sha256: string): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    const size = (await stat(file)).size;
    if (size > this.maxBytes) return undefined;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const target = this.entryPath(id);
    await rename(file, target);
    const info = await stat(target);
    const marker: Marker = { id, sha256, size: info.size, ino: info.ino, mtimeMs: info.mtimeMs };
    await writeFile(this.markerPath(id), `${JSON.stringify(marker)}\n`, { mode: 0o600 });
    await this.evict(id);
    return target;
  }

  /** Evicts least recently used entries until the total fits the bound; `keep` is evicted last. */
  async evict(keep?: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    const entries: { id: string; size: number; used: number }[] = [];
    for (const name of names) {
      const m = /^([0-9a-f-]{36})\.raw$/.exec(name);
      if (!m) continue;
      const size = (await stat(path.join(this.dir, name)).catch(() => undefined))?.size;
      if (size === undefined) continue;
      const used = (await stat(this.markerPath(m[1])).catch(() => undefined))?.mtimeMs ?? 0;
      entries.push({ id: m[1], size, used: m[1] === keep ? Infinity : used });
    }
    entries.sort((a, b) => a.used - b.used);
    let total = entries.reduce((n, e) => n + e.size, 0);
    for (const e of entries) {
      if (total <= this.maxBytes) break;
      await this.remove(e.id);
      total -= e.size;
    }
  }
}
