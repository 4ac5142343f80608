// Identifiers and timestamps. Ids are UUIDv7: random, yet sorted by creation time, so journal listings
// and artifact names order naturally. Users may type any unique prefix of at least 6 characters.

import { randomBytes } from 'node:crypto';

/** A new UUIDv7 (RFC 9562): 48-bit millisecond time, then random bits. */
export function newId(now = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** ISO 8601 UTC with milliseconds, the catalog's one time format. */
export function isoNow(date = new Date()): string {
  return date.toISOString();
}

/** Compact UTC stamp for file names: 20261125T130501Z. */
export function fileStamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}
