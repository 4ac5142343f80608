// Differential and incremental backups of MongoDB (the shared chain scenario) on the MongoDB-wire test
// server (FerretDB), seeded with documents that hurt and changed between steps, including new indexes
// and collections.

import { BSON } from 'mongodb';
import { mongodb } from '../src/engines/mongodb.ts';
import { incrementalScenario } from './support/incremental.ts';
import { mongoBase, mongoConnection, mongoFixture, uniqueDatabase, withMongo } from './support/mongodb.ts';

const { Int32 } = BSON;

incrementalScenario({
  engine: mongodb,
  fresh: async () => mongoConnection(uniqueDatabase('coffre_inc')),
  url: (conn) => `${mongoBase}/${conn.database}`,
  seed: mongoFixture.seed,
  change: (conn, step) =>
    withMongo(async (client) => {
      const db = client.db(conn.database);
      const many = db.collection<{ _id: BSON.Int32; s?: string; n?: unknown }>('many docs');
      await many.insertOne({ _id: new Int32(10_000 + step), s: `new at step ${step} 😀` });
      await many.updateOne({ _id: new Int32(step) }, { $set: { s: `updated at step ${step}` } });
      await many.deleteOne({ _id: new Int32(100 + step) });
      await many.createIndex({ s: 1, [`extra_${step}`]: 1 }, { name: `step_${step}` });
      await db.collection(`added ${step}`).insertOne({ step });
    }),
  fingerprint: mongoFixture.fingerprint,
  drop: mongoFixture.drop,
});
