// Opens the catalog: the embedded SQLite file through node:sqlite (no native addon), or PostgreSQL when
// DATABASE_URL says so. Both sit behind Kysely, and one migration set is applied at every open. The open
// also loads the secrets key and checks it against a sealed canary, so a wrong ENCRYPTION_SECRET fails at
// start with a clear message instead of at the first restore.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Config } from '../config.ts';
import type { CatalogSchema } from './schema.ts';
import { migrationProvider } from './migrations/index.ts';
import { decryptSecret, encryptSecret, loadSecretKey, type SecretKey } from '../core/secrets.ts';
import { failure, isCoffreError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';

export interface Catalog {
  readonly db: Kysely<CatalogSchema>;
  readonly kind: 'sqlite' | 'postgres';
  /** Seals and opens secrets stored in the catalog. */
  readonly key: SecretKey;
  /** Closes the connection(s). */
  close(): Promise<void>;
}

export interface OpenCatalogOptions {
  /** Where the one-time notice about a generated key goes (default: stderr). */
  announce?: (message: string) => void;
}

type SqliteValue = null | number | bigint | string | Uint8Array;

function toSqlite(params: ReadonlyArray<unknown>): SqliteValue[] {
  return params.map((p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : (p as SqliteValue)));
}

/** Kysely's SqliteDatabase over node:sqlite's DatabaseSync. */
function sqliteAdapter(file: string): SqliteDatabase {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;');
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      const stmt: StatementSync = db.prepare(sql);
      return {
        reader: stmt.columns().length > 0,
        all: (params) => stmt.all(...toSqlite(params)),
        run: (params) => {
          const r = stmt.run(...toSqlite(params));
          return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
        },
        iterate: (params) => stmt.iterate(...toSqlite(params)) as IterableIterator<unknown>,
      };
    },
  };
}

async function openSqlite(file: string): Promise<Kysely<CatalogSchema>> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let database: SqliteDatabase;
  try {
    database = sqliteAdapter(file);
  } catch (err) {
    throw failure('CATALOG_UNAVAILABLE', `Could not open the catalog ${file}: ${(err as Error).message}`, { cause: err });
  }
  await chmod(file, 0o600).catch(() => {});
  return new Kysely<CatalogSchema>({ dialect: new SqliteDialect({ database }) });
}

// pg is loaded only for a PostgreSQL catalog: an embedded one need not pay for it at every start.
async function openPostgres(url: string): Promise<Kysely<CatalogSchema>> {
  const { default: pg } = await import('pg');
  // int8 (sizes, durations, counts) as numbers: no catalog value comes near 2^53.
  const types = {
    getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
  };
  const pool = new pg.Pool({ connectionString: url, types, max: 5 });
  pool.on('error', () => {}); // an idle client's lost connection surfaces on the next query instead
  return new Kysely<CatalogSchema>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * Whether the catalog has run exactly the migrations this code knows, no more and no fewer: one read of the
 * migration table, which lets a start skip the migrator (its lock table, lock and bookkeeping queries) when
 * nothing is to be done. Anything else (a fresh catalog without the table, a missing migration, one this
 * code does not know) goes to the migrator, which applies or refuses as before.
 */
async function migrationsCurrent(db: Kysely<CatalogSchema>): Promise<boolean> {
  let applied: string[];
  try {
    const { rows } = await sql<{ name: string }>`select name from coffre_migrations`.execute(db);
    applied = rows.map((r) => r.name);
  } catch {
    return false;
  }
  const known = Object.keys(await migrationProvider.getMigrations());
  const done = new Set(applied);
  return applied.length === known.length && done.size === known.length && known.every((name) => done.has(name));
}

async function migrate(db: Kysely<CatalogSchema>): Promise<void> {
  if (await migrationsCurrent(db)) return;
  const { Migrator } = await import('kysely/migration');
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    migrationTableName: 'coffre_migrations',
    migrationLockTableName: 'coffre_migrations_lock',
    // a migration numbered below one already applied (branches merged out of order) still runs, once
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw failure('CATALOG_MIGRATION_FAILED', `The catalog could not be migrated${failed ? ` (${failed})` : ''}: ${redact((error as Error).message ?? String(error))}`, {
      cause: error,
    });
  }
}

const CANARY = 'coffre-secret-canary';

/** Checks the key against the canary sealed by the first open, or seals one. */
async function checkKey(db: Kysely<CatalogSchema>, key: SecretKey): Promise<void> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', 'secret_canary').executeTakeFirst();
  if (!row) {
    await db
      .insertInto('settings')
      .values({ key: 'secret_canary', value: encryptSecret(key, CANARY) })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    return;
  }
  decryptSecret(key, row.value, 'this catalog');
}

/** Opens the catalog named by the configuration, migrates it, and checks the secrets key. */
export async function openCatalog(config: Config, options: OpenCatalogOptions = {}): Promise<Catalog> {
  const key = await loadSecretKey(config, options.announce);
  const kind = config.catalog.kind;
  let db: Kysely<CatalogSchema>;
  try {
    db = config.catalog.kind === 'sqlite' ? await openSqlite(config.catalog.path) : await openPostgres(config.catalog.url);
  } catch (err) {
    if (isCoffreError(err)) throw err;
    throw failure('CATALOG_UNAVAILABLE', `Could not open the catalog: ${redact((err as Error).message)}`, { cause: err });
  }
  try {
    await migrate(db);
    await checkKey(db, key);
  } catch (err) {
    await db.destroy().catch(() => {});
    if (isCoffreError(err)) throw err;
    throw failure('CATALOG_UNAVAILABLE', `The catalog is not reachable: ${redact((err as Error).message)}`, { cause: err, retryable: true });
  }
  return { db, kind, key, close: () => db.destroy() };
}
