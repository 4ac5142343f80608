// The restore filter and its lexer (src/sql/): what each dialect's client would call a statement, a
// client command or data, however the bytes are cut; data that looks like a statement stays data.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { connectTarget, filterSql, type SqlDialect, type SqlFilterOptions } from '../src/sql/filter.ts';
import { psqlHasRestrict } from '../src/engines/postgres.ts';
import { isCoffreError } from '../src/core/errors.ts';

interface Outcome {
  out: string;
  databases: string[];
  notes: string[];
  code?: string;
}

/** Runs text through the filter, cut at the given offsets. */
async function run(dialect: SqlDialect, text: string | Buffer, cuts: number[] = [], options: Partial<SqlFilterOptions> = {}): Promise<Outcome> {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const parts: Buffer[] = [];
  let last = 0;
  for (const cut of [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b)) {
    parts.push(bytes.subarray(last, cut));
    last = cut;
  }
  parts.push(bytes.subarray(last));
  const stream = filterSql([Readable.from(parts)], { dialect, ...options });
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream) chunks.push(c as Buffer);
  } catch (err) {
    if (!isCoffreError(err)) throw err;
    return { out: Buffer.concat(chunks).toString(), databases: stream.sqlFilter.report.databases, notes: [], code: err.code };
  }
  return { out: Buffer.concat(chunks).toString(), databases: stream.sqlFilter.report.databases, notes: stream.sqlFilter.notes() };
}

const cutsFor = (text: string) => fc.array(fc.nat(Buffer.byteLength(text)), { maxLength: 12 });

// Text that looks like what a restore must never run, put where it is data.
const evil = fc.oneof(
  fc.constantFrom(
    'USE x;',
    '\\connect x',
    '\\c victim',
    'CREATE DATABASE v;',
    'DROP DATABASE v;',
    '\\! touch /tmp/m',
    '\\.',
    ';',
    "'",
    '"',
    '`',
    '$$',
    '$q$',
    '*/',
    '/*',
    '--',
    '#',
    '\\',
    '\n',
    'DELIMITER ;;',
    '/*!40000 USE v*/',
  ),
  fc.string({ maxLength: 12 }),
);
const payload = fc.array(evil, { maxLength: 8 }).map((a) => a.join(''));

test('lexer: PostgreSQL strings, dollar quotes, comments and COPY data that read like statements stay data, however cut', async () => {
  const pgDocs = payload.map((s) => {
    const noDollar = s.replace(/\$q\$/g, '');
    const copyRow = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r');
    return [
      `INSERT INTO t VALUES ('${s.replace(/'/g, "''")}');`,
      `INSERT INTO t VALUES (E'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}');`,
      `SELECT $q$${noDollar}$q$;`,
      `SELECT 1 /* ${s.replace(/\*\//g, '').replace(/\/\*/g, '')} */;`,
      `-- ${s.replace(/\n/g, ' ')}`,
      `CREATE TABLE "${s.replace(/"/g, '""')}" (a int);`,
      'COPY t (a) FROM stdin;',
      copyRow,
      '\\.',
      'SELECT 2;',
      '',
    ].join('\n');
  });
  await fc.assert(
    fc.asyncProperty(
      pgDocs.chain((doc) => fc.tuple(fc.constant(doc), cutsFor(doc))),
      async ([doc, cuts]) => {
        const r = await run('postgres', doc, cuts);
        return r.code === undefined && r.out === doc && r.databases.length === 0;
      },
    ),
    { numRuns: 300 },
  );
});

