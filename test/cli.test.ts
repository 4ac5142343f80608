// The CLI end to end, as a user runs it: the README walkthrough on SQLite with local storage, every
// compression, --json shapes, exit codes and messages for bad input, a corrupted artifact caught before the
// target is touched, a failing dump that leaves nothing behind, and a password that never shows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { compressionNames } from '../src/core/types.ts';
import { workspace, expectCode, backupRowFields, type Workspace } from './support/cli.ts';
import { adminSql } from './support/mysql.ts';
import { sqliteFingerprint } from './support/sqlite.ts';
import { filesUnder } from './support/files.ts';

let ws: Workspace;
let src: string;
let backups: string;

function seed(file: string): void {
  const db = new DatabaseSync(file);
  db.exec(`CREATE TABLE "odd table" (id INTEGER PRIMARY KEY, label TEXT, data BLOB, amount REAL);
           CREATE INDEX odd_label ON "odd table"(label);
           CREATE VIEW big AS SELECT * FROM "odd table" WHERE amount > 1;`);
  const insert = db.prepare('INSERT INTO "odd table" (label, data, amount) VALUES (?, ?, ?)');
  insert.run('héllo wörld 😀', Buffer.from([0, 1, 2, 255]), 1.5);
  insert.run(null, null, -0.000001);
  insert.run('x'.repeat(100_000), randomBytes(64), 1e308);
  db.close();
}

before(async () => {
  ws = await workspace();
  src = path.join(ws.dir, 'app.db');
  backups = path.join(ws.dir, 'backups');
  seed(src);
});
after(async () => {
  await ws?.cleanup();
});

test('walkthrough: target, destination, plan, backup, journal, verify, restore', async () => {
  expectCode(await ws.run(['target', 'add', 'app', '--url', `sqlite:${src}`]), 0, 'target add');
  expectCode(await ws.run(['target', 'add', 'copy', '--url', `sqlite:${path.join(ws.dir, 'copy.db')}`]), 0, 'target add copy');
  expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', backups]), 0, 'destination add');
  expectCode(await ws.run(['plan', 'add', 'nightly', '--target', 'app', '--destination', 'disk']), 0, 'plan add');

  const list = await ws.run(['target', 'list']);
  expectCode(list, 0, 'target list');
  assert.match(list.stdout, /^NAME\s+ENGINE\s+URL/m);
  assert.match(list.stdout, /^app\s+sqlite\s+sqlite:/m);

  const backup = await ws.run(['backup', 'nightly', '--json']);
  expectCode(backup, 0, 'backup');
  const b = backup.json<Record<string, unknown>>();
  for (const field of backupRowFields) {
    assert.ok(field in b, `backup --json has ${field}`);
  }
  assert.equal(b.status, 'success');
  assert.equal(b.kind, 'full');
  assert.equal(b.plan, 'nightly');
  assert.equal(b.target, 'app');
  assert.match(String(b.sha256), /^[0-9a-f]{64}$/);
  assert.match(String(b.artifact), /^nightly\/\d{8}T\d{6}Z-full-[0-9a-f-]{36}\.sqlite\.gz$/);
  const artifact = path.join(backups, String(b.artifact));
  assert.ok(existsSync(artifact), 'artifact exists');
  const manifest = JSON.parse(await readFile(`${artifact}.manifest.json`, 'utf8')) as Record<string, unknown>;
  assert.equal(manifest.format, 'coffre-manifest');
  assert.equal(manifest.sha256, b.sha256);
  assert.equal(manifest.rawSizeBytes, b.rawSizeBytes);
  assert.equal(manifest.engine, 'sqlite');

  const journal = await ws.run(['journal', '--json']);
  expectCode(journal, 0, 'journal');
  const rows = journal.json<Array<Record<string, unknown>>>();
  assert.ok(Array.isArray(rows));
  assert.equal(rows[0].id, b.id);
  assert.equal(rows[0].status, 'success');
  const human = await ws.run(['journal', '--plan', 'nightly']);
  assert.match(human.stdout, new RegExp(`^${String(b.id)}\\s.*nightly\\s+full\\s+success`, 'm'));

  const verify = await ws.run(['verify', String(b.id).slice(0, 13), '--json']);
  expectCode(verify, 0, 'verify by prefix');
  assert.equal(verify.json<Record<string, unknown>>().status, 'success');

  const restore = await ws.run(['restore', String(b.id), '--to', 'copy', '--json']);
  expectCode(restore, 0, 'restore');
  assert.equal(restore.json<Record<string, unknown>>().status, 'success');
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'copy.db')), sqliteFingerprint(src));

  // The copy now holds data: a second restore is refused (exit 2) until --replace.
  const refused = await ws.run(['restore', String(b.id), '--to', 'copy']);
  expectCode(refused, 2, 'restore into a non-empty target');
  assert.match(refused.stderr, /^error: .*(empty|replace)/im);
  assert.doesNotMatch(refused.all, /\n\s+at /, 'no stack trace');
  expectCode(await ws.run(['restore', String(b.id), '--to', 'copy', '--replace']), 0, 'restore --replace');
  assert.equal(sqliteFingerprint(path.join(ws.dir, 'copy.db')), sqliteFingerprint(src));

  // The three restores are journaled, newest first: success with --replace, the refusal, the first one.
  const restores = await ws.run(['journal', '--restores', '--json']);
  expectCode(restores, 0, 'journal --restores');
  const restoreRows = restores.json<Array<{ backupId: string; status: string; replace: boolean; target: string }>>();
  assert.deepEqual(
    restoreRows.map((r) => [r.backupId, r.status, r.replace, r.target]),
    [
      [b.id, 'success', true, 'copy'],
      [b.id, 'failed', false, 'copy'],
      [b.id, 'success', false, 'copy'],
    ],
  );
});

