// Test helpers for the MariaDB server on 127.0.0.1:3306: an admin SQL runner (root, no password, run
// through the real client, independent of the engine under test), unique hostile database names, a seed
// of data that hurts, and a fingerprint of everything a restore must bring back.

import { randomBytes } from 'node:crypto';
import { parseConnectionUrl, type Connection } from '../../src/core/connection.ts';
import { runTool } from '../../src/children/process.ts';

export const HOST = '127.0.0.1';
export const PORT = 3306;

/** Backtick-quoted identifier. */
export function q(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Runs SQL as root (optionally with a default database) and returns its batch output rows. */
export async function adminSql(sql: string, database?: string): Promise<string[][]> {
  const out = await runTool(
    {
      command: 'mariadb',
      args: ['-uroot', `-h${HOST}`, `-P${PORT}`, '--protocol=TCP', '--batch', '--skip-column-names', '--default-character-set=utf8mb4', ...(database ? ['--', database] : [])],
      label: 'TEST_SQL',
    },
    sql,
  );
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/** A unique database name that looks like an option, holds "=", spaces and a backtick. */
export function hostileName(): string {
  return `-x a=b \`q\` ${randomBytes(5).toString('hex')}`;
}

export function connectionFor(database: string, user = 'root', password?: string, port = PORT): Connection {
  const auth = password === undefined ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
  return parseConnectionUrl(`mysql://${auth}@${HOST}:${port}/${encodeURIComponent(database)}`);
}

export async function dropDatabase(name: string): Promise<void> {
  await adminSql(`DROP DATABASE IF EXISTS ${q(name)};`);
}

const all256 = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex');

/** Creates the database when missing and fills it with data that hurts. */
export async function seed(conn: Connection): Promise<void> {
  await adminSql(`CREATE DATABASE IF NOT EXISTS ${q(conn.database)} CHARACTER SET utf8mb4;`);
  // § stands for a backtick, which a template literal cannot hold unescaped.
  const sql = String.raw`
SET time_zone = '+00:00';
CREATE TABLE §odd §§name§§ t§ (
  id INT AUTO_INCREMENT PRIMARY KEY,
  §we§§ird col§ VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  emoji TEXT,
  nothing INT NULL,
  bin BLOB,
  doc JSON,
  long_text LONGTEXT,
  dec65 DECIMAL(65,30),
  dbl DOUBLE,
  flt FLOAT,
  bits BIT(64),
  bit1 BIT(1),
  dt DATETIME(6),
  ts TIMESTAMP(6) NULL DEFAULT NULL,
  d DATE,
  tm TIME(6),
  en ENUM('a','b c','é✓'),  -- 4-byte characters in ENUM/SET labels do not survive SHOW CREATE TABLE (MariaDB 10.11)
  st SET('x','y','z'),
  vb VARBINARY(300),
  twice VARCHAR(30) AS (CONCAT(st, '|', en)) STORED,
  UNIQUE KEY §uniq weird§ (§we§§ird col§),
  FULLTEXT KEY §ft emoji§ (emoji),
  KEY composite (dbl, dt),
  KEY prefix (long_text(20))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO §odd §§name§§ t§ (§we§§ird col§, emoji, nothing, bin, doc, long_text, dec65, dbl, flt, bits, bit1, dt, ts, d, tm, en, st, vb) VALUES
 ('first', 'héllo 😀🎉 ✓ 中文 𝄞', 1, UNHEX('${all256}'), '{"k": "😀", "n": [1, 2.5, null, true], "s": "quo\\"te"}',
  REPEAT('0123456789abcdé😀', 52429), 99999999999999999999999999999999999.999999999999999999999999999999,
  1.7976931348623157e308, 3.40282e38, b'1111111111111111111111111111111111111111111111111111111111111111', b'1',
  '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '9999-12-31', '838:59:59.000000', 'é✓', 'x,z', UNHEX('${all256}')),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('it''s \\ "q"\n\t\0 end', '', 0, '', '[]', '', -99999999999999999999999999999999999.999999999999999999999999999999,
  -1.7976931348623157e308, -1.17549e-38, b'0', b'0', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000000', '1000-01-01', '-838:59:59.000000', 'b c', '', ''),
 ('tiny', 'NULL', -2147483648, UNHEX('00'), '{}', 'NULL', 0.000000000000000000000000000001, 2.2250738585072014e-308, 1.5, b'101', b'1',
  '2024-02-29 12:34:56.000001', '2024-02-29 12:34:56.000001', '2024-02-29', '00:00:00.000001', 'a', 'y', UNHEX('FF00')),
 ('gone', 'deleted row', 5, NULL, NULL, NULL, 5e-324, 5e-324, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
DELETE FROM §odd §§name§§ t§ WHERE §we§§ird col§ = 'gone';
INSERT INTO §odd §§name§§ t§ (§we§§ird col§, dbl) VALUES ('denormal', 4.9406564584124654e-324), ('negzero', -0e0);

CREATE TABLE §parent t§ (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, UNIQUE KEY (name)) ENGINE=InnoDB;
CREATE TABLE child (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  parent_id INT NOT NULL,
  note VARCHAR(20) DEFAULT 'dflt',
  CONSTRAINT §fk parent§ FOREIGN KEY (parent_id) REFERENCES §parent t§ (id) ON DELETE CASCADE,
  CONSTRAINT positive CHECK (parent_id > 0)
) ENGINE=InnoDB AUTO_INCREMENT=1000;
CREATE TABLE §audit log§ (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100)) ENGINE=InnoDB;
CREATE TABLE §no pk§ (a INT, b VARCHAR(10)) ENGINE=InnoDB;
INSERT INTO §no pk§ VALUES (1, 'x'), (1, 'x'), (NULL, NULL);

DELIMITER ;;
CREATE TRIGGER §trg §§ins§§§ AFTER INSERT ON §parent t§ FOR EACH ROW
BEGIN
  INSERT INTO §audit log§ (msg) VALUES (CONCAT('parent ', NEW.id, ' ', NEW.name));
END;;
CREATE TRIGGER child_default BEFORE INSERT ON child FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'trig');;
CREATE FUNCTION §f add§(a INT, b INT) RETURNS INT DETERMINISTIC COMMENT 'adds é' RETURN a + b;;
CREATE PROCEDURE §p proc§(IN x INT, OUT y VARCHAR(40))
BEGIN
  SELECT CONCAT('got ', x, ' 😀') INTO y;
END;;
CREATE EVENT §ev nightly§ ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' ON COMPLETION PRESERVE DISABLE COMMENT 'purge é'
DO DELETE FROM §audit log§ WHERE id < 0;;
DELIMITER ;

INSERT INTO §parent t§ VALUES (1, 'one'), (2, 'twö 😀'), (3, '-three');
INSERT INTO child (parent_id, note) VALUES (1, 'a'), (2, NULL), (2, 'b'), (3, 'c');
DELETE FROM child WHERE note = 'c';
CREATE SEQUENCE §seq one§ START WITH 100 INCREMENT BY 5;
SELECT NEXTVAL(§seq one§), NEXTVAL(§seq one§);
CREATE VIEW §v join§ AS SELECT p.name, c.id AS child_id, c.note FROM §parent t§ p JOIN child c ON c.parent_id = p.id;
-- A routine and a trigger made under another database collation: the dump wraps them in ALTER DATABASE.
ALTER DATABASE CHARACTER SET latin1 COLLATE latin1_swedish_ci;
CREATE FUNCTION legacy() RETURNS VARCHAR(10) DETERMINISTIC RETURN 'old';
CREATE TRIGGER §no pk§ BEFORE INSERT ON §no pk§ FOR EACH ROW SET NEW.b = COALESCE(NEW.b, 'default');
ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE SQL SECURITY INVOKER VIEW §v §§q§§§ AS SELECT §f add§(id, 1) AS n, §we§§ird col§ AS w FROM §odd §§name§§ t§ WHERE id < 4 WITH CHECK OPTION;
`.replace(/§/g, '`');
  await adminSql(sql, conn.database);
}

const stringTypes = new Set([
  'char',
  'varchar',
  'tinytext',
  'text',
  'mediumtext',
  'longtext',
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'json',
  'enum',
  'set',
]);

function valueExpr(column: string, type: string): string {
  const c = q(column);
  if (stringTypes.has(type)) return `IF(${c} IS NULL, 'NULL', IF(LENGTH(${c}) <= 300, CONCAT('x', HEX(${c})), CONCAT('len=', LENGTH(${c}), ' sha=', SHA2(${c}, 256))))`;
  if (type === 'bit') return `BIN(${c})`;
  return c;
}

/** Canonical text of everything a restore must bring back; equal for equal databases whatever their names. */
export async function fingerprint(conn: Connection): Promise<string> {
  const db = conn.database;
  const objects = await adminSql(
    `SELECT 'table', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY BINARY TABLE_NAME;
     SELECT 'routine', ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY BINARY ROUTINE_NAME;
     SELECT 'event', EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() ORDER BY BINARY EVENT_NAME;`,
    db,
  );
  const columns = await adminSql(
    `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY BINARY TABLE_NAME, ORDINAL_POSITION;`,
    db,
  );
  const script: string[] = [
    `SET time_zone = '+00:00';`,
    `SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE();`,
  ];
  for (const [kind, name, type] of objects) {
    script.push(`SELECT '== ${kind} ${type}', CONVERT(X'${Buffer.from(name).toString('hex')}' USING utf8mb4);`);
    if (kind === 'table' && type === 'BASE TABLE') {
      script.push(`SHOW CREATE TABLE ${q(name)};`);
      const cols = columns.filter(([t]) => t === name).map(([, col, dataType]) => valueExpr(col, dataType));
      script.push(`SELECT ${cols.join(', ')} FROM ${q(name)} ORDER BY ${cols.map((_, i) => i + 1).join(', ')};`);
    } else if (kind === 'table' && type === 'SEQUENCE') {
      script.push(`SHOW CREATE SEQUENCE ${q(name)};`, `SELECT * FROM ${q(name)};`);
    } else if (kind === 'table' && type === 'VIEW') {
      script.push(`SHOW CREATE VIEW ${q(name)};`, `SELECT * FROM ${q(name)} ORDER BY 1, 2;`);
    } else if (kind === 'routine') {
      script.push(`SHOW CREATE ${type} ${q(name)};`);
    } else if (kind === 'event') {
      script.push(`SHOW CREATE EVENT ${q(name)};`);
    }
  }
  script.push(
    `SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_ORDER, ACTION_STATEMENT, ACTION_TIMING, SQL_MODE, DEFINER, CHARACTER_SET_CLIENT, COLLATION_CONNECTION, DATABASE_COLLATION
       FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY BINARY TRIGGER_NAME;`,
    `SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, INDEX_TYPE FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = DATABASE() ORDER BY BINARY TABLE_NAME, BINARY INDEX_NAME, SEQ_IN_INDEX;`,
    `SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND AUTO_INCREMENT IS NOT NULL ORDER BY BINARY TABLE_NAME;`,
  );
  if (objects.some(([kind, name]) => kind === 'routine' && name === 'f add')) script.push('SELECT `f add`(40, 2);');
  if (objects.some(([kind, name]) => kind === 'routine' && name === 'p proc')) script.push('CALL `p proc`(7, @y); SELECT @y;');
  const rows = await adminSql(script.join('\n'), db);
  return rows.map((r) => r.join('\t')).join('\n');
}
