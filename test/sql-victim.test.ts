// A restore touches only its target. For PostgreSQL and MariaDB, a victim database (made by this test,
// with the seed of test/support) must stay identical, by its fingerprint, while real dumps that name it
// are restored elsewhere: one-database dumps with CREATE DATABASE / USE / \connect (pg_dump -C,
// pg_dump -C --clean, mariadb-dump --databases [--add-drop-database], Chinook-style scripts), plain
// --clean dumps, and several-database dumps (pg_dumpall-style, mariadb-dump --databases a b), into a new
// target and with --replace into a non-empty one. The target is either restored exactly or untouched.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import * as pgs from './support/postgres.ts';
import * as mys from './support/mysql.ts';

const run = promisify(execFile);
const pgBin = existsSync('/usr/lib/postgresql/15/bin/pg_dump') ? '/usr/lib/postgresql/15/bin/' : '';

let ws: Workspace;
const pgMade: string[] = [];
const myMade: string[] = [];

before(async () => {
  ws = await workspace('coffre-sql-victim-');
});
after(async () => {
  for (const db of pgMade) await pgs.dropDatabase(pgs.connectionTo(db)).catch(() => {});
  for (const db of myMade) await mys.dropDatabase(db).catch(() => {});
  await ws.cleanup();
});

async function addTarget(url: string): Promise<string> {
  const name = `t_${randomBytes(3).toString('hex')}`;
  expectCode(await ws.run(['target', 'add', name, '--url', url]), 0, 'target add');
  return name;
}

async function save(name: string, text: string): Promise<string> {
  const file = path.join(ws.dir, `${randomBytes(3).toString('hex')}-${name}`);
  await writeFile(file, text);
  return file;
}

// --- PostgreSQL

const pgUrl = (db: string) => `${pgs.adminUrl.replace(/\/[^/]*$/, '')}/${db}`;
const pgFp = async (db: string) => ((await pgs.databaseExists(pgs.connectionTo(db))) ? pgs.fingerprint(pgs.connectionTo(db)) : '(no database)');

async function pgDump(db: string, flags: string[]): Promise<string> {
  const conn = pgs.connectionTo(db);
  return (await run(`${pgBin}pg_dump`, ['-h', conn.host ?? '127.0.0.1', '-U', conn.user ?? 'root', ...flags, db], { maxBuffer: 256 << 20 })).stdout;
}