test('every compression round-trips, and restore --file sniffs the format', async () => {
  for (const compression of compressionNames) {
    const r = await ws.run(['backup', 'nightly', '--compression', compression, '--json']);
    expectCode(r, 0, `backup ${compression}`);
    const b = r.json<{ id: string; artifact: string; status: string }>();
    assert.equal(b.status, 'success');
    const into = `into-${compression}`;
    expectCode(await ws.run(['target', 'add', into, '--url', `sqlite:${path.join(ws.dir, `${into}.db`)}`]), 0, 'target add');
    expectCode(await ws.run(['restore', b.id, '--to', into]), 0, `restore ${compression}`);
    assert.equal(sqliteFingerprint(path.join(ws.dir, `${into}.db`)), sqliteFingerprint(src), `${compression} restores the same data`);
    // The same artifact given as a file (named without its extension, so only the bytes tell).
    const copy = path.join(ws.dir, `artifact-${compression}.bin`);
    await writeFile(copy, await readFile(path.join(backups, b.artifact)));
    const fromFile = await ws.run(['restore', '--file', copy, '--to', into, '--replace', '--json']);
    expectCode(fromFile, 0, `restore --file ${compression}`);
    assert.equal(sqliteFingerprint(path.join(ws.dir, `${into}.db`)), sqliteFingerprint(src));
  }
});