test('lexer: MySQL strings (with backslash escapes), identifiers and comments that read like statements stay data, however cut', async () => {
  const docs = payload.map((s) => {
    const esc = s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/"/g, '\\"');
    return [
      `INSERT INTO t VALUES ('${esc}', "${esc}", '${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}');`,
      `CREATE TABLE \`${s.replace(/`/g, '``')}\` (a int);`,
      `/* ${s.replace(/\*\//g, '')} */ SELECT 1;`,
      `-- ${s.replace(/\n/g, ' ')}`,
      `# ${s.replace(/\n/g, ' ')}`,
      'SELECT 2;',
      '',
    ].join('\n');
  });
  await fc.assert(
    fc.asyncProperty(
      docs.chain((doc) => fc.tuple(fc.constant(doc), cutsFor(doc))),
      async ([doc, cuts]) => {
        const r = await run('mysql', doc, cuts);
        return r.code === undefined && r.out === doc && r.databases.length === 0;
      },
    ),
    { numRuns: 300 },
  );
});

test('lexer: SQLite strings and [names] that read like statements stay data', async () => {
  const docs = payload.map((s) => `INSERT INTO [${s.replace(/\]/g, '')}] VALUES ('${s.replace(/'/g, "''")}', "${s.replace(/"/g, '""')}");\n`);
  await fc.assert(
    fc.asyncProperty(
      docs.chain((doc) => fc.tuple(fc.constant(doc), cutsFor(doc))),
      async ([doc, cuts]) => {
        const r = await run('sqlite', doc, cuts);
        return r.code === undefined && r.out === doc;
      },
    ),
    { numRuns: 200 },
  );
});

test('filter: the output does not depend on how the input is cut (any bytes, any dialect)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<SqlDialect>('postgres', 'mysql', 'sqlite'),
      fc.array(fc.oneof(evil, fc.constantFrom('SELECT 1;', 'COPY t FROM stdin;\n', 'USE a;', '\\c a\n', 'CREATE DATABASE a;')), { maxLength: 20 }).map((a) => a.join(' ')),
      fc.array(fc.nat(400), { maxLength: 15 }),
      async (dialect, doc, cuts) => {
        const whole = await run(dialect, doc);
        const cut = await run(dialect, doc, cuts);
        assert.deepEqual(cut, whole);
        return true;
      },
    ),
    { numRuns: 400 },
  );
});

test('filter: PostgreSQL database statements are dropped, the dump goes into the target, and the journal note says so', async () => {
  const doc =
    "DROP DATABASE IF EXISTS chinook;\nCREATE DATABASE chinook;\n\\c chinook;\nCREATE TABLE a (x int);\nALTER DATABASE chinook SET x = 1;\nCOMMENT ON DATABASE chinook IS 'c';\nGRANT CONNECT ON DATABASE chinook TO public;\n";
  const r = await run('postgres', doc, [7, 30, 41]);
  assert.equal(r.out, '\n\n\nCREATE TABLE a (x int);\n\n\n\n');
  assert.deepEqual(r.databases, ['chinook']);
  assert.match(r.notes.join(' '), /DROP DATABASE, CREATE DATABASE, \\c, ALTER DATABASE, COMMENT ON DATABASE, GRANT \.\.\. ON DATABASE/);
});

test('filter: pg_dump -C output, and \\connect in all its spellings', async () => {
  const doc = [
    "CREATE DATABASE shop WITH TEMPLATE = template0 ENCODING = 'UTF8';",
    'ALTER DATABASE shop OWNER TO postgres;',
    '\\connect shop',
    'CREATE TABLE t (a int);',
    '\\connect -reuse-previous=on "dbname=\'shop\'"',
    '\\c shop',
    '',
  ].join('\n');
  const r = await run('postgres', doc);
  assert.equal(r.code, undefined);
  assert.deepEqual(r.databases, ['shop']);
  assert.equal(r.out.trim(), 'CREATE TABLE t (a int);');
  assert.equal(connectTarget('"My DB"'), 'My DB');
  assert.equal(connectTarget("-reuse-previous=on \"dbname='we\\'ird'\""), "we'ird"); // as pg_dump writes it
  assert.equal(connectTarget('postgresql://h/sh%20op'), 'sh op');
  assert.equal(connectTarget('-'), undefined);
  assert.equal(connectTarget('chinook;'), 'chinook');
});

