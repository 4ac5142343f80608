// Stream plumbing for the codecs: joining stages into one Duplex, writing a decoder as a pull-style
// async generator over its input (parsers need "read exactly n bytes" and "put these back"), and peeking
// at the first bytes of a stream without losing them. Everything keeps backpressure: at most a few chunks
// are in memory at any time, whatever the size of the dump.

import { Duplex, Readable, type Writable, pipeline } from 'node:stream';

/** Turns an error raised inside a codec into the error its outer stream emits. */
export type ErrorMapper = (err: unknown) => Error;

/**
 * One Duplex over a chain of stages: writes go into the first, reads come out of the last, with
 * backpressure both ways. A stage's error destroys the whole with mapError(err); destroying the whole
 * destroys every stage.
 */
export function joinStages(stages: readonly Duplex[], mapError: ErrorMapper): Duplex {
  const outer = joinEnds(stages[0], stages[stages.length - 1], stages, mapError);
  if (stages.length > 1) {
    pipeline(stages as Duplex[], (err) => {
      if (err && !outer.destroyed) outer.destroy(mapError(err));
    });
  }
  return outer;
}

/**
 * One Duplex from a writable end and a readable end that something else connects (e.g. a zip writer
 * reading one stream and producing another). Errors from any of `parts` destroy the whole, mapped;
 * destroying the whole destroys every part.
 */
export function joinEnds(writable: Writable, readable: Readable, parts: readonly (Readable | Writable)[], mapError: ErrorMapper): Duplex {
  const outer = new Duplex({
    write(chunk: Buffer, encoding, callback) {
      // A failed write surfaces through the part's 'error' event, mapped; not through this callback.
      writable.write(chunk, encoding, (err) => {
        if (!err) callback();
      });
    },
    final(callback) {
      writable.end();
      callback();
    },
    read() {
      readable.resume();
    },
    destroy(err, callback) {
      for (const part of parts) part.destroy();
      callback(err);
    },
  });
  const fail = (err: unknown) => {
    if (!outer.destroyed) outer.destroy(mapError(err));
  };
  for (const part of parts) part.on('error', fail);
  readable.on('data', (chunk: Buffer) => {
    if (!outer.push(chunk)) readable.pause();
  });
  readable.on('end', () => outer.push(null));
  return outer;
}

/** Pull-style access to a decoder's input: whole chunks, exact byte counts, and bytes put back. */
export class ByteReader {
  private readonly pull: () => Promise<Buffer | null>;
  private readonly pending: Buffer[] = [];
  /** Bytes handed out so far (minus those put back): the offset of the next byte in the input. */
  position = 0;

  constructor(pull: () => Promise<Buffer | null>) {
    this.pull = pull;
  }

  /** The next bytes of input (at most max of them), or null at the end. Never an empty buffer. */
  async chunk(max = Infinity): Promise<Buffer | null> {
    let buf = this.pending.shift();
    while (buf === undefined || buf.length === 0) {
      const next = await this.pull();
      if (next === null) return null;
      buf = next;
    }
    if (buf.length > max) {
      this.pending.unshift(buf.subarray(max));
      buf = buf.subarray(0, max);
    }
    this.position += buf.length;
    return buf;
  }

  /** Exactly n bytes, or fewer only when the input ends first. */
  async exact(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const buf = await this.chunk(n - have);
      if (buf === null) break;
      parts.push(buf);
      have += buf.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
  }

  /** Discards n bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const buf = await this.chunk(left);
      if (buf === null) break;
      left -= buf.length;
    }
    return n - left;
  }

  /** Puts bytes back in front of the input. */
  unshift(buf: Buffer): void {
    if (buf.length === 0) return;
    this.pending.unshift(buf);
    this.position -= buf.length;
  }
}

/**
 * A Duplex whose output is produced by `decode`, an async generator that pulls its input through a
 * ByteReader. The writable side hands over one chunk at a time, so a slow decoder holds back the
 * writer. Input left after `decode` returns is drained. A throw destroys the stream with mapError(err).
 */
export function pullTransform(decode: (reader: ByteReader) => AsyncIterable<Buffer>, mapError: ErrorMapper): Duplex {
  let queued: { chunk: Buffer; callback: () => void } | null = null;
  let waiting: { resolve: (chunk: Buffer | null) => void; reject: (err: Error) => void } | null = null;
  let inputEnded = false;
  let resumeOutput: (() => void) | null = null;
  let started = false;

  const reader = new ByteReader(
    () =>
      new Promise<Buffer | null>((resolve, reject) => {
        if (duplex.destroyed) return reject(new Error('the stream was closed'));
        if (queued) {
          const q = queued;
          queued = null;
          q.callback();
          resolve(q.chunk);
        } else if (inputEnded) {
          resolve(null);
        } else {
          waiting = { resolve, reject };
        }
      }),
  );

  const run = async () => {
    try {
      for await (const out of decode(reader)) {
        if (duplex.destroyed) return;
        if (out.length === 0) continue;
        if (!duplex.push(out)) await new Promise<void>((resolve) => (resumeOutput = resolve));
        if (duplex.destroyed) return;
      }
      while ((await reader.chunk()) !== null);
      duplex.push(null);
    } catch (err) {
      if (!duplex.destroyed) duplex.destroy(mapError(err));
    }
  };

  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (waiting) {
        const w = waiting;
        waiting = null;
        callback();
        w.resolve(chunk);
      } else {
        queued = { chunk, callback };
      }
    },
    final(callback) {
      inputEnded = true;
      if (waiting) {
        const w = waiting;
        waiting = null;
        w.resolve(null);
      }
      callback();
    },
    read() {
      if (!started) {
        started = true;
        void run();
      } else if (resumeOutput) {
        const r = resumeOutput;
        resumeOutput = null;
        r();
      }
    },
    destroy(err, callback) {
      // Wake a decoder blocked on input or output so its finally blocks release what it holds.
      if (waiting) {
        const w = waiting;
        waiting = null;
        w.reject(new Error('the stream was closed'));
      }
      if (resumeOutput) {
        const r = resumeOutput;
        resumeOutput = null;
        r();
      }
      callback(err);
    },
  });
  return duplex;
}

/**
 * Reads the first `size` bytes of input (fewer if it is shorter) and returns them with a stream that
 * emits the same bytes again followed by the rest, so a format can be sniffed without losing anything.
 * Rejects if the input fails before `size` bytes arrive.
 */
export async function peek(input: Readable, size: number): Promise<{ head: Buffer; stream: Readable }> {
  const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const chunks: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < size) {
    const step = await iterator.next();
    if (step.done) {
      done = true;
      break;
    }
    const buf = typeof step.value === 'string' ? Buffer.from(step.value) : step.value;
    chunks.push(buf);
    length += buf.length;
  }
  const head = Buffer.concat(chunks, length);
  async function* replay(): AsyncGenerator<Buffer | string> {
    if (head.length > 0) yield head;
    if (done) return;
    yield* { [Symbol.asyncIterator]: () => iterator };
    done = true;
  }
  const stream = Readable.from(replay(), { objectMode: false });
  // Destroyed before it was read to the end (even before it started): release the input too.
  stream.once('close', () => {
    if (!done) void iterator.return?.();
  });
  return { head, stream };
}

/** Pipes input into a transform and returns the transform; an error on either side destroys both. */
export function through(input: Readable, transform: Duplex): Duplex {
  pipeline(input, transform, () => {});
  return transform;
}