test('bad input exits 2 with a clear message and no stack trace', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['backup', 'no-such-plan'], /No plan named "no-such-plan"/],
    [['target', 'add', 'bad', '--url', 'ftp://x/y'], /must start with postgres:\/\//],
    [['target', 'add', 'rel', '--url', 'sqlite:relative.db'], /absolute path/],
    [['target', 'add', 'nourl'], /needs --url/],
    [['target', 'add', '-bad name', '--url', `sqlite:${src}`], /./],
    [['target', 'add', 'app', '--url', `sqlite:${src}`], /already exists/],
    [['plan', 'add', 'p2', '--target', 'app', '--destination', 'disk', '--compression', 'lzma'], /Unknown compression "lzma".*gzip/],
    [['plan', 'add', 'p3', '--target', 'app'], /needs --destination/],
    [['plan', 'add', 'p4', '--target', 'app', '--destination', 'disk', '--cron', 'every day'], /cron/],
    [['backup', 'nightly', '--compression', 'rar'], /Unknown compression "rar"/],
    [['backup', 'nightly', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['restore'], /needs a JOURNAL_ID/],
    [['restore', 'abc'], /not a journal id/],
    [['restore', 'ffffffff-ffff'], /No backup with id/],
    [['restore', '--file', path.join(src)], /needs a target/],
    [['verify', '0000000'], /No backup with id/],
    [['journal', '--limit', 'lots'], /--limit/],
    [['target', 'remove', 'app'], /used by plan/],
    [['destination', 'add', 'd2'], /needs --type/],
    [['destination', 'add', 'd3', '--type', 'ftp'], /Unknown destination type "ftp"/],
    [['frobnicate'], /Unknown command "frobnicate"/],
  ];
  for (const [i, [args, message]] of cases.entries()) {
    const r = await ws.run(args);
    expectCode(r, 2, args.join(' '));
    assert.match(r.stderr, /^error: /, `${args.join(' ')} prints error:`);
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.all, /\n\s+at .*\(.*:\d+:\d+\)/, `${args.join(' ')}: no stack trace`);
    if (i % 3 !== 0) continue; // --json on a third of them: each CLI start costs a second or so
    const j = await ws.run([...args, '--json']);
    expectCode(j, 2, `${args.join(' ')} --json`);
    const parsed = JSON.parse(j.stderr.trim().split('\n')[0]) as { error: { code: string; message: string } };
    assert.match(parsed.error.code, /^COFFRE_E_/);
    assert.match(parsed.error.message, message);
  }
});

test('a dump of a MySQL target restored into a SQLite target is refused before anything is written', async () => {
  const dump = path.join(ws.dir, 'dump.sql');
  await writeFile(dump, '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\nCREATE TABLE t (id INT);\n');
  const r = await ws.run(['restore', '--file', dump, '--to', 'copy']);
  expectCode(r, 2, 'mysql sql into sqlite');
  assert.match(r.stderr, /mysqldump\/mariadb-dump SQL, which a sqlite target cannot run/);
});

test('a corrupted artifact fails verify and is refused by restore before the target is touched', async () => {
  const r = await ws.run(['backup', 'nightly', '--compression', 'none', '--json']);
  expectCode(r, 0, 'backup');
  const b = r.json<{ id: string; artifact: string }>();
  type Verified = { id: string; lastVerifiedAt: string | null; lastVerifyStatus: string | null; lastVerifyMessage: string | null };
  const journalRow = async () => (await ws.run(['journal', '--json'])).json<Verified[]>().find((row) => row.id === b.id)!;
  assert.equal((await journalRow()).lastVerifyStatus, null, 'never verified yet');
  expectCode(await ws.run(['verify', b.id]), 0, 'verify of the intact artifact');
  assert.equal((await journalRow()).lastVerifyStatus, 'success', 'the journal keeps the verification');
  const file = path.join(backups, b.artifact);
  const fh = await open(file, 'r+');
  const byte = Buffer.alloc(1);
  await fh.read(byte, 0, 1, 200);
  byte[0] ^= 0xff;
  await fh.write(byte, 0, 1, 200);
  await fh.close();

  const v = await ws.run(['verify', b.id, '--json']);
  expectCode(v, 1, 'verify of a corrupted artifact');
  const view = v.json<{ status: string; message: string }>();
  assert.equal(view.status, 'failed');
  assert.match(view.message, /corrupt/);
  const failedCheck = await journalRow();
  assert.equal(failedCheck.lastVerifyStatus, 'failed', 'a failed verification is kept on the row');
  assert.match(failedCheck.lastVerifyMessage ?? '', /corrupt/);
  assert.ok(failedCheck.lastVerifiedAt);

  expectCode(await ws.run(['target', 'add', 'untouched', '--url', `sqlite:${path.join(ws.dir, 'untouched.db')}`]), 0, 'target add');
  const restore = await ws.run(['restore', b.id, '--to', 'untouched']);
  expectCode(restore, 1, 'restore of a corrupted artifact');
  assert.match(restore.stderr, /corrupt.*sha256/);
  assert.equal(existsSync(path.join(ws.dir, 'untouched.db')), false, 'the target was not created');
});

