// Rebuilds a dump from a chain: a full raw dump plus deltas d1..dn, each made against the previous
// result. Rather than writing every intermediate dump, the deltas' records are composed into one map
// from output ranges to byte ranges of the base or of a delta file (a copy of a copy resolves to the
// base; a copy of a literal to the delta that holds it), and the result is read once. Every record is
// checked as in the decoder, each link's header must name the previous link's size and sha256, and the
// result must hash to the last trailer's sha256 (and the caller's).
//
// Memory is bounded by `maxOps` map entries (18 bytes each, at most three lists alive): when a
// composition would exceed it, the map so far is written to a temporary file (0600, removed afterwards)
// which becomes the new base, so disk use is at most two intermediate dumps.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { deltaMismatch, deltaUsage, deltaWrongParent, normaliseSha256, type DeltaHeader } from './format.ts';
import { createDeltaDecoder, OutputAssembler } from './decoder.ts';
import { openParent } from './parent-file.ts';
import { RecordParser } from './record-parser.ts';

export interface ChainOptions {
  /** The full backup's raw dump. */
  basePath: string;
  /** Its sha256 as recorded; checked against the first delta's header. */
  baseSha256?: string;
  /** Uncompressed delta files, oldest first; each was made against the previous result. */
  deltaPaths: readonly string[];
  /** The final dump's sha256 as recorded at backup time. */
  expectedSha256?: string;
  /** Where intermediate dumps go when the map outgrows maxOps (default: the system's temp folder). */
  tempDir?: string;
  /** Largest number of map entries held in memory (default 3,000,000: about 54 MB per list). */
  maxOps?: number;
}

/** A growable list of (output start, source, source offset) ranges; source 0 is the base file. */
class RangeMap {
  starts = new Float64Array(1024);
  offsets = new Float64Array(1024);
  sources = new Uint16Array(1024);
  length = 0;
  total = 0;

  add(source: number, offset: number, size: number): void {
    const n = this.length;
    if (n > 0 && this.sources[n - 1] === source && this.offsets[n - 1] + (this.total - this.starts[n - 1]) === offset) {
      this.total += size; // contiguous with the previous range: extend it
      return;
    }
    if (n === this.starts.length) {
      const grow = <T extends Float64Array | Uint16Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(n * 2);
        b.set(a);
        return b;
      };
      this.starts = grow(this.starts);
      this.offsets = grow(this.offsets);
      this.sources = grow(this.sources);
    }
    this.starts[n] = this.total;
    this.offsets[n] = offset;
    this.sources[n] = source;
    this.length = n + 1;
    this.total += size;
  }

  end(i: number): number {
    return i + 1 < this.length ? this.starts[i + 1] : this.total;
  }

  /** Index of the range holding output byte `at`. */
  find(at: number): number {
    let lo = 0;
    let hi = this.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid] <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

interface ParsedDelta {
  header: DeltaHeader;
  size: number;
  sha256: string;
  /** Source 0: the previous version; `source`: this delta file's literal bytes. Undefined when over the limit. */
  map: RangeMap | undefined;
}

/** Reads a whole delta file, checking every record; maps it unless it has more than maxOps ranges. */
function parseDeltaFile(fd: number, file: string, source: number, maxOps: number): ParsedDelta {
  let header: DeltaHeader | undefined;
  let result: { size: number; sha256: string } | undefined;
  let map: RangeMap | undefined = new RangeMap();
  const parser = new RecordParser({
    header(h) {
      header = h;
    },
    copy(offset, length) {
      map?.add(0, offset, length);
      if (map !== undefined && map.length > maxOps) map = undefined;
    },
    literal(_buf, start, end, deltaOffset) {
      map?.add(source, deltaOffset, end - start);
      if (map !== undefined && map.length > maxOps) map = undefined;
    },
    end(size, sha256) {
      result = { size, sha256 };
    },
  });
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (let position = 0; ; ) {
      const got = fs.readSync(fd, buf, 0, buf.length, position);
      if (got === 0) break;
      parser.push(buf.subarray(0, got));
      position += got;
    }
    parser.finish();
  } catch (err) {
    if (err instanceof Error) err.message = `${file}: ${err.message}`;
    throw err;
  }
  return { header: header!, size: result!.size, sha256: result!.sha256, map };
}

/** Resolves `top` (whose source 0 is the version `below` describes) into ranges of below's sources. */
function compose(below: RangeMap, top: RangeMap, maxOps: number): RangeMap | undefined {
  const out = new RangeMap();
  for (let i = 0; i < top.length; i++) {
    const size = top.end(i) - top.starts[i];
    if (top.sources[i] !== 0) {
      out.add(top.sources[i], top.offsets[i], size);
      continue;
    }
    let at = top.offsets[i];
    let left = size;
    for (let j = below.find(at); left > 0; j++) {
      const take = Math.min(left, below.end(j) - at);
      out.add(below.sources[j], below.offsets[j] + (at - below.starts[j]), take);
      at += take;
      left -= take;
    }
    if (out.length > maxOps) return undefined;
  }
  return out;
}

/** Produces the bytes a map describes, reading from fds[source]; yields 1 MiB buffers; returns the sha256. */
async function* readMap(map: RangeMap, fds: readonly number[], out: OutputAssembler): AsyncGenerator<Buffer> {
  for (let i = 0; i < map.length; i++) {
    let offset = map.offsets[i];
    let left = map.end(i) - map.starts[i];
    const fd = fds[map.sources[i]];
    while (left > 0) {
      const took = out.fromFile(fd, offset, left);
      offset += took;
      left -= took;
      if (out.full) yield out.flush()!;
    }
  }
}

