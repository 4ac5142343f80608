// The MySQL/MariaDB engine against the real MariaDB server: the shared engine contract with data that
// hurts and database names that look like options, then the failures a user meets (wrong password,
// unreachable server, missing client, a dump killed mid-stream) and the safety of --replace.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { mysql } from '../src/engines/mysql.ts';
import { isCoffreError, type CoffreError } from '../src/core/errors.ts';
import { engineContract } from './support/engine-contract.ts';
import { collect, streamOf } from './support/streams.ts';
import { adminSql, connectionFor, dropDatabase, fingerprint, hostileName, q, seed } from './support/mysql.ts';
import { until } from './support/wait.ts';

engineContract({
  engine: mysql,
  fresh: async () => connectionFor(hostileName()),
  seed,
  fingerprint,
  drop: (conn) => dropDatabase(conn.database),
  broken: async () => connectionFor(`missing ${hostileName()}`),
});

const databases: string[] = [];
const users: string[] = [];
after(async () => {
  for (const db of databases) await dropDatabase(db).catch(() => {});
  for (const user of users) await adminSql(`DROP USER IF EXISTS ${user};`).catch(() => {});
});

function freshName(): string {
  const name = hostileName();
  databases.push(name);
  return name;
}

function coded(code: string) {
  return (err: unknown) => {
    assert.ok(isCoffreError(err), `expected a CoffreError, got ${String(err)}`);
    assert.equal((err as CoffreError).code, code, (err as CoffreError).message);
    return true;
  };
}

/** Creates a user with a password, allowed everything on the given database. */
async function userWithPassword(database: string): Promise<{ user: string; password: string }> {
  const user = `coffre_u_${randomBytes(4).toString('hex')}`;
  const password = `Pw-${randomBytes(8).toString('hex')}"'\\#`;
  const literal = `'${password.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  users.push(`'${user}'@'%'`);
  await adminSql(`CREATE USER '${user}'@'%' IDENTIFIED BY ${literal}; GRANT ALL ON ${q(database).replace(/_/g, '\\_')}.* TO '${user}'@'%';`);
  return { user, password };
}

async function leftoverSideDatabases(): Promise<string[]> {
  return (await adminSql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'coffre\\_restore\\_%';`)).map((r) => r[0]);
}

test('mysql: probe reports server and client versions', async () => {
  const info = await mysql.probe(connectionFor(freshName()));
  assert.equal(info.tool, 'mariadb-dump');
  assert.match(info.serverVersion, /^\d+\.\d+\.\d+/);
  assert.match(info.clientVersion, /^\d+\.\d+/);
});

test('mysql: inspect tells empty from non-empty and matches names exactly', async () => {
  const name = freshName();
  await adminSql(`CREATE DATABASE ${q(name)};`);
  assert.deepEqual(await mysql.inspect(connectionFor(name)), { exists: true, empty: true });
  assert.deepEqual(await mysql.inspect(connectionFor(name.toUpperCase())), { exists: false, empty: true });
  await adminSql('CREATE FUNCTION only_one() RETURNS INT DETERMINISTIC RETURN 1;', name);
  assert.deepEqual(await mysql.inspect(connectionFor(name)), { exists: true, empty: false });
});

test('mysql: auto-increment counters continue from where they were after a restore', async () => {
  const source = connectionFor(freshName());
  await seed(source);
  const dump = await mysql.dump(source, {});
  const target = connectionFor(freshName());
  await mysql.restore(target, dump.stream, 'sql', { replace: false });
  await adminSql("INSERT INTO child (parent_id) VALUES (1); INSERT INTO `odd ``name`` t` (emoji) VALUES ('new');", target.database);
  const ids = await adminSql('SELECT MAX(id) FROM child; SELECT MAX(id) FROM `odd ``name`` t`; SELECT NEXTVAL(`seq one`);', target.database);
  // child: 1000..1003 were used (1003 deleted); the table: 1..7 used (5 deleted). The sequence resumes after its cache.
  assert.deepEqual(ids, [['1004'], ['8'], ['5100']]);
});

test('mysql: wrong password is an auth failure that never shows the password', async () => {
  const name = freshName();
  await adminSql(`CREATE DATABASE ${q(name)};`);
  const { user, password } = await userWithPassword(name);
  const wrong = `${password}-wrong`;
  const conn = connectionFor(name, user, wrong);
  for (const attempt of [() => mysql.probe(conn), () => mysql.dump(conn, {}), () => mysql.inspect(conn)]) {
    await assert.rejects(attempt(), (err) => {
      coded('COFFRE_E_AUTH_FAILED')(err);
      const e = err as CoffreError;
      assert.equal(e.kind, 'failed');
      assert.ok(!e.message.includes(wrong) && !e.message.includes(password), 'password absent from the message');
      assert.match(e.message, new RegExp(user));
      return true;
    });
  }
  // The right password works, so the failure above is really about the password.
  assert.deepEqual(await mysql.inspect(connectionFor(name, user, password)), { exists: true, empty: true });
});

test('mysql: an unreachable server or unknown host is COFFRE_E_UNREACHABLE', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await assert.rejects(mysql.dump(connectionFor(freshName(), 'root', undefined, port), {}), coded('COFFRE_E_UNREACHABLE'));
  await assert.rejects(mysql.probe({ ...connectionFor(freshName()), host: 'no-such-host.invalid' }), coded('COFFRE_E_UNREACHABLE'));
});