test('postgres victim: dumps naming it restore into their target only, exactly; several-database dumps are refused unless --database', async () => {
  const victim = pgs.uniqueName('coffre_victim');
  const other = pgs.uniqueName('coffre_other');
  pgMade.push(victim, other);
  await pgs.execSql(pgs.connectionTo(victim), pgs.seedSql);
  await pgs.execSql(pgs.connectionTo(other), 'CREATE TABLE o (a int); INSERT INTO o VALUES (42);');
  const before = await pgFp(victim);
  const otherBefore = await pgFp(other);

  const full = pgs.uniqueName('coffre_full');
  pgMade.push(full);
  await pgs.execSql(pgs.connectionTo(full), 'CREATE TABLE keep (a int); INSERT INTO keep VALUES (1), (2);');
  const fullBefore = await pgFp(full);
  const fullTarget = await addTarget(pgUrl(full));

  const dashC = await pgDump(victim, ['-C']);
  assert.match(dashC, /CREATE DATABASE/);
  assert.match(dashC, /\\connect/);
  const dashCClean = await pgDump(victim, ['-C', '--clean']);
  assert.match(dashCClean, /DROP DATABASE/);
  const cleanIfExists = await pgDump(victim, ['--clean', '--if-exists']);
  const script = `DROP DATABASE IF EXISTS ${victim};\nCREATE DATABASE ${victim};\n\\c ${victim};\n${await pgDump(victim, [])}`;
  // pg_dumpall writes each database as pg_dump -C does, after its roles, from template1
  const all = `--\n-- PostgreSQL database cluster dump\n--\n\\connect template1\n${dashC}\n${await pgDump(other, ['-C'])}`;

  const oneDb: Array<[string, string]> = [
    ['pg_dump -C', dashC],
    ['pg_dump -C --clean', dashCClean],
    ['pg_dump --clean --if-exists', cleanIfExists],
    ['DROP/CREATE DATABASE + \\c script', script],
  ];
  for (const [what, text] of oneDb) {
    const file = await save('one.sql', text);
    const db = pgs.uniqueName('coffre_into');
    pgMade.push(db);
    const r = await ws.run(['restore', '--file', file, '--to', await addTarget(pgUrl(db)), '--json']);
    expectCode(r, 0, `${what} into a new target`);
    assert.equal(await pgFp(db), before, `${what}: the target holds exactly the victim's content`);
    assert.equal(await pgFp(victim), before, `${what}: the victim is untouched`);
    const rr = await ws.run(['restore', '--file', file, '--to', fullTarget, '--replace', '--json']);
    expectCode(rr, 0, `${what} --replace into a non-empty target`);
    assert.equal(await pgFp(full), before, `${what} --replace: the target holds exactly the victim's content`);
    assert.equal(await pgFp(victim), before, `${what} --replace: the victim is untouched`);
    await pgs.dropDatabase(pgs.connectionTo(full));
    await pgs.execSql(pgs.connectionTo(full), 'CREATE TABLE keep (a int); INSERT INTO keep VALUES (1), (2);');
  }

  // plain --clean (DROP without IF EXISTS) cannot run on a new database: restored exactly, or refused with nothing written
  const clean = await save('clean.sql', await pgDump(victim, ['--clean']));
  const cleanDb = pgs.uniqueName('coffre_clean');
  pgMade.push(cleanDb);
  const rc = await ws.run(['restore', '--file', clean, '--to', await addTarget(pgUrl(cleanDb)), '--json']);
  if (rc.code === 0) assert.equal(await pgFp(cleanDb), before);
  else assert.equal(await pgFp(cleanDb), '(no database)', 'a failed restore leaves no database behind');
  assert.equal(await pgFp(victim), before);

  // several databases
  const allFile = await save('all.sql', all);
  const allDb = pgs.uniqueName('coffre_all');
  pgMade.push(allDb);
  const allTarget = await addTarget(pgUrl(allDb));
  const refused = await ws.run(['restore', '--file', allFile, '--to', allTarget, '--json']);
  assert.equal(refused.code, 2, refused.all);
  assert.match(refused.all, /COFFRE_E_SQL_SEVERAL_DATABASES/);
  assert.ok(refused.all.includes(victim) && refused.all.includes(other) && refused.all.includes('template1'), refused.all);
  assert.equal(await pgFp(allDb), '(no database)');
  const refusedReplace = await ws.run(['restore', '--file', allFile, '--to', fullTarget, '--replace', '--json']);
  assert.equal(refusedReplace.code, 2, refusedReplace.all);
  assert.equal(await pgFp(full), fullBefore, 'a refused --replace leaves the target as it was');
  const picked = await ws.run(['restore', '--file', allFile, '--to', allTarget, '--database', victim, '--json']);
  expectCode(picked, 0, 'restore --database');
  assert.match(picked.json<{ message: string }>().message, /only database/);
  assert.equal(await pgFp(allDb), before, '--database restores exactly that database');
  const wrong = await ws.run(['restore', '--file', allFile, '--to', fullTarget, '--database', 'nope', '--json']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.all, /COFFRE_E_SQL_DATABASE_NOT_IN_DUMP/);

  assert.equal(await pgFp(victim), before, 'the victim is untouched at the end');
  assert.equal(await pgFp(other), otherBefore, 'the other database is untouched at the end');
});

// --- MariaDB

