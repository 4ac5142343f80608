// The coffre delta format, version 1 (specified in docs/delta-format.md): constants, varints and the
// errors every part of the delta code raises. Kept apart so the encoder, the decoder and the chain
// applier cannot disagree on a byte.

import { failure, usageError, type CoffreError } from '../core/errors.ts';

/** First 8 bytes of every delta: "\xC0\xFFREDLTA". 0xC0 never occurs in UTF-8, so no text sniffer takes it for SQL. */
export const DELTA_MAGIC = Buffer.from([0xc0, 0xff, 0x52, 0x45, 0x44, 0x4c, 0x54, 0x41]);
export const DELTA_VERSION = 1;
/** magic(8) version(1) flags(1) parentSize(u64 LE, 8) parentSha256(32). */
export const HEADER_SIZE = 50;
/** Record tags. */
export const TAG_END = 0x00;
export const TAG_LITERAL = 0x01;
export const TAG_COPY = 0x02;
/** END tag(1) resultSize(varint) resultSha256(32) then the 4 bytes "DLTE". */
export const TRAILER_MAGIC = Buffer.from('DLTE', 'latin1');
/** Largest literal a record may carry; encoders split longer ones. Decoders refuse larger. */
export const MAX_LITERAL = 1 << 24;
/** A varint is at most this many bytes (values up to 2^53 - 1). */
export const MAX_VARINT_BYTES = 8;

/** The delta bytes are damaged or not a delta. */
export function deltaCorrupt(what: string, details?: Record<string, unknown>): CoffreError {
  return failure('DELTA_CORRUPT', `The delta is corrupt: ${what}. Restore from an intact copy of this backup, or from an earlier full backup.`, { details });
}

/** The delta was made against another parent than the one supplied. */
export function deltaWrongParent(what: string, details?: Record<string, unknown>): CoffreError {
  return failure('DELTA_WRONG_PARENT', `The delta does not apply to this parent: ${what}. Supply the raw dump of the backup this delta was made from.`, { details });
}

/** The rebuilt bytes do not hash to what was recorded. */
export function deltaMismatch(what: string, details?: Record<string, unknown>): CoffreError {
  return failure('DELTA_MISMATCH', `The rebuilt dump is wrong: ${what}. A link of the chain or its parent is damaged; restore from an intact chain or an earlier full backup.`, {
    details,
  });
}

/** A caller passed an unusable option (a bad sha256, a missing file). */
export function deltaUsage(what: string, details?: Record<string, unknown>): CoffreError {
  return usageError('DELTA_BAD_INPUT', what, details);
}

/** Checks a sha256 given by a caller: 64 hex digits. Returns it lower-cased. */
export function normaliseSha256(value: string, name: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw deltaUsage(`${name} must be a sha256 as 64 hexadecimal digits, got "${value.slice(0, 80)}".`);
  return value.toLowerCase();
}

/** Writes an unsigned LEB128 varint of a safe integer into out at pos; returns the new position. */
export function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

/** Zigzag mapping of a signed safe integer to an unsigned one (0, -1, 1, -2 -> 0, 1, 2, 3). */
export function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

/** Builds the 50-byte header. */
export function encodeHeader(parentSize: number, parentSha256: string): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  DELTA_MAGIC.copy(header, 0);
  header[8] = DELTA_VERSION;
  header[9] = 0;
  header.writeBigUInt64LE(BigInt(parentSize), 10);
  Buffer.from(parentSha256, 'hex').copy(header, 18);
  return header;
}

export interface DeltaHeader {
  version: number;
  parentSize: number;
  parentSha256: string;
}

/** Parses and checks the 50-byte header. */
export function decodeHeader(header: Buffer): DeltaHeader {
  if (header.length < HEADER_SIZE) throw deltaCorrupt(`it ends after ${header.length} bytes, inside its ${HEADER_SIZE}-byte header`);
  if (!header.subarray(0, 8).equals(DELTA_MAGIC)) throw deltaCorrupt('it does not start with the coffre delta magic bytes (this is not a coffre delta)');
  const version = header[8];
  if (version !== DELTA_VERSION) throw deltaCorrupt(`its format version is ${version}, and this coffre reads version ${DELTA_VERSION} only`, { version });
  if (header[9] !== 0) throw deltaCorrupt(`its header flags are 0x${header[9].toString(16)}, and version 1 defines none`);
  const size = header.readBigUInt64LE(10);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw deltaCorrupt('its header declares an impossible parent size');
  return { version, parentSize: Number(size), parentSha256: header.subarray(18, 50).toString('hex') };
}