/**
 * Rebuilds the last dump of a chain as a stream. The stream fails (COFFRE_E_DELTA_CORRUPT naming the file,
 * COFFRE_E_DELTA_WRONG_PARENT naming the broken link, COFFRE_E_DELTA_MISMATCH) instead of ending when
 * anything is wrong; its last bytes are released only after the sha256 matched.
 */
export function applyChain(options: ChainOptions): Readable {
  const maxOps = options.maxOps ?? 3_000_000;
  if (options.deltaPaths.length === 0) throw deltaUsage('applyChain needs at least one delta; a full backup restores without one.');
  if (options.deltaPaths.length > 60000) throw deltaUsage('A chain is limited to 60000 deltas.');
  const baseSha = options.baseSha256 === undefined ? undefined : normaliseSha256(options.baseSha256, 'baseSha256');
  const expected = options.expectedSha256 === undefined ? undefined : normaliseSha256(options.expectedSha256, 'expectedSha256');

  async function* rebuild(): AsyncGenerator<Buffer> {
    const fds: number[] = [];
    const temps: string[] = [];
    let tempDir: string | undefined;
    try {
      const base = openParent(options.basePath);
      fds.push(base.fd);
      let version = { size: base.size, sha256: baseSha, name: options.basePath };
      let map: RangeMap | undefined;
      for (let k = 0; k < options.deltaPaths.length; k++) {
        const file = options.deltaPaths[k];
        const delta = openParent(file);
        fds.push(delta.fd);
        const parsed = parseDeltaFile(delta.fd, file, fds.length - 1, maxOps);
        if (parsed.header.parentSize !== version.size || (version.sha256 !== undefined && parsed.header.parentSha256 !== version.sha256)) {
          throw deltaWrongParent(
            `link ${k + 1} (${file}) was made against a ${parsed.header.parentSize}-byte dump with sha256 ${parsed.header.parentSha256}, but the previous link (${version.name}) rebuilds a ${version.size}-byte dump${version.sha256 ? ` with sha256 ${version.sha256}` : ''}`,
            { link: k + 1, file },
          );
        }
        let composed = map && parsed.map ? compose(map, parsed.map, maxOps) : undefined;
        if (map !== undefined && composed === undefined) {
          // Too many ranges to keep composing: write the current version out and start from it.
          tempDir ??= fs.mkdtempSync(path.join(options.tempDir ?? os.tmpdir(), 'coffre-chain-'));
          const temp = path.join(tempDir, `link-${k}.raw`);
          await materialise(map, fds, temp, version.sha256!, version.name);
          for (const old of temps.splice(0)) fs.rmSync(old, { force: true });
          temps.push(temp);
          fs.closeSync(fds[0]);
          fds[0] = fs.openSync(temp, 'r');
          map = undefined;
        }
        if (composed === undefined && map === undefined && parsed.map !== undefined) composed = parsed.map;
        if (composed === undefined) {
          // This delta alone has too many ranges: decode it straight onto the current base.
          tempDir ??= fs.mkdtempSync(path.join(options.tempDir ?? os.tmpdir(), 'coffre-chain-'));
          const temp = path.join(tempDir, `link-${k + 1}.raw`);
          const baseFile = temps.at(-1) ?? options.basePath;
          await pipeline(fs.createReadStream(file), createDeltaDecoder({ parentPath: baseFile }), fs.createWriteStream(temp, { mode: 0o600 }));
          for (const old of temps.splice(0)) fs.rmSync(old, { force: true });
          temps.push(temp);
          fs.closeSync(fds[0]);
          fds[0] = fs.openSync(temp, 'r');
        }
        map = composed;
        version = { size: parsed.size, sha256: parsed.sha256, name: file };
      }
      if (expected !== undefined && expected !== version.sha256) {
        throw deltaMismatch(`the chain's last link rebuilds a dump with sha256 ${version.sha256}, and ${expected} was expected`);
      }
      const out = new OutputAssembler();
      if (map === undefined) {
        // The last link was decoded into a temporary file (already checked): stream it.
        const whole = new RangeMap();
        whole.add(0, 0, version.size);
        map = whole;
      }
      yield* readMap(map, fds, out);
      const last = out.flush();
      const actual = out.sha.digest('hex');
      if (actual !== version.sha256) {
        throw deltaMismatch(
          `the chain rebuilt a dump with sha256 ${actual}, and its last link (${version.name}) records ${version.sha256}; the base or one of the ${options.deltaPaths.length} deltas is damaged`,
          { expected: version.sha256, actual },
        );
      }
      if (last !== undefined) yield last;
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      if (tempDir !== undefined) fs.rmSync(tempDir, { recursive: true, force: true });
    }
  }

  /** Writes the bytes of `map` to file, checking their sha256 against what the link recorded. */
  async function materialise(map: RangeMap, fds: readonly number[], file: string, sha256: string, name: string): Promise<void> {
    const out = new OutputAssembler();
    const fd = fs.openSync(file, 'w', 0o600);
    try {
      for await (const piece of readMap(map, fds, out)) fs.writeSync(fd, piece);
      const last = out.flush();
      if (last !== undefined) fs.writeSync(fd, last);
    } finally {
      fs.closeSync(fd);
    }
    const actual = out.sha.digest('hex');
    if (actual !== sha256) throw deltaMismatch(`the dump rebuilt up to ${name} has sha256 ${actual}, and that link records ${sha256}`);
  }

  return Readable.from(rebuild(), { objectMode: false });
}