async function myDump(flags: string[]): Promise<string> {
  return (
    await run('mariadb-dump', ['-h', mys.HOST, '-P', String(mys.PORT), '-u', 'root', '--routines', '--triggers', '--events', '--hex-blob', '--single-transaction', ...flags], {
      maxBuffer: 256 << 20,
    })
  ).stdout;
}
const myFp = async (db: string) => {
  const exists = await mys.adminSql(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${db}';`);
  return exists[0][0] === '1' ? mys.fingerprint(mys.connectionFor(db)) : '(no database)';
};
const myName = (p: string) => `${p}_${process.pid}_${randomBytes(3).toString('hex')}`;

test('mariadb victim: dumps naming it restore into their target only, exactly; several-database dumps are refused unless --database', async () => {
  const victim = myName('coffre_victim');
  const other = myName('coffre_other');
  myMade.push(victim, other);
  await mys.seed(mys.connectionFor(victim));
  await mys.adminSql(`CREATE DATABASE ${mys.q(other)}; CREATE TABLE ${mys.q(other)}.o (a INT); INSERT INTO ${mys.q(other)}.o VALUES (42);`);
  const before = await myFp(victim);
  const otherBefore = await myFp(other);
  const full = myName('coffre_full');
  myMade.push(full);
  const refill = () =>
    mys.adminSql(
      `DROP DATABASE IF EXISTS ${mys.q(full)}; CREATE DATABASE ${mys.q(full)} CHARACTER SET utf8mb4; CREATE TABLE ${mys.q(full)}.keep (a INT); INSERT INTO ${mys.q(full)}.keep VALUES (1), (2);`,
    );
  await refill();
  const fullBefore = await myFp(full);
  const fullTarget = await addTarget(`mysql://root@${mys.HOST}:${mys.PORT}/${full}`);

  const databases = await myDump(['--databases', victim]);
  assert.match(databases, /CREATE DATABASE \/\*!32312 IF NOT EXISTS\*\//);
  assert.match(databases, /^USE `/m);
  const withDrop = await myDump(['--databases', victim, '--add-drop-database']);
  assert.match(withDrop, /\/\*!40000 DROP DATABASE IF EXISTS/);
  const script = `DROP DATABASE IF EXISTS \`${victim}\`;\nCREATE DATABASE \`${victim}\`;\nUSE \`${victim}\`;\n${await myDump([victim])}`;
  const several = await myDump(['--databases', victim, other]);

  for (const [what, text] of [
    ['mariadb-dump --databases', databases],
    ['mariadb-dump --databases --add-drop-database', withDrop],
    ['DROP/CREATE DATABASE + USE script', script],
  ] as const) {
    const file = await save('one.sql', text);
    const db = myName('coffre_into');
    myMade.push(db);
    const r = await ws.run(['restore', '--file', file, '--to', await addTarget(`mysql://root@${mys.HOST}:${mys.PORT}/${db}`), '--json']);
    expectCode(r, 0, `${what} into a new target`);
    assert.equal(await myFp(db), before, `${what}: the target holds exactly the victim's content`);
    assert.equal(await myFp(victim), before, `${what}: the victim is untouched`);
    const rr = await ws.run(['restore', '--file', file, '--to', fullTarget, '--replace', '--json']);
    expectCode(rr, 0, `${what} --replace`);
    assert.equal(await myFp(full), before, `${what} --replace: the target holds exactly the victim's content`);
    assert.equal(await myFp(victim), before, `${what} --replace: the victim is untouched`);
    await refill();
  }

  const file = await save('several.sql', several);
  const db = myName('coffre_several');
  myMade.push(db);
  const target = await addTarget(`mysql://root@${mys.HOST}:${mys.PORT}/${db}`);
  const refused = await ws.run(['restore', '--file', file, '--to', target, '--json']);
  assert.equal(refused.code, 2, refused.all);
  assert.match(refused.all, /COFFRE_E_SQL_SEVERAL_DATABASES/);
  assert.ok(refused.all.includes(victim) && refused.all.includes(other), refused.all);
  assert.equal(await myFp(db), '(no database)');
  const refusedReplace = await ws.run(['restore', '--file', file, '--to', fullTarget, '--replace', '--json']);
  assert.equal(refusedReplace.code, 2);
  assert.equal(await myFp(full), fullBefore, 'a refused --replace leaves the target as it was');
  const picked = await ws.run(['restore', '--file', file, '--to', target, '--database', victim, '--json']);
  expectCode(picked, 0, '--database');
  assert.equal(await myFp(db), before, '--database restores exactly that database');
  assert.equal(await myFp(victim), before);
  assert.equal(await myFp(other), otherBefore);
});