test('filter: a dump of several databases is refused unless one is picked, then only its part is kept', async () => {
  const doc =
    'SET a = 1;\nCREATE ROLE r;\n\\connect one\nCREATE TABLE t1 (a int);\nCOPY t1 FROM stdin;\n1\n\\.\n\\connect two\nCREATE TABLE t2 (a int);\nCOPY t2 FROM stdin;\n2\n\\.\n';
  assert.equal((await run('postgres', doc)).code, 'COFFRE_E_SQL_SEVERAL_DATABASES');
  const two = await run('postgres', doc, [50, 90], { select: 'two' });
  assert.equal(two.out.replace(/\n+/g, '\n'), 'SET a = 1;\nCREATE TABLE t2 (a int);\nCOPY t2 FROM stdin;\n2\n\\.\n');
  assert.equal((await run('postgres', doc, [], { select: 'three' })).code, 'COFFRE_E_SQL_DATABASE_NOT_IN_DUMP');
  const my =
    'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `a` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;\nUSE `a`;\nCREATE TABLE x (i int);\nCREATE DATABASE `b`;\nUSE `b`;\nCREATE TABLE y (i int);\n';
  assert.equal((await run('mysql', my)).code, 'COFFRE_E_SQL_SEVERAL_DATABASES');
  assert.equal((await run('mysql', my, [], { select: 'b' })).out.trim(), 'CREATE TABLE y (i int);');
});

test('filter: MySQL USE, CREATE/DROP DATABASE|SCHEMA (also in executable comments) are dropped; ALTER DATABASE of the dump loses its name', async () => {
  const doc = [
    '/*!40101 SET NAMES utf8mb4 */;',
    '/*!40000 DROP DATABASE IF EXISTS `shop`*/;',
    'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 */;',
    'USE `shop`;',
    'DROP SCHEMA IF EXISTS shop;',
    'ALTER DATABASE `shop` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;',
    'ALTER DATABASE `other` CHARACTER SET latin1 ;',
    'DELIMITER ;;',
    'CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a = 1; USE y; END ;;',
    'DELIMITER ;',
    '\\u shop',
    'connect shop;',
    '',
  ].join('\n');
  for (const cuts of [[], [3, 17, 80, 81, 82, 200, 333]]) {
    const r = await run('mysql', doc, cuts);
    assert.equal(r.code, undefined);
    assert.deepEqual(r.databases, ['shop']);
    assert.equal(
      r.out.replace(/\n+/g, '\n'),
      '/*!40101 SET NAMES utf8mb4 */;\nALTER DATABASE  CHARACTER SET latin1 COLLATE latin1_swedish_ci ;\nDELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a = 1; USE y; END ;;\nDELIMITER ;\n',
    );
  }
});

test("filter: MySQL names qualified with the dump's own database lose the qualifier, however cut", async () => {
  const doc = "USE sakila;\nCREATE VIEW v AS SELECT f.title FROM sakila.film f JOIN `sakila`.`actor` a WHERE f.x = 'sakila.y' AND other.t.c = 1;\nSELECT sakila\n;";
  const want = "\nCREATE VIEW v AS SELECT f.title FROM film f JOIN `actor` a WHERE f.x = 'sakila.y' AND other.t.c = 1;\nSELECT sakila\n;";
  await fc.assert(
    fc.asyncProperty(cutsFor(doc), async (cuts) => {
      const r = await run('mysql', doc, cuts);
      assert.equal(r.out, want);
      return true;
    }),
    { numRuns: 200 },
  );
});