test('a failing dump journals failed, exits 1 and leaves no artifact', async () => {
  const missing = path.join(ws.dir, 'gone.db');
  expectCode(await ws.run(['target', 'add', 'gone', '--url', `sqlite:${missing}`]), 0, 'target add');
  expectCode(await ws.run(['plan', 'add', 'broken', '--target', 'gone', '--destination', 'disk']), 0, 'plan add');
  const r = await ws.run(['backup', 'broken', '--json']);
  expectCode(r, 1, 'backup of a missing database');
  const b = r.json<{ id: string; status: string; message: string }>();
  assert.equal(b.status, 'failed');
  assert.ok(b.message.length > 0);
  assert.deepEqual(await filesUnder(path.join(backups, 'broken')), []);
  const rows = (await ws.run(['journal', '--plan', 'broken', '--json'])).json<Array<{ id: string; status: string }>>();
  assert.deepEqual(
    rows.map((x) => [x.id, x.status]),
    [[b.id, 'failed']],
  );
});

test('a password never appears in CLI output', async () => {
  const password = `Sekr3t-${randomBytes(6).toString('hex')}`;
  const runs = [
    await ws.run(['target', 'add', 'maria', '--url', `mysql://root:${password}@127.0.0.1:3306/coffre_nope_${randomBytes(3).toString('hex')}`]),
    await ws.run(['target', 'add', 'pgx', '--url', `postgres://someone:${password}@127.0.0.1:1/db`, '--json']),
    await ws.run(['target', 'list']),
    await ws.run(['target', 'list', '--json']),
    await ws.run(['target', 'test', 'maria']),
    await ws.run(['target', 'test', 'pgx', '--json']),
    await ws.run(['plan', 'add', 'maria-plan', '--target', 'maria', '--destination', 'disk']),
    await ws.run(['backup', 'maria-plan']),
    await ws.run(['backup', 'maria-plan', '--json']),
    await ws.run(['journal', '--json']),
  ];
  expectCode(runs[0], 0, 'target add maria');
  expectCode(runs[7], 1, 'backup with a wrong password fails');
  assert.match(runs[2].stdout, /mysql:\/\/root:\*\*\*@127\.0\.0\.1/);
  for (const text of ws.transcript) assert.equal(text.includes(password), false, `output leaks the password:\n${text}`);
  const catalog = await readFile(path.join(ws.dataDir, 'coffre.db'));
  assert.equal(catalog.includes(Buffer.from(password)), false);
});

