// An incremental parser of delta bytes, shared by the streaming decoder and the chain applier. It accepts
// the delta in chunks of any size, checks every record against the header as it goes (tags, varints,
// lengths, copy ranges inside the parent, the trailer and nothing after it) and reports records to a
// sink. Literal bodies are reported in pieces as they arrive, so memory stays bounded by the chunk size.

import { decodeHeader, deltaCorrupt, HEADER_SIZE, MAX_LITERAL, MAX_VARINT_BYTES, TAG_COPY, TAG_END, TAG_LITERAL, TRAILER_MAGIC, unzigzag, type DeltaHeader } from './format.ts';

export interface RecordSink {
  header(header: DeltaHeader): void;
  /** Copy `length` bytes of the parent starting at `offset` (already checked to lie inside the parent). */
  copy(offset: number, length: number): void;
  /** A piece of a literal: buf[start, end), found at byte `deltaOffset` of the delta. */
  literal(buf: Buffer, start: number, end: number, deltaOffset: number): void;
  /** The trailer: the result's size (already checked against the records) and sha256. */
  end(resultSize: number, resultSha256: string): void;
}

const INCOMPLETE = -1;

export class RecordParser {
  private readonly sink: RecordSink;
  private carry: Buffer | undefined;
  /** Delta offset of the next byte fed. */
  private fed = 0;
  private state: 'header' | 'record' | 'literal' | 'done' = 'header';
  private literalLeft = 0;
  private parentSize = 0;
  private prevCopyEnd = 0;
  /** Bytes of the result described so far. */
  private produced = 0;
  private varintEnd = 0;

  constructor(sink: RecordSink) {
    this.sink = sink;
  }

  /** Feeds the next bytes of the delta. Throws a CoffreError on the first malformed record. */
  push(input: Buffer): void {
    let buf = input;
    let base = this.fed; // delta offset of buf[0]
    this.fed += input.length;
    if (this.carry !== undefined) {
      base -= this.carry.length;
      buf = Buffer.concat([this.carry, input]);
      this.carry = undefined;
    }
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (this.state === 'literal') {
        const take = Math.min(this.literalLeft, n - i);
        this.sink.literal(buf, i, i + take, base + i);
        i += take;
        this.literalLeft -= take;
        if (this.literalLeft === 0) this.state = 'record';
        continue;
      }
      if (this.state === 'record') {
        const next = this.parseRecord(buf, i, n, base);
        if (next === INCOMPLETE) break;
        i = next;
        continue;
      }
      if (this.state === 'header') {
        if (n - i < HEADER_SIZE) break;
        const header = decodeHeader(buf.subarray(i, i + HEADER_SIZE));
        this.parentSize = header.parentSize;
        this.sink.header(header);
        this.state = 'record';
        i += HEADER_SIZE;
        continue;
      }
      throw deltaCorrupt(`it has ${n - i} unexpected byte(s) after its trailer, at byte ${base + i}`);
    }
    if (i < n) this.carry = Buffer.from(buf.subarray(i)); // an incomplete record head: at most a few dozen bytes
  }

  /** Declares the end of the delta; throws if it stopped before its trailer. */
  finish(): void {
    if (this.state === 'done' && this.carry === undefined) return;
    const where = this.state === 'header' ? 'inside its header' : this.state === 'literal' ? 'inside a literal record' : 'before its trailer';
    throw deltaCorrupt(`it is truncated: it ends after ${this.fed} bytes, ${where}`, { deltaBytes: this.fed });
  }

  /** Parses one record head at buf[i]; returns the position after it, or INCOMPLETE. */
  private parseRecord(buf: Buffer, i: number, n: number, base: number): number {
    const tag = buf[i];
    if (tag === TAG_LITERAL) {
      const length = this.readVarint(buf, i + 1, n, base);
      if (length === INCOMPLETE) return INCOMPLETE;
      if (length === 0 || length > MAX_LITERAL) throw deltaCorrupt(`a literal record at byte ${base + i} has length ${length} (allowed: 1 to ${MAX_LITERAL})`);
      this.produced += length;
      this.literalLeft = length;
      this.state = 'literal';
      return this.varintEnd;
    }
    if (tag === TAG_COPY) {
      const delta = this.readVarint(buf, i + 1, n, base);
      if (delta === INCOMPLETE) return INCOMPLETE;
      const length = this.readVarint(buf, this.varintEnd, n, base);
      if (length === INCOMPLETE) return INCOMPLETE;
      const offset = this.prevCopyEnd + unzigzag(delta);
      if (length === 0 || offset < 0 || offset + length > this.parentSize) {
        throw deltaCorrupt(`a copy record at byte ${base + i} reads ${length} byte(s) at parent offset ${offset}, outside the parent's ${this.parentSize} bytes`, {
          offset,
          length,
          parentSize: this.parentSize,
        });
      }
      this.prevCopyEnd = offset + length;
      this.produced += length;
      this.sink.copy(offset, length);
      return this.varintEnd;
    }
    if (tag === TAG_END) {
      const size = this.readVarint(buf, i + 1, n, base);
      if (size === INCOMPLETE) return INCOMPLETE;
      const at = this.varintEnd;
      if (n - at < 32 + TRAILER_MAGIC.length) return INCOMPLETE;
      if (!buf.subarray(at + 32, at + 32 + TRAILER_MAGIC.length).equals(TRAILER_MAGIC)) throw deltaCorrupt(`its trailer at byte ${base + i} lacks the end marker`);
      if (size !== this.produced)
        throw deltaCorrupt(`its trailer declares a ${size}-byte result but its records make ${this.produced} bytes`, { declared: size, records: this.produced });
      this.state = 'done';
      this.sink.end(size, buf.subarray(at, at + 32).toString('hex'));
      return at + 32 + TRAILER_MAGIC.length;
    }
    throw deltaCorrupt(`unknown record tag 0x${tag.toString(16).padStart(2, '0')} at byte ${base + i}`, { offset: base + i });
  }

  /** Reads an unsigned varint at buf[pos]; sets varintEnd; INCOMPLETE when the chunk ends inside it. */
  private readVarint(buf: Buffer, pos: number, n: number, base: number): number {
    let value = 0;
    let scale = 1;
    for (let k = 0; k < MAX_VARINT_BYTES; k++) {
      if (pos + k >= n) return INCOMPLETE;
      const b = buf[pos + k];
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (k > 0 && b === 0) throw deltaCorrupt(`a number at byte ${base + pos} is encoded with needless bytes`);
        this.varintEnd = pos + k + 1;
        return value;
      }
      scale *= 0x80;
    }
    throw deltaCorrupt(`a number at byte ${base + pos} is longer than ${MAX_VARINT_BYTES} bytes`);
  }
}
