// The streaming delta decoder: delta bytes in, rebuilt raw dump out. Records are parsed and checked as
// they arrive (record-parser.ts), copies are read from the parent file, and the output is hashed; the
// stream fails instead of ending when the delta is truncated or the result's sha256 differs from the
// trailer's or the caller's. Output is produced in 1 MiB buffers with backpressure, so a copy of the
// whole parent never sits in memory.

import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { deltaMismatch, deltaWrongParent, normaliseSha256 } from './format.ts';
import { openParent, readExact } from './parent-file.ts';
import { RecordParser } from './record-parser.ts';

export interface DeltaDecoderOptions {
  /** The parent's raw dump on local disk. */
  parentPath: string;
  /** The parent's sha256 as the catalog knows it; must equal the one the delta was made against. */
  parentSha256?: string;
  /** The rebuilt dump's sha256 as recorded at backup time; must equal the delta's trailer and the result. */
  expectedSha256?: string;
  /** Also hash the whole parent file before decoding and check it against the delta's header (one extra read). */
  verifyParent?: boolean;
}

const OUT_SIZE = 1 << 20;

/** Collects output bytes into 1 MiB buffers; copies read straight from a file into them. */
export class OutputAssembler {
  readonly sha = createHash('sha256');
  total = 0;
  private out = Buffer.allocUnsafe(OUT_SIZE);
  private pos = 0;

  /** Appends as much of src[start, end) as fits; returns how many bytes were taken. */
  bytes(src: Buffer, start: number, end: number): number {
    const take = Math.min(end - start, OUT_SIZE - this.pos);
    src.copy(this.out, this.pos, start, start + take);
    this.pos += take;
    this.total += take;
    return take;
  }

  /** Reads up to `length` bytes of file fd at `position`; returns how many were taken (until the buffer is full). */
  fromFile(fd: number, position: number, length: number): number {
    const take = Math.min(length, OUT_SIZE - this.pos);
    readExact(fd, this.out, this.pos, take, position);
    this.pos += take;
    this.total += take;
    return take;
  }

  get full(): boolean {
    return this.pos === OUT_SIZE;
  }

  /** The buffered bytes (hashed), or undefined when empty. */
  flush(): Buffer | undefined {
    if (this.pos === 0) return undefined;
    const done = this.out.subarray(0, this.pos);
    this.sha.update(done);
    this.out = Buffer.allocUnsafe(OUT_SIZE);
    this.pos = 0;
    return done;
  }
}

type Op = { copy: true; offset: number; length: number } | { copy: false; buf: Buffer; start: number; end: number };

/**
 * Starts decoding: write a delta into the returned duplex and read the rebuilt raw dump from it. Errors
 * (all CoffreError): COFFRE_E_DELTA_CORRUPT (malformed or truncated delta), COFFRE_E_DELTA_WRONG_PARENT
 * (size or sha256 of the parent differ from the header's), COFFRE_E_DELTA_MISMATCH (the result's sha256),
 * COFFRE_E_DELTA_PARENT_MISSING.
 */
export function createDeltaDecoder(options: DeltaDecoderOptions): Duplex {
  const parentSha = options.parentSha256 === undefined ? undefined : normaliseSha256(options.parentSha256, 'parentSha256');
  const expected = options.expectedSha256 === undefined ? undefined : normaliseSha256(options.expectedSha256, 'expectedSha256');
  const parent = openParent(options.parentPath);
  const close = parent.close;
  const duplex = Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    try {
      let trailerSha: string | undefined;
      const ops: Op[] = [];
      const parser = new RecordParser({
        header(header) {
          if (header.parentSize !== parent.size) {
            throw deltaWrongParent(`the delta was made against a ${header.parentSize}-byte parent, and ${options.parentPath} has ${parent.size} bytes`);
          }
          if (parentSha !== undefined && parentSha !== header.parentSha256) {
            throw deltaWrongParent(`the delta was made against a parent with sha256 ${header.parentSha256}, not ${parentSha}`);
          }
          if (options.verifyParent) {
            const actual = hashFileSync(parent.fd, parent.size);
            if (actual !== header.parentSha256) throw deltaWrongParent(`${options.parentPath} has sha256 ${actual}, and the delta was made against ${header.parentSha256}`);
          }
        },
        copy(offset, length) {
          ops.push({ copy: true, offset, length });
        },
        literal(buf, start, end) {
          ops.push({ copy: false, buf, start, end });
        },
        end(_size, sha) {
          if (expected !== undefined && expected !== sha) {
            throw deltaMismatch(`the delta rebuilds a dump with sha256 ${sha}, and ${expected} was expected`);
          }
          trailerSha = sha;
        },
      });
      const out = new OutputAssembler();
      for await (const chunk of source) {
        parser.push(chunk);
        for (const op of ops) {
          if (op.copy) {
            let { offset, length } = op;
            while (length > 0) {
              const took = out.fromFile(parent.fd, offset, length);
              offset += took;
              length -= took;
              if (out.full) yield out.flush()!;
            }
          } else {
            for (let at = op.start; at < op.end; ) {
              at += out.bytes(op.buf, at, op.end);
              if (out.full) yield out.flush()!;
            }
          }
        }
        ops.length = 0;
      }
      parser.finish();
      const last = out.flush();
      const actual = out.sha.digest('hex');
      if (actual !== trailerSha) {
        throw deltaMismatch(`the rebuilt dump has sha256 ${actual}, and the delta's trailer records ${trailerSha}`, { expected: trailerSha, actual });
      }
      if (last !== undefined) yield last;
    } finally {
      close();
    }
  });
  duplex.once('close', close);
  return duplex;
}

/** sha256 of the first `size` bytes of an open file. */
export function hashFileSync(fd: number, size: number): string {
  const sha = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let position = 0; position < size; ) {
    const take = Math.min(buf.length, size - position);
    readExact(fd, buf, 0, take, position);
    sha.update(buf.subarray(0, take));
    position += take;
  }
  return sha.digest('hex');
}
