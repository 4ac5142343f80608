// The engines' names with what each declares about itself: its target URLs, the raw formats it restores and,
// for a SQL engine, its dumps' marks. The one table the EngineName, RawFormat and SqlDialect unions follow from
// (src/engines/index.ts registers each name's implementation; src/core/connection.ts parses URLs with it,
// codecs/sniff.ts tells a SQL dump's dialect, pipeline/restore.ts which engines read a format).
// Adding an engine is one entry here, its file, one registry line and its test.

export const engineUrls = {
  postgres: {
    schemes: ['postgres:', 'postgresql:'],
    defaultPort: 5432,
    example: 'postgres://user:pass@host:5432/db',
    formats: ['sql', 'pg-custom', 'pg-tar', 'pg-directory'],
    sqlMarks: [/^-- PostgreSQL database dump/m, /^SELECT pg_catalog\.set_config\(/m, /^\\restrict /m],
  },
  mysql: {
    schemes: ['mysql:', 'mariadb:'],
    defaultPort: 3306,
    example: 'mysql://user:pass@host:3306/db',
    formats: ['sql'],
    sqlMarks: [/^-- (MySQL|MariaDB) dump/m, /^\/\*M?!\d{5,6}/m],
  },
  mongodb: {
    schemes: ['mongodb:', 'mongodb+srv:'],
    defaultPort: 27017,
    example: 'mongodb://user:pass@host:27017/db',
    formats: ['mongo-archive', 'mongo-directory', 'mongo-bson'],
  },
  sqlite: {
    schemes: ['sqlite:'],
    defaultPort: undefined,
    example: 'sqlite:/absolute/path.db',
    formats: ['sql', 'sqlite'],
    // sqlite3 .dump
    sqlMarks: [/^PRAGMA foreign_keys=OFF;\r?\nBEGIN TRANSACTION;/],
  },
} as const satisfies Record<string, EngineDeclaration>;

/** What an engine declares about itself, beside its implementation (src/engines/index.ts). */
interface EngineDeclaration {
  /** The URL schemes of its targets, with the colon. */
  schemes: readonly string[];
  defaultPort: number | undefined;
  /** A target URL, for messages. */
  example: string;
  /** The raw dump formats it restores (see RawFormat); `sql` is plain SQL text, shared by the SQL engines. */
  formats: readonly string[];
  /** For an engine whose dumps are SQL text: the marks its tool leaves in a dump's first lines (its SQL dialect's name is the engine's). */
  sqlMarks?: readonly RegExp[];
}

export type EngineName = keyof typeof engineUrls;
export const engineNames = Object.keys(engineUrls) as EngineName[];

/**
 * What a raw (uncompressed) dump is, as told by its bytes (codecs/sniff.ts); each engine declares the ones it restores:
 * - `sql`: plain SQL text (pg_dump -Fp, mysqldump/mariadb-dump, sqlite3 .dump)
 * - `pg-custom`: pg_dump -Fc ("PGDMP" magic)
 * - `pg-tar`: pg_dump -Ft (a tar whose first entry is toc.dat)
 * - `pg-directory`: pg_dump -Fd (a folder holding toc.dat; only from --file)
 * - `mongo-archive`: mongodump --archive format (magic 0x8199e26d)
 * - `mongo-directory`: mongodump's default output, a folder of `<db>/<coll>.bson` + `.metadata.json` (a path)
 * - `mongo-bson`: one collection's `.bson` file (consecutive BSON documents; the collection named by the file)
 * - `sqlite`: a SQLite database file ("SQLite format 3\0")
 */
export type RawFormat = (typeof engineUrls)[EngineName]['formats'][number];

/** The SQL dialects: the engines whose dumps are SQL text (the lexer has a grammar for each). */
export type SqlDialect = { [E in EngineName]: (typeof engineUrls)[E] extends { sqlMarks: readonly RegExp[] } ? E : never }[EngineName];
export const sqlDialects = engineNames.filter((e) => 'sqlMarks' in engineUrls[e]) as SqlDialect[];

/** The engines that restore a raw format. */
export function enginesReading(format: RawFormat): EngineName[] {
  return engineNames.filter((e) => (engineUrls[e].formats as readonly string[]).includes(format));
}

/** The SQL dialect whose tool's marks a dump's first lines show, or undefined. */
export function sqlDialectMarked(text: string): SqlDialect | undefined {
  return sqlDialects.find((d) => (engineUrls[d] as { sqlMarks: readonly RegExp[] }).sqlMarks.some((mark) => mark.test(text)));
}