test('filter: client commands never pass; the harmless ones are dropped, the rest refused naming them', async () => {
  for (const line of [
    '\\! touch /tmp/m',
    '\\o |cat',
    "\\copy t from program 'id'",
    'SELECT 1 \\g |cat',
    '\\i /etc/passwd',
    '\\ir x.sql',
    '\\setenv A b',
    '\\w /tmp/x',
    '\\gexec',
  ]) {
    const r = await run('postgres', `SELECT 0;\n${line}\nSELECT 2;\n`);
    assert.equal(r.code, 'COFFRE_E_SQL_CLIENT_COMMAND', line);
    assert.doesNotMatch(r.out, /\\/, `nothing of ${line} was passed on`);
  }
  const ok = await run('postgres', '\\restrict abc\n\\set ON_ERROR_STOP off\nSELECT 1;\n\\unrestrict abc\n');
  assert.equal(ok.out.trim(), 'SELECT 1;');
  assert.equal((await run('mysql', '\\! id\n')).code, 'COFFRE_E_SQL_CLIENT_COMMAND');
  assert.equal((await run('sqlite', 'SELECT 1;\n.shell id\n')).code, 'COFFRE_E_SQL_CLIENT_COMMAND');
});

test('filter: COPY ... PROGRAM is refused unless allowed; SQLite ATTACH and VACUUM INTO are refused', async () => {
  assert.equal((await run('postgres', "COPY t FROM PROGRAM 'id';\n")).code, 'COFFRE_E_SQL_COPY_PROGRAM');
  assert.equal((await run('postgres', "COPY (SELECT 1) TO PROGRAM 'id';\n")).code, 'COFFRE_E_SQL_COPY_PROGRAM');
  assert.equal((await run('postgres', "COPY t FROM PROGRAM 'id';\n", [], { allowProgram: true })).out, "COPY t FROM PROGRAM 'id';\n");
  assert.equal((await run('postgres', 'COPY t (program) FROM stdin;\nprogram\n\\.\n')).code, undefined);
  assert.equal((await run('sqlite', "ATTACH 'x.db' AS y;")).code, 'COFFRE_E_SQL_SQLITE_ATTACH');
  assert.equal((await run('sqlite', "VACUUM INTO '/tmp/x.db';")).code, 'COFFRE_E_SQL_SQLITE_ATTACH');
  assert.equal((await run('sqlite', 'BEGIN TRANSACTION;\nCREATE TABLE t (a);\nCOMMIT;\n')).out.trim(), 'CREATE TABLE t (a);');
});

test('filter: COPY FROM or TO a server file is refused unless allowed, in every spelling; STDIN, STDOUT and PROGRAM words are not files', async () => {
  for (const stmt of [
    "COPY t FROM '/etc/passwd';",
    "copy t from E'/etc/passwd';",
    'COPY t FROM $$/etc/passwd$$;',
    "COPY t (a, b) FROM '/tmp/x' WITH (FORMAT csv);",
    "COPY t TO '/var/lib/postgresql/.ssh/authorized_keys';",
    "COPY (SELECT 'x' FROM y) TO '/tmp/out';",
    "COPY public.t FROM\n  '/tmp/x';",
  ]) {
    assert.equal((await run('postgres', `${stmt}\n`)).code, 'COFFRE_E_SQL_COPY_SERVER_FILE', stmt);
    assert.equal((await run('postgres', `${stmt}\n`, [], { allowProgram: true })).code, undefined, `${stmt} with allowProgram`);
  }
  assert.equal((await run('postgres', 'COPY t TO STDOUT;\n')).code, undefined);
  assert.equal((await run('postgres', 'COPY t (a) FROM stdin;\n1\n\\.\n')).code, undefined);
  assert.equal((await run('postgres', "COPY (SELECT 'FROM ''/x''') TO stdout;\n")).code, undefined, 'a quoted FROM inside the query is no file');
  // MySQL and SQLite have no COPY statement: the word means nothing there.
  assert.equal((await run('mysql', "SELECT 'COPY t FROM ''/etc/passwd''';\n")).code, undefined);
});

