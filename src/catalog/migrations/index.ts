// Every catalog migration, in order, provided in code (no folder scanning, so it works the same from a
// checkout or a package). Add a file and one line here; never edit a migration that has shipped.

import type { Migration, MigrationProvider } from 'kysely/migration';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-api-tokens.ts';
import * as m0003 from './0003-scheduling.ts';
import * as m0004 from './0004-plan-destinations.ts';
import * as m0005 from './0005-verification.ts';
import * as m0006 from './0006-drop-old-destination-columns.ts';
import * as m0008 from './0008-encryption.ts';
import * as m0011 from './0011-token-roles-sessions.ts';
import * as m0009 from './0009-notifications.ts';
import * as m0012 from './0012-reindex-adoption.ts';
import * as m0013 from './0013-drills.ts';
import * as m0014 from './0014-server-targets.ts';
import * as m0015 from './0015-server-run-leases.ts';

const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-api-tokens': m0002,
  '0003-scheduling': m0003,
  '0004-plan-destinations': m0004,
  '0005-verification': m0005,
  '0006-drop-old-destination-columns': m0006,
  '0008-encryption': m0008,
  '0011-token-roles-sessions': m0011,
  '0009-notifications': m0009,
  '0012-reindex-adoption': m0012,
  '0013-drills': m0013,
  '0014-server-targets': m0014,
  '0015-server-run-leases': m0015,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
