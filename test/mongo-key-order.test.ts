// A restored MongoDB document keeps its fields in their original order, integer-like keys included: the
// raw BSON read back from the restored collection equals the source's, byte for byte.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { BSON } from 'bson';
import { mongodb } from '../src/engines/mongodb.ts';
import { deserializeInOrder } from '../src/engines/mongo-order.ts';
import { mongoConnection, uniqueDatabase, withMongo } from './support/mongodb.ts';
import type { Connection } from '../src/core/connection.ts';

const made: Connection[] = [];
after(async () => {
  for (const c of made) await withMongo((cl) => cl.db(c.database).dropDatabase()).catch(() => {});
});

// Built as Maps so that the source documents really hold integer-like keys after other keys.
const docs = [
  new Map<string, unknown>([
    ['_id', 1],
    ['name', 'a'],
    ['2', 'two'],
    ['1', 'one'],
  ]),
  new Map<string, unknown>([
    ['_id', 2],
    [
      'nested',
      new Map<string, unknown>([
        ['z', 1],
        ['10', 'ten'],
        [
          'a',
          [
            new Map([
              ['b', 1],
              ['0', 0],
            ]),
          ],
        ],
      ]),
    ],
  ]),
  new Map<string, unknown>([
    ['_id', 3],
    ['plain', { x: 1, y: 2 }],
  ]),
];

test('deserializeInOrder rebuilds only what an object would reorder', () => {
  for (const d of docs) {
    const raw = Buffer.from(BSON.serialize(d));
    assert.deepEqual(Buffer.from(BSON.serialize(deserializeInOrder(raw))), raw);
  }
  const plain = deserializeInOrder(Buffer.from(BSON.serialize({ _id: 4, b: 1, a: 2 })));
  assert.ok(!(plain instanceof Map), 'a document without integer-like keys stays a plain object');
});

test('mongodb: a restore keeps field order, integer-like keys included', async () => {
  const source = mongoConnection(uniqueDatabase());
  const target = mongoConnection(uniqueDatabase());
  made.push(source, target);
  await withMongo(async (cl) => {
    await cl
      .db(source.database)
      .collection('ordered')
      .insertMany(docs as never[]);
  });
  const dump = await mongodb.dump(source, {});
  await mongodb.restore(target, dump.stream, dump.format, { replace: false });
  const rawOf = (c: Connection) =>
    withMongo(
      async (cl) =>
        (await cl
          .db(c.database)
          .collection('ordered', { raw: true } as never)
          .find({})
          .sort({ _id: 1 })
          .toArray()) as unknown as Buffer[],
    );
  const [before, afterRestore] = [await rawOf(source), await rawOf(target)];
  assert.equal(afterRestore.length, docs.length);
  for (let i = 0; i < before.length; i++) assert.deepEqual(Buffer.from(afterRestore[i]), Buffer.from(before[i]));
  // And the source really had integer-like keys after others (the case this protects).
  assert.deepEqual(Object.keys(BSON.deserialize(before[0])), ['1', '2', '_id', 'name']);
});