test('lexer: a statement after COPY FROM stdin on its line, and a BEGIN ATOMIC body, are read as psql reads them', async () => {
  assert.equal((await run('postgres', 'COPY t FROM stdin; DROP DATABASE x;\n1\n\\.\n')).code, 'COFFRE_E_SQL_COPY_LINE');
  const body = 'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\nUSE x;\n';
  assert.equal((await run('postgres', body)).out, body, 'USE is no PostgreSQL statement; the body is one statement');
});

test('filter: memory stays bounded: a held statement prefix over 1 MiB is refused, long statements and data pass', async () => {
  const long = `INSERT INTO t VALUES ('${'x'.repeat(3 << 20)}');\n`;
  assert.equal((await run('postgres', long, [1000, 500000, 2000000])).out.length, long.length);
  const hidden = `CREATE /*${' '.repeat(2 << 20)}*/ DATABASE x;`;
  assert.equal((await run('postgres', hidden, [100, 1 << 20, (1 << 20) + 10, 2 << 20])).code, 'COFFRE_E_SQL_STATEMENT_TOO_LONG');
});

test('psql: \\restrict is used from the minor versions that have it', () => {
  assert.equal(psqlHasRestrict(150014), true);
  assert.equal(psqlHasRestrict(150013), false);
  assert.equal(psqlHasRestrict(170006), true);
  assert.equal(psqlHasRestrict(120022), false);
  assert.equal(psqlHasRestrict(180000), true);
});

