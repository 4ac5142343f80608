// Field order survives a restore. The driver only inserts JavaScript values, and a JavaScript object puts
// integer-like keys ("1", "42") before all others whatever their order in the BSON; MongoDB, though,
// compares embedded documents field by field, in order. So a document whose raw field order a plain object
// cannot hold is rebuilt as a Map (which the BSON serializer writes in insertion order), following the key
// order read from the raw bytes. Documents without integer-like keys, nearly all of them, are untouched.

import type { BSON } from 'bson';
import { bsonLib } from '../formats/mongo-archive.ts';

const INTEGER_KEY = /^(0|[1-9]\d*)$/;

/** Bytes an element's value takes, for the types whose size is fixed or self-described. */
function valueEnd(buf: Buffer, type: number, at: number): number {
  switch (type) {
    case 0x01: // double
    case 0x09: // date
    case 0x11: // timestamp
    case 0x12: // int64
      return at + 8;
    case 0x02: // string
    case 0x0d: // code
    case 0x0e: // symbol
      return at + 4 + buf.readInt32LE(at);
    case 0x03: // document
    case 0x04: // array
    case 0x0f: // code with scope
      return at + buf.readInt32LE(at);
    case 0x05: // binary
      return at + 4 + 1 + buf.readInt32LE(at);
    case 0x06: // undefined
    case 0x0a: // null
    case 0xff: // min key
    case 0x7f: // max key
      return at;
    case 0x07: // object id
      return at + 12;
    case 0x08: // boolean
      return at + 1;
    case 0x0b: {
      // regex: two C strings
      const first = buf.indexOf(0, at);
      return buf.indexOf(0, first + 1) + 1;
    }
    case 0x0c: // DBPointer: string then object id
      return at + 4 + buf.readInt32LE(at) + 12;
    case 0x10: // int32
      return at + 4;
    case 0x13: // decimal128
      return at + 16;
    default:
      throw new Error(`unknown BSON element type 0x${type.toString(16)}`);
  }
}

/**
 * Walks the document at `start` beside its deserialized value and returns the value with every
 * (sub)document whose key order an object would change turned into a Map.
 */
function restoreOrder(buf: Buffer, start: number, value: Record<string, unknown> | unknown[], isArray: boolean): unknown {
  const end = start + buf.readInt32LE(start) - 1;
  const keys: string[] = [];
  let at = start + 4;
  while (at < end) {
    const type = buf[at];
    const keyEnd = buf.indexOf(0, at + 1);
    const key = buf.toString('utf8', at + 1, keyEnd);
    const valueAt = keyEnd + 1;
    keys.push(key);
    if (type === 0x03 || type === 0x04) {
      const child = (value as Record<string, unknown>)[key] as Record<string, unknown> | unknown[];
      const fixed = restoreOrder(buf, valueAt, child, type === 0x04);
      if (fixed !== child) (value as Record<string, unknown>)[key] = fixed;
    }
    at = valueEnd(buf, type, valueAt);
  }
  if (isArray || !keys.some((k) => INTEGER_KEY.test(k))) return value;
  const current = Object.keys(value);
  if (current.length === keys.length && current.every((k, i) => k === keys[i])) return value;
  return new Map(keys.map((k) => [k, (value as Record<string, unknown>)[k]]));
}

/** Deserializes one raw BSON document for re-insertion, keeping its field order. */
export function deserializeInOrder(raw: Buffer): BSON.Document {
  const doc = bsonLib().deserialize(raw, { promoteValues: false, bsonRegExp: true });
  const ordered = restoreOrder(raw, 0, doc, false);
  if (ordered instanceof Map) {
    // The driver looks for `_id` as a property to decide whether to generate one; a Map keeps it as an entry.
    Object.defineProperty(ordered, '_id', { value: ordered.get('_id'), enumerable: false });
  }
  return ordered as BSON.Document;
}
