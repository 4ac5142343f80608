// Differential and incremental backups of MariaDB (the shared chain scenario), in a database whose name
// looks like an option, seeded with the data that hurts and changed between steps.

import { mysql } from '../src/engines/mysql.ts';
import { incrementalScenario } from './support/incremental.ts';
import { adminSql, connectionFor, dropDatabase, fingerprint, hostileName, seed, HOST, PORT } from './support/mysql.ts';

incrementalScenario(
  {
    engine: mysql,
    fresh: async () => connectionFor(hostileName()),
    url: (conn) => `mysql://root@${HOST}:${PORT}/${encodeURIComponent(conn.database)}`,
    seed,
    change: async (conn, step) => {
      await adminSql(
        `INSERT INTO \`parent t\` VALUES (${10 + step}, 'step ${step} 😀');
         UPDATE child SET note = 'u${step}' ORDER BY id LIMIT 1;
         DELETE FROM \`no pk\` LIMIT 1;
         INSERT INTO \`no pk\` VALUES (${step}, 's${step}');
         ALTER TABLE child ADD COLUMN extra_${step} INT DEFAULT ${step};`,
        conn.database,
      );
    },
    fingerprint,
    drop: (conn) => dropDatabase(conn.database),
  },
  { compression: 'gzip' },
);
