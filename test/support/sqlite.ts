// SQLite databases for tests: what a database holds as one comparable string, and a table of random blobs.

import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';

/**
 * Everything a SQLite file holds, as one string: its whole schema (sqlite_master: tables, indexes, views,
 * triggers) and every table's rows in order, integers read exactly (bigint) and blobs as hex. Two files
 * with the same fingerprint hold the same data.
 */
export function sqliteFingerprint(file: string): string {
  const db = new DatabaseSync(file, { readOnly: true, readBigInts: true });
  try {
    const schema = db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name').all();
    const out: unknown[] = [schema];
    for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>) {
      const q = `"${t.name.replace(/"/g, '""')}"`;
      out.push(t.name, db.prepare(`SELECT * FROM ${q} ORDER BY 1`).all());
    }
    return JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
  } finally {
    db.close();
  }
}

/** A new SQLite file with one table `t (id integer primary key, b blob)` of `rows` rows of `blobBytes` random bytes. */
export function blobDatabase(file: string, rows: number, blobBytes: number): void {
  const db = new DatabaseSync(file);
  db.exec('create table t (id integer primary key, b blob)');
  const insert = db.prepare('insert into t (id, b) values (?, ?)');
  db.exec('begin');
  for (let i = 1; i <= rows; i++) insert.run(i, randomBytes(blobBytes));
  db.exec('commit');
  db.close();
}

/** A new SQLite file with a table `orders (id integer primary key, total integer)` of `rows` rows, totals 0 to rows - 1. */
export function ordersDatabase(file: string, rows: number): void {
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE orders(id INTEGER PRIMARY KEY, total INTEGER)');
  const insert = db.prepare('INSERT INTO orders(total) VALUES (?)');
  for (let i = 0; i < rows; i++) insert.run(i);
  db.close();
}