test('plan edit changes a plan in place: schedule, retention, kind, enabled; its journal and chain stay', async () => {
  expectCode(await ws.run(['plan', 'add', 'editable', '--target', 'app', '--destination', 'disk', '--kind', 'incremental', '--cron', '0 3 * * *']), 0, 'plan add');
  const first = (await ws.run(['backup', 'editable', '--json'])).json<{ id: string; kind: string }>();
  assert.equal(first.kind, 'full');
  const show = async () => (await ws.run(['plan', 'list', '--json'])).json<Array<Record<string, any>>>().find((p) => p.name === 'editable')!;
  const before = await show();

  const edited = await ws.run(['plan', 'edit', 'editable', '--cron', '30 4 * * 1', '--timezone', 'Europe/Paris', '--keep-last', '3', '--compression', 'zstd', '--json']);
  expectCode(edited, 0, 'plan edit');
  let p = await show();
  assert.equal(p.id, before.id, 'same plan, same id');
  assert.equal(p.cron, '30 4 * * 1');
  assert.equal(p.timezone, 'Europe/Paris');
  assert.deepEqual(p.retention, { keepLast: 3 });
  assert.equal(p.compression, 'zstd');
  assert.ok(p.nextRuns.length > 0);
  // The plan's chain goes on across the edit: the next incremental builds on the first backup.
  const second = (await ws.run(['backup', 'editable', '--json'])).json<{ kind: string; parentId: string; compression: string }>();
  assert.deepEqual([second.kind, second.parentId, second.compression], ['incremental', first.id, 'zstd']);

  expectCode(await ws.run(['plan', 'edit', 'editable', '--no-cron', '--no-retention', '--disable']), 0, 'plan edit off');
  p = await show();
  assert.deepEqual([p.cron, p.retention, p.enabled, p.nextRuns], [null, null, false, []]);
  const text = await ws.run(['plan', 'edit', 'editable', '--enable', '--name', 'renamed']);
  expectCode(text, 0, 'plan edit rename');
  assert.match(text.stdout, /^Plan renamed updated: app -> disk, incremental, zstd, no schedule\n$/);
  const journal = (await ws.run(['journal', '--plan', 'renamed', '--json'])).json<unknown[]>();
  assert.equal(journal.length, 2, 'the journal follows the renamed plan');

  for (const [args, pattern] of [
    [['plan', 'edit', 'renamed'], /needs at least one change/],
    [['plan', 'edit', 'renamed', '--cron', '0 3 * * *', '--no-cron'], /--cron or --no-cron, not both/],
    [['plan', 'edit', 'renamed', '--enable', '--disable'], /--enable or --disable, not both/],
    [['plan', 'edit', 'renamed', '--cron', '61 * * * *'], /Invalid cron expression/],
    [['plan', 'edit', 'no-such-plan', '--disable'], /No plan named "no-such-plan"/],
  ] as const) {
    const r = await ws.run([...args]);
    expectCode(r, 2, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('destination edit changes settings in place; the type stays, and bad settings are refused', async () => {
  const elsewhere = path.join(ws.dir, 'elsewhere');
  expectCode(await ws.run(['destination', 'add', 'movable', '--type', 'local', '--path', path.join(ws.dir, 'first')]), 0, 'destination add');
  const r = await ws.run(['destination', 'edit', 'movable', '--path', elsewhere]);
  expectCode(r, 0, 'destination edit');
  assert.match(r.stdout, /^Destination movable updated: local path=.*elsewhere\n$/);
  const listed = (await ws.run(['destination', 'list', '--json'])).json<Array<{ name: string; config: { path: string } }>>().find((d) => d.name === 'movable')!;
  assert.equal(listed.config.path, elsewhere);
  expectCode(await ws.run(['plan', 'add', 'moved', '--target', 'app', '--destination', 'movable']), 0, 'plan add');
  const b = (await ws.run(['backup', 'moved', '--json'])).json<{ status: string; artifact: string }>();
  assert.equal(b.status, 'success');
  assert.ok(existsSync(path.join(elsewhere, b.artifact)), 'the backup went to the new folder');
  for (const [args, pattern] of [
    [['destination', 'edit', 'movable'], /needs at least one setting/],
    [['destination', 'edit', 'movable', '--type', 's3'], /type cannot change/],
    [['destination', 'edit', 'movable', '--path', src], /is a file: choose a folder/],
    [['destination', 'edit', 'nowhere', '--path', elsewhere], /No destination named "nowhere"/],
  ] as const) {
    const bad = await ws.run([...args]);
    expectCode(bad, 2, args.join(' '));
    assert.match(bad.stderr, pattern);
  }
});

test('a target password from --password-env/--password-file, never argv; target edit rotates it (real MariaDB user)', async () => {
  const user = `coffre_rot_${randomBytes(4).toString('hex')}`;
  const [first, second] = [`Rot1-${randomBytes(6).toString('hex')}@:/%`, `Rot2-${randomBytes(6).toString('hex')}#?&`];
  const literal = (pw: string) => `'${pw.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  await adminSql(`CREATE USER '${user}'@'%' IDENTIFIED BY ${literal(first)}`);
  const pwFile = path.join(ws.dir, 'pw.txt');
  try {
    const url = `mysql://${user}@127.0.0.1:3306/information_schema`;
    const added = await ws.run(['target', 'add', 'rotating', '--url', url, '--password-env', 'T_DB_PW'], { T_DB_PW: first });
    expectCode(added, 0, 'target add with --password-env');
    assert.doesNotMatch(added.stderr, /warning/);
    assert.match(added.stdout, new RegExp(`mysql://${user}:\\*\\*\\*@127\\.0\\.0\\.1:3306/information_schema`));
    expectCode(await ws.run(['target', 'test', 'rotating']), 0, 'target test with the first password');

    await adminSql(`ALTER USER '${user}'@'%' IDENTIFIED BY ${literal(second)}`);
    const refused = await ws.run(['target', 'test', 'rotating', '--json']);
    expectCode(refused, 1, 'target test after the password changed on the server');
    assert.match(refused.stderr, /COFFRE_E_AUTH_FAILED/);
    await writeFile(pwFile, `${second}\n`, { mode: 0o600 });
    expectCode(await ws.run(['target', 'edit', 'rotating', '--url', url, '--password-file', pwFile]), 0, 'target edit --password-file');
    expectCode(await ws.run(['target', 'test', 'rotating']), 0, 'target test with the rotated password');

    const warned = await ws.run(['target', 'add', 'in-argv', '--url', `postgres://u:${encodeURIComponent(first)}@127.0.0.1:1/db`]);
    expectCode(warned, 0, 'target add with a password in --url');
    assert.match(warned.stderr, /warning: the password in --url is visible to other users/);
    for (const [args, pattern] of [
      [['target', 'add', 'x1', '--url', `mysql://${user}:pw@127.0.0.1/db`, '--password-env', 'T_DB_PW'], /already holds a password/],
      [['target', 'add', 'x2', '--url', 'mysql://127.0.0.1/db', '--password-env', 'T_DB_PW'], /needs a user in the URL/],
      [['target', 'add', 'x3', '--url', url, '--url-env', 'T_DB_PW'], /takes one of --url, --url-env, not several/],
      [['target', 'add', 'x4', '--url', url, '--password-env', 'T_UNSET_VAR'], /T_UNSET_VAR, which is not set/],
      [['target', 'add', 'x5', '--password-env', 'T_DB_PW'], /goes with --url/],
      [['target', 'edit', 'rotating'], /needs --url .* or --name/],
    ] as const) {
      const r = await ws.run([...args], { T_DB_PW: first });
      expectCode(r, 2, args.join(' '));
      assert.match(r.stderr, pattern);
    }
    for (const text of ws.transcript) for (const pw of [first, second]) assert.equal(text.includes(pw), false, `output leaks a password:\n${text}`);
    const catalog = await readFile(path.join(ws.dataDir, 'coffre.db'));
    for (const pw of [first, second]) assert.equal(catalog.includes(Buffer.from(pw)), false, 'no password in clear in the catalog');
  } finally {
    await adminSql(`DROP USER IF EXISTS '${user}'@'%'`);
  }
});

test('bin/coffre.js runs commands with the compile cache on, kept beside the code', async () => {
  const { spawnSync } = await import('node:child_process');
  const bin = path.resolve(import.meta.dirname, '../bin/coffre.js');
  const cache = path.resolve(import.meta.dirname, '../node_modules/.cache/coffre-compile');
  const w = await workspace();
  try {
    const env = { ...w.env };
    delete env.NODE_COMPILE_CACHE;
    delete env.NODE_DISABLE_COMPILE_CACHE;
    const version = spawnSync(process.execPath, [bin, '--version'], { env, encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^coffre \d+\.\d+\.\d+/);
    // A command that opens the catalog (its key derived while the command loads) works the same way.
    const list = spawnSync(process.execPath, [bin, 'target', 'list', '--json'], { env, encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);
    const entries = await readdir(cache, { recursive: true });
    assert.ok(entries.length > 50, `the compile cache holds the modules it compiled (${entries.length} entries)`);
  } finally {
    await w.cleanup();
  }
});
