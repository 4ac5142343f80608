// Differential and incremental backups of PostgreSQL (the shared chain scenario) on the local server,
// seeded with the data that hurts and changed by inserts, updates, deletes and ALTER TABLE between steps.

import { postgres } from '../src/engines/postgres.ts';
import { incrementalScenario } from './support/incremental.ts';
import { adminUrl, connectionTo, dropDatabase, execSql, fingerprint, seedSql, uniqueName } from './support/postgres.ts';

const gone = ['huge', 'limits', 'long'];

incrementalScenario({
  engine: postgres,
  fresh: async () => connectionTo(uniqueName('coffre_inc')),
  url: (conn) => `${adminUrl.replace(/\/[^/]*$/, '')}/${encodeURIComponent(conn.database)}`,
  seed: (conn) => execSql(conn, seedSql),
  change: (conn, step) =>
    execSql(
      conn,
      `INSERT INTO items (label, qty, docb) VALUES ('step ${step} 😀', ${step}, '{"step": ${step}}');
       UPDATE items SET note = 'updated at step ${step}' WHERE label = 'tiny' OR id = 50;
       DELETE FROM audit WHERE item_id IN (SELECT id FROM items WHERE label = '${gone[step - 1]}');
       DELETE FROM items WHERE label = '${gone[step - 1]}';
       ALTER TABLE items ADD COLUMN extra_${step} text DEFAULT 'x${step}';
       REFRESH MATERIALIZED VIEW mood_counts;`,
    ),
  fingerprint,
  drop: dropDatabase,
});