test('mysql: a missing client program is a clear failure, before anything is created', async () => {
  const empty = await mkdtemp(path.join(tmpdir(), 'coffre-nobin-'));
  const saved = process.env.COFFRE_MYSQL_BIN_DIR;
  process.env.COFFRE_MYSQL_BIN_DIR = empty;
  const name = freshName();
  try {
    await assert.rejects(mysql.probe(connectionFor(name)), (err) => {
      coded('COFFRE_E_MYSQL_CLIENT_NOT_FOUND')(err);
      assert.match((err as Error).message, /mariadb-dump.*COFFRE_MYSQL_BIN_DIR/s);
      return true;
    });
    await assert.rejects(mysql.dump(connectionFor(name), {}), coded('COFFRE_E_MYSQL_CLIENT_NOT_FOUND'));
    await assert.rejects(mysql.restore(connectionFor(name), streamOf('SELECT 1;'), 'sql', { replace: false }), coded('COFFRE_E_MYSQL_CLIENT_NOT_FOUND'));
  } finally {
    if (saved === undefined) delete process.env.COFFRE_MYSQL_BIN_DIR;
    else process.env.COFFRE_MYSQL_BIN_DIR = saved;
    await rm(empty, { recursive: true, force: true });
  }
  assert.deepEqual(await mysql.inspect(connectionFor(name)), { exists: false, empty: true });
});

/** Finds the running process whose argv[0] ends with `program` and whose argv holds `marker`. */
async function findChild(program: string, marker: string): Promise<{ pid: number; argv: string[] }> {
  return until(
    async () => {
      for (const entry of await readdir('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const argv = await readFile(`/proc/${entry}/cmdline`, 'utf8').then(
          (t) => t.split('\0').filter(Boolean),
          () => [] as string[],
        );
        if (argv.length && path.basename(argv[0]) === program && argv.includes(marker)) return { pid: Number(entry), argv };
      }
      return undefined;
    },
    `a running ${program} whose argv holds ${marker}`,
    { limitMs: 5_000, everyMs: 50 },
  );
}

test('mysql: a dump killed mid-stream errors instead of ending, and its argv never held the password', async () => {
  const name = freshName();
  const conn0 = connectionFor(name);
  await seed(conn0);
  // Enough data that the unread dump blocks on its pipe and is still running when we look.
  await adminSql('CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(1000)); INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000) FROM seq_1_to_4000;', name);
  const { user, password } = await userWithPassword(name);
  const dump = await mysql.dump(connectionFor(name, user, password), {});
  const child = await findChild('mariadb-dump', name);
  assert.ok(child, 'the dump process is running');
  const cmdline = await readFile(`/proc/${child.pid}/cmdline`);
  assert.ok(!cmdline.includes(password), 'password absent from the command line');
  assert.ok(!cmdline.includes(password.slice(0, 10)), 'no part of the password in the command line');
  assert.match(child.argv[1], /^--defaults-extra-file=/, 'the option file is the first argument');
  assert.deepEqual(child.argv.slice(-2), ['--', name], 'the database name comes after --');
  const optionFile = child.argv[1].slice('--defaults-extra-file='.length);
  assert.equal((await stat(optionFile)).mode & 0o777, 0o600);
  process.kill(child.pid, 'SIGKILL');
  await assert.rejects(collect(dump.stream), (err) => {
    assert.ok(isCoffreError(err));
    assert.equal(err.kind, 'failed');
    assert.match(err.message, /SIGKILL/);
    return true;
  });
  await until(
    () =>
      stat(optionFile).then(
        () => false,
        () => true,
      ),
    'the option file to be removed once the dump is over',
    { limitMs: 2_000, everyMs: 50 },
  );
});

test('mysql: a failing restore with --replace leaves the old data untouched', async () => {
  const target = connectionFor(freshName());
  await seed(target);
  const before = await fingerprint(target);
  const bad = 'CREATE TABLE fine (a INT);\nINSERT INTO fine VALUES (1);\nTHIS IS NOT SQL;\n';
  await assert.rejects(mysql.restore(target, streamOf(bad), 'sql', { replace: true }), (err) => {
    assert.ok(isCoffreError(err) && err.kind === 'failed');
    assert.match(err.message, /ERROR 1064/);
    return true;
  });
  assert.equal(await fingerprint(target), before);
  // An input that breaks mid-way (a checksum failure upstream, a lost download) does not count as a dump.
  let reads = 0;
  const broken = new Readable({
    read() {
      if (reads++ === 0) this.push('CREATE TABLE half (a INT);\nINSERT INTO half VALUES (1);\n');
      else this.destroy(new Error('the download was cut'));
    },
  });
  await assert.rejects(mysql.restore(target, broken, 'sql', { replace: true }), /download was cut/);
  assert.equal(await fingerprint(target), before);
  assert.deepEqual(await leftoverSideDatabases(), []);
});

test('mysql: a failing restore into a new database leaves no database behind; into an empty one leaves it empty', async () => {
  const fresh = connectionFor(freshName());
  await assert.rejects(mysql.restore(fresh, streamOf('CREATE TABLE t (a INT);\nNOPE;\n'), 'sql', { replace: false }), /ERROR 1064/);
  assert.deepEqual(await mysql.inspect(fresh), { exists: false, empty: true });

  const name = freshName();
  await adminSql(`CREATE DATABASE ${q(name)} CHARACTER SET latin1 COLLATE latin1_bin;`);
  const empty = connectionFor(name);
  await assert.rejects(mysql.restore(empty, streamOf('CREATE TABLE t (a INT);\nNOPE;\n'), 'sql', { replace: false }), /ERROR 1064/);
  assert.deepEqual(await mysql.inspect(empty), { exists: true, empty: true });
  const schema = await adminSql(`SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE();`, name);
  assert.deepEqual(schema, [['latin1', 'latin1_bin']]);
});

test('mysql: a restore refuses formats it cannot read', async () => {
  await assert.rejects(mysql.restore(connectionFor(freshName()), streamOf(''), 'pg-custom', { replace: false }), coded('COFFRE_E_MYSQL_BAD_FORMAT'));
});