test('filter: statements on the server itself are refused (roles, memberships, tablespaces, ALTER SYSTEM, LOAD; MySQL users, grants, plugins, FLUSH), its global variables dropped; the database own objects pass', async () => {
  const refused: Array<[SqlDialect, string]> = [
    ['postgres', 'CREATE ROLE evil SUPERUSER;'],
    ['postgres', "ALTER ROLE postgres PASSWORD 'x';"],
    ['postgres', 'DROP USER someone;'],
    ['postgres', 'CREATE GROUP g;'],
    ['postgres', "CREATE TABLESPACE ts LOCATION '/tmp';"],
    ['postgres', "ALTER SYSTEM SET log_statement = 'none';"],
    ['postgres', "LOAD 'plugin';"],
    ['postgres', 'GRANT pg_read_server_files TO app;'],
    ['postgres', 'REVOKE admin FROM app;'],
    ['postgres', 'GRANT CREATE ON TABLESPACE ts TO app;'],
    ['postgres', 'GRANT SET ON PARAMETER log_statement TO app;'],
    ['postgres', "COMMENT ON ROLE postgres IS 'x';"],
    ['postgres', "SECURITY LABEL FOR selinux ON ROLE app IS 'x';"],
    ['mysql', "CREATE USER 'a'@'%' IDENTIFIED BY 'x';"],
    ['mysql', "CREATE OR REPLACE USER 'a'@'%';"],
    ['mysql', "DROP USER 'a'@'%';"],
    ['mysql', "RENAME USER 'a'@'%' TO 'b'@'%';"],
    ['mysql', "GRANT ALL ON *.* TO 'a'@'%';"],
    ['mysql', "GRANT SELECT ON db.* TO 'a'@'%';"],
    ['mysql', "SET PASSWORD FOR 'root'@'localhost' = PASSWORD('x');"],
    ['mysql', "INSTALL SONAME 'ha_connect';"],
    ['mysql', 'FLUSH PRIVILEGES;'],
    ['mysql', "CHANGE MASTER TO MASTER_HOST='h';"],
  ];
  for (const [dialect, stmt] of refused) {
    const doc = `CREATE TABLE t (a int);\n${stmt}\nCREATE TABLE u (a int);\n`;
    assert.equal((await run(dialect, doc)).code, 'COFFRE_E_SQL_SERVER_STATEMENT', `${dialect}: ${stmt}`);
    assert.equal((await run(dialect, doc, [doc.indexOf(stmt) + 3, doc.indexOf(stmt) + 9])).code, 'COFFRE_E_SQL_SERVER_STATEMENT', `${dialect}, cut: ${stmt}`);
    assert.equal((await run(dialect, doc, [], { allowProgram: true })).code, 'COFFRE_E_SQL_SERVER_STATEMENT', `${dialect}, whatever is allowed: ${stmt}`);
  }
  const passing: Array<[SqlDialect, string]> = [
    ['postgres', 'CREATE USER MAPPING FOR app SERVER s;'],
    ['postgres', 'GRANT SELECT ON TABLE t TO app;'],
    ['postgres', 'REVOKE ALL ON SCHEMA public FROM PUBLIC;'],
    ['postgres', 'ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES TO app;'],
    ['postgres', 'SET ROLE app;'],
    ['postgres', "COMMENT ON TABLE t IS 'x';"],
    ['mysql', 'SET NAMES utf8mb4;'],
    ['mysql', '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;'],
    ['mysql', 'CREATE DEFINER=`root`@`localhost` VIEW v AS SELECT 1;'],
    ['mysql', 'SELECT 1 INTO @x;'],
  ];
  for (const [dialect, stmt] of passing) {
    const r = await run(dialect, `${stmt}\n`);
    assert.equal(r.code, undefined, `${dialect}: ${stmt} passes`);
    assert.equal(r.out.trim(), stmt);
  }
  // A dump's GTID bookkeeping (a global variable of the server) is dropped, and said so.
  const gtid = await run('mysql', "SET @@GLOBAL.GTID_PURGED='x';\nSET GLOBAL gtid_slave_pos='0-1-2';\nCREATE TABLE t (a int);\n");
  assert.equal(gtid.code, undefined);
  assert.equal(gtid.out.trim(), 'CREATE TABLE t (a int);');
  // pg_dumpall's roles come before its databases: with one picked they are left out; alone, they are refused.
  const all = 'CREATE ROLE r;\nGRANT r TO s;\n\\connect one\nCREATE TABLE t1 (a int);\n\\connect two\nCREATE TABLE t2 (a int);\n';
  assert.equal((await run('postgres', all, [], { select: 'one' })).out.trim(), 'CREATE TABLE t1 (a int);');
  assert.equal((await run('postgres', all)).code, 'COFFRE_E_SQL_SEVERAL_DATABASES');
  assert.equal((await run('postgres', 'CREATE ROLE r;\nCREATE TABLE t (a int);\n')).code, 'COFFRE_E_SQL_SERVER_STATEMENT');
});

test('filter: MySQL server files (LOAD DATA INFILE, SELECT ... INTO OUTFILE|DUMPFILE) are refused unless allowed; LOAD DATA LOCAL never passes', async () => {
  for (const stmt of [
    "SELECT * FROM t INTO OUTFILE '/tmp/x';",
    "SELECT a INTO DUMPFILE '/tmp/x' FROM t;",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE t;",
    "(SELECT 1) INTO OUTFILE '/tmp/y';",
  ]) {
    const doc = `CREATE TABLE t (a int);\n${stmt}\n`;
    assert.equal((await run('mysql', doc)).code, 'COFFRE_E_SQL_COPY_SERVER_FILE', stmt);
    assert.equal((await run('mysql', doc, [doc.length - 12])).code, 'COFFRE_E_SQL_COPY_SERVER_FILE', `cut: ${stmt}`);
    const allowed = await run('mysql', doc, [], { allowProgram: true });
    assert.equal(allowed.code, undefined, `allowed: ${stmt}`);
  }
  const local = "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t;\n";
  assert.equal((await run('mysql', local)).code, 'COFFRE_E_SQL_LOCAL_INFILE');
  assert.equal((await run('mysql', local, [], { allowProgram: true })).code, 'COFFRE_E_SQL_LOCAL_INFILE');
});
