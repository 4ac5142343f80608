// Server targets (issue 15) through the real CLI, on the real PostgreSQL, MariaDB and FerretDB servers:
// every database a server target's filter matches (only this test's own, by a random prefix), one row each
// under one run, new databases picked up as fulls, vanished ones named, a database the backup user cannot
// read making the run partial, per-database chains, the PostgreSQL globals, and the group's status in
// /api/status. Each test makes its own databases and roles and drops them.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { workspace, type CliResult, type Workspace } from './support/cli.ts';
import { client, serve } from './support/api.ts';
import { adminUrl, connectionTo, execSql, withClient } from './support/postgres.ts';
import { adminSql, q as myq } from './support/mysql.ts';
import { mongoBase, withMongo } from './support/mongodb.ts';
import { until } from './support/wait.ts';

const spaces: Workspace[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  for (const ws of spaces) await ws.cleanup();
});

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: ${r.all}`);
  return r;
}

interface Row {
  id: string;
  database: string;
  status: string;
  kind: string;
  parentId: string | null;
  message: string | null;
  runId?: string;
  runPart?: string;
  artifact: string | null;
}
interface Run extends Row {
  databases: Row[];
  newDatabases: string[];
  vanished: string[];
  failedDatabases: string[];
}

async function setup(engine: string, url: string, prefix: string): Promise<Workspace> {
  const ws = await workspace('coffre-srv-');
  spaces.push(ws);
  ok(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]), 'destination add');
  ok(await ws.run(['target', 'add', 'srv', '--url', url, '--include', `${prefix}*`]), `target add ${engine}`);
  ok(await ws.run(['plan', 'add', 'all', '--target', 'srv', '--destination', 'disk', '--compression', 'gzip']), 'plan add');
  return ws;
}

async function backup(ws: Workspace, extra: string[] = []): Promise<{ r: CliResult; run: Run }> {
  const r = await ws.run(['backup', 'all', '--json', ...extra]);
  return { r, run: r.json<Run>() };
}

const pgNames = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('PostgreSQL server target: five databases and the globals in one run, new and vanished databases, per-database incrementals, partial, parallel', async () => {
  const prefix = `coffre_srv_${randomBytes(3).toString('hex')}_`;
  const admin = connectionTo('postgres');
  const names = pgNames(prefix, 6);
  const role = `${prefix}reader`;
  cleanups.push(async () => {
    for (const n of names) await execSql(admin, `DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`).catch(() => {});
    await execSql(admin, `DROP ROLE IF EXISTS "${role}"`).catch(() => {});
  });
  for (const n of names.slice(0, 5)) {
    await execSql(admin, `CREATE DATABASE "${n}"`);
    await execSql(connectionTo(n), `CREATE TABLE t (id int primary key, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;`);
  }
  const base = adminUrl.replace(/\/[^/]*$/, '/');
  const ws = await setup('postgres', base, prefix);

  const test1 = ok(await ws.run(['target', 'test', 'srv', '--json']), 'target test').json<{ databases: string[]; server: boolean }>();
  assert.equal(test1.server, true);
  assert.deepEqual(test1.databases, names.slice(0, 5));

  const first = await backup(ws);
  ok(first.r, 'first run');
  assert.equal(first.run.status, 'success');
  assert.equal(first.run.databases.length, 6, 'five databases and the globals');
  assert.deepEqual(
    first.run.databases.filter((d) => d.runPart === 'database').map((d) => d.database),
    names.slice(0, 5),
  );
  const globals = first.run.databases.find((d) => d.runPart === 'globals');
  assert.ok(globals && globals.status === 'success', 'the globals row');
  for (const d of first.run.databases) {
    assert.equal(d.runId, first.run.id);
    assert.equal(d.kind, 'full');
  }

  // The journal: one line for the run, its databases beneath (and in --json a databases array).
  const journal = ok(await ws.run(['journal', '--json']), 'journal').json<Run[]>();
  assert.equal(journal.length, 1);
  assert.equal(journal[0].id, first.run.id);
  assert.equal(journal[0].databases.length, 6);
  const text = ok(await ws.run(['journal']), 'journal text').stdout;
  assert.match(text, /server: 5 databases/);
  assert.match(text, new RegExp(`${names[4]}`));

  // A sixth database, a change in one, an incremental: the new one is a full that says so, each other
  // database is a delta against its own previous row.
  await execSql(admin, `CREATE DATABASE "${names[5]}"`);
  await execSql(connectionTo(names[0]), `INSERT INTO t VALUES (100001, 'changed')`);
  const second = await backup(ws, ['--kind', 'incremental']);
  ok(second.r, 'second run');
  assert.deepEqual(second.run.newDatabases, [names[5]]);
  const sixth = second.run.databases.find((d) => d.database === names[5])!;
  assert.equal(sixth.kind, 'full');
  assert.match(sixth.message ?? '', /new database/i);
  assert.match(second.run.message ?? '', new RegExp(`New database since the last run: ${names[5]}`));
  for (const n of names.slice(0, 5)) {
    const d = second.run.databases.find((x) => x.database === n)!;
    const parent = first.run.databases.find((x) => x.database === n)!;
    assert.equal(d.kind, 'incremental', `${n} is an incremental`);
    assert.equal(d.parentId, parent.id, `${n}'s parent is its own previous row`);
  }
  assert.equal(second.run.databases.find((d) => d.runPart === 'globals')!.kind, 'full');

  // One database dropped: named as gone; its backup still restores (into a fresh database).
  const goneRow = first.run.databases.find((d) => d.database === names[1])!;
  await execSql(admin, `DROP DATABASE "${names[1]}" WITH (FORCE)`);
  const third = await backup(ws);
  ok(third.r, 'third run');
  assert.deepEqual(third.run.vanished, [names[1]]);
  assert.match(third.run.message ?? '', new RegExp(`Gone since the last run: ${names[1]}`));
  ok(await ws.run(['target', 'add', 'back', '--url', `${base}${names[1]}`]), 'target for the restore');
  ok(await ws.run(['restore', goneRow.id, '--to', 'back']), 'restore of a vanished database');
  const count = await withClient(connectionTo(names[1]), async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n);
  assert.equal(count, 20000);

  // The backup user may not connect to one database: the run is partial, naming it; the others land.
  await execSql(admin, `CREATE ROLE "${role}" LOGIN; GRANT pg_read_all_data TO "${role}"; REVOKE CONNECT ON DATABASE "${names[2]}" FROM PUBLIC`);
  ok(await ws.run(['target', 'edit', 'srv', '--url', base.replace('root@', `${role}@`)]), 'target edit (the limited user)');
  const edited = ok(await ws.run(['target', 'list', '--json']), 'target list')
    .json<Array<{ name: string; server: boolean; include: string[] }>>()
    .find((t) => t.name === 'srv')!;
  assert.equal(edited.server, true);
  assert.deepEqual(edited.include, [`${prefix}*`], 'the filters survive a URL change');
  const fourth = await backup(ws);
  assert.equal(fourth.r.code, 1, fourth.r.all);
  assert.equal(fourth.run.status, 'partial');
  assert.deepEqual(
    fourth.run.failedDatabases.filter((d) => d !== '(globals)'),
    [names[2]],
  );
  assert.match(fourth.run.message ?? '', new RegExp(`Failed: ${names[2]}`));
  for (const d of fourth.run.databases.filter((x) => x.runPart === 'database' && x.database !== names[2])) assert.equal(d.status, 'success', d.database);

  // The group's status through the API: /api/status and /metrics; and PATCH changes the filters and parallel.
  const served = await serve(ws);
  try {
    const api = client(served.url);
    const status = (await api('GET', '/api/status')).json() as {
      plans: Array<{ plan: string; health: string; lastServerRunId: string; lastServerRunStatus: string; lastServerRunMessage: string }>;
    };
    const plan = status.plans.find((p) => p.plan === 'all')!;
    assert.equal(plan.lastServerRunId, fourth.run.id);
    assert.equal(plan.lastServerRunStatus, 'partial');
    assert.equal(plan.health, 'failing');
    assert.match(plan.lastServerRunMessage, new RegExp(names[2]));
    const metrics = (await api('GET', '/metrics')).text;
    assert.match(metrics, /coffre_server_run_last_status\{plan="all",status="partial"\} 1/);
    const targets = (await api('GET', '/api/sgbd-targets')).json() as Array<{ id: string; name: string }>;
    const id = targets.find((t) => t.name === 'srv')!.id;
    const patched = await api('PATCH', `/api/sgbd-targets/${id}`, { exclude: [`${prefix}9`], parallel: 3 });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json().exclude, [`${prefix}9`]);
    assert.equal(patched.json().parallel, 3);
    assert.deepEqual(patched.json().include, [`${prefix}*`]);
    const bad = await api('PATCH', `/api/sgbd-targets/${id}`, { parallel: 0 });
    assert.equal(bad.status, 400, bad.text);
  } finally {
    await served.stop();
  }

  // Parallel: change it on the target (the edit that was missed last time), and time one run at 1 and 2.
  ok(await ws.run(['target', 'edit', 'srv', '--url', base, '--parallel', '1']), 'target edit --parallel 1');
  const t1 = Date.now();
  ok((await backup(ws, ['--kind', 'full'])).r, 'run at parallel 1');
  const p1 = Date.now() - t1;
  const edited2 = ok(await ws.run(['target', 'edit', 'srv', '--parallel', '2', '--json']), 'target edit --parallel 2').json<{ parallel: number }>();
  assert.equal(edited2.parallel, 2);
  const t2 = Date.now();
  ok((await backup(ws, ['--kind', 'full'])).r, 'run at parallel 2');
  const p2 = Date.now() - t2;
  console.log(`# server run over ${names.length - 1} PostgreSQL databases + globals (CLI, full, gzip): --parallel 1 ${p1} ms, --parallel 2 ${p2} ms`);
});

/** The same story on a server without globals: five databases, a sixth, one dropped and restored. */
async function serverStory(
  engine: string,
  base: string,
  prefix: string,
  db: { create(n: string): Promise<void>; drop(n: string): Promise<void>; count(n: string): Promise<number> },
): Promise<Workspace> {
  const names = pgNames(prefix, 6);
  cleanups.push(async () => {
    for (const n of names) await db.drop(n).catch(() => {});
  });
  for (const n of names.slice(0, 5)) await db.create(n);
  const ws = await setup(engine, base, prefix);
  const tested = ok(await ws.run(['target', 'test', 'srv', '--json']), 'target test').json<{ databases: string[] }>();
  assert.deepEqual(tested.databases, names.slice(0, 5));
  const first = await backup(ws);
  ok(first.r, 'first run');
  assert.equal(first.run.status, 'success');
  assert.deepEqual(
    first.run.databases.map((d) => d.database),
    names.slice(0, 5),
    'five rows, no globals',
  );
  await db.create(names[5]);
  const second = await backup(ws, ['--kind', 'incremental']);
  ok(second.r, 'second run');
  assert.deepEqual(second.run.newDatabases, [names[5]]);
  assert.equal(second.run.databases.find((d) => d.database === names[5])!.kind, 'full');
  for (const n of names.slice(0, 5)) {
    const d = second.run.databases.find((x) => x.database === n)!;
    assert.equal(d.kind, 'incremental', n);
    assert.equal(d.parentId, first.run.databases.find((x) => x.database === n)!.id, `${n}'s own parent`);
  }
  const gone = first.run.databases.find((d) => d.database === names[1])!;
  await db.drop(names[1]);
  const third = await backup(ws);
  ok(third.r, 'third run');
  assert.deepEqual(third.run.vanished, [names[1]]);
  ok(await ws.run(['target', 'add', 'back', '--url', `${base}${names[1]}`]), 'target for the restore');
  ok(await ws.run(['restore', gone.id, '--to', 'back']), 'restore of the vanished database');
  assert.equal(await db.count(names[1]), 500);
  return ws;
}

test('MariaDB server target: one row per database, new and vanished, per-database incrementals, a database the user cannot read makes the run partial', async () => {
  const prefix = `coffre_srv_${randomBytes(3).toString('hex')}_`;
  const user = `${prefix}u`.slice(0, 32);
  cleanups.push(() => adminSql(`DROP USER IF EXISTS '${user}'@'%';`));
  const ws = await serverStory('mysql', 'mysql://root@127.0.0.1:3306/', prefix, {
    create: async (n) =>
      void (await adminSql(
        `CREATE DATABASE ${myq(n)}; CREATE TABLE ${myq(n)}.t (id int primary key, v text); INSERT INTO ${myq(n)}.t WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < 500) SELECT k, md5(k) FROM s;`,
      )),
    drop: async (n) => void (await adminSql(`DROP DATABASE IF EXISTS ${myq(n)};`)),
    count: async (n) => Number((await adminSql(`SELECT count(*) FROM ${myq(n)}.t;`))[0][0]),
  });
  // A user who sees every database but may read all of them except one.
  const names = pgNames(prefix, 6); // the dropped one is back: the story restored it
  await adminSql(
    `CREATE USER '${user}'@'%'; GRANT SHOW DATABASES ON *.* TO '${user}'@'%'; ${names
      .filter((n) => n !== `${prefix}2`)
      .map((n) => `GRANT SELECT, SHOW VIEW, LOCK TABLES, TRIGGER, EVENT ON ${myq(n)}.* TO '${user}'@'%';`)
      .join(' ')}`,
  );
  ok(await ws.run(['target', 'edit', 'srv', '--url', `mysql://${user}@127.0.0.1:3306/`]), 'target edit');
  const run = await backup(ws);
  assert.equal(run.r.code, 1, run.r.all);
  assert.equal(run.run.status, 'partial');
  assert.deepEqual(run.run.failedDatabases, [`${prefix}2`]);
  assert.equal(run.run.databases.filter((d) => d.status === 'success').length, 5);
});

test('MongoDB-wire (FerretDB) server target: one row per database, new and vanished, per-database incrementals; admin/local/config left out', async () => {
  const prefix = `coffre_srv_${randomBytes(3).toString('hex')}_`;
  await serverStory('mongodb', `${mongoBase}/`, prefix, {
    create: (n) =>
      withMongo(
        async (c) =>
          void (await c
            .db(n)
            .collection('t')
            .insertMany(Array.from({ length: 500 }, (_, i) => ({ n: i, v: `v${i}` })))),
      ),
    drop: (n) => withMongo(async (c) => void (await c.db(n).dropDatabase())),
    count: (n) => withMongo((c) => c.db(n).collection('t').countDocuments()),
  });
});

/** A scratch PostgreSQL cluster (initdb + pg_ctl as the postgres user) on a random port, or why not. */
/** A TCP port on 127.0.0.1 free a moment ago. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function scratchCluster(): Promise<{ url: string; stop(): Promise<void> } | string> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { readdir, mkdtemp, chown, rm, readFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const run = promisify(execFile);
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [] as string[])).sort((a, b) => Number(b) - Number(a));
  if (!versions.length) return 'no /usr/lib/postgresql/*/bin here';
  const bin = `/usr/lib/postgresql/${versions[0]}/bin`;
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-scratch-pg-'));
  const asPostgres = process.getuid?.() === 0;
  const wrap = (cmd: string, args: string[]) => (asPostgres ? run('runuser', ['-u', 'postgres', '--', cmd, ...args]) : run(cmd, args));
  try {
    if (asPostgres) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: g } = await run('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(g.trim()));
    }
    await wrap(`${bin}/initdb`, ['-D', path.join(dir, 'data'), '-U', 'root', '--auth=trust', '-E', 'UTF8']);
    // A port the kernel just gave out (then freed), and a second try on another: a random port could be taken.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await wrap(`${bin}/pg_ctl`, [
          '-D',
          path.join(dir, 'data'),
          '-o',
          `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
          '-w',
          '-t',
          '120',
          '-l',
          path.join(dir, 'log'),
          'start',
        ]);
        break;
      } catch (err) {
        const log = await readFile(path.join(dir, 'log'), 'utf8').catch(() => '');
        if (attempt === 2) throw new Error(`${(err as Error).message}\nserver log: ${log.slice(-1500)}`);
      }
    }
    return {
      url: `postgres://root@127.0.0.1:${port}/`,
      stop: async () => {
        await wrap(`${bin}/pg_ctl`, ['-D', path.join(dir, 'data'), '-m', 'immediate', '-w', 'stop']).catch(() => {});
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return `initdb/pg_ctl failed: ${(err as Error).message}`;
  }
}

test('PostgreSQL globals: roles dropped after a run come back with --globals (existing roles skipped and named); a whole run restores into a second server (CLI and API), refused where a database holds data unless replace', async (t) => {
  const prefix = `coffre_srv_${randomBytes(3).toString('hex')}_`;
  const admin = connectionTo('postgres');
  const names = pgNames(prefix, 2);
  const [r1, r2] = [`${prefix}role1`, `${prefix}role2`];
  const madeByRestore: string[] = [];
  cleanups.push(async () => {
    for (const n of names) await execSql(admin, `DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`).catch(() => {});
    for (const r of [r2, r1, ...madeByRestore]) await execSql(admin, `DROP ROLE IF EXISTS "${r.replace(/"/g, '""')}"`).catch(() => {});
  });
  for (const n of names) {
    await execSql(admin, `CREATE DATABASE "${n}"`);
    await execSql(connectionTo(n), `CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, 300);`);
  }
  await execSql(
    admin,
    `CREATE ROLE "${r1}" LOGIN PASSWORD 'coffre-test-pw' CONNECTION LIMIT 3; CREATE ROLE "${r2}" NOLOGIN; GRANT "${r1}" TO "${r2}"; COMMENT ON ROLE "${r1}" IS 'made by the test'`,
  );
  const hashOf = async () => withClient(admin, async (c) => (await c.query(`SELECT rolpassword, rolconnlimit FROM pg_authid WHERE rolname = $1`, [r1])).rows[0]);
  const before = await hashOf();
  const base = adminUrl.replace(/\/[^/]*$/, '/');
  const ws = await setup('postgres', base, prefix);
  const run = await backup(ws);
  ok(run.r, 'server run');

  await execSql(admin, `DROP ROLE "${r2}"; DROP ROLE "${r1}"`);
  const restored = await ws.run(['restore', run.run.id, '--globals', '--to', 'srv', '--json']);
  const view = restored.json<{ status: string; message: string }>();
  const created = /created \d+ role\(s\): ([^;]*)/.exec(view.message)?.[1]?.split(', ') ?? [];
  madeByRestore.push(...created);
  ok(restored, 'restore --globals');
  assert.ok(created.includes(r1) && created.includes(r2), view.message);
  assert.match(view.message, /skipped \d+ existing role\(s\) \(not altered\): .*\broot\b/);
  const after = await hashOf();
  assert.deepEqual(after, before, 'the same password hash and connection limit');
  const member = await withClient(
    admin,
    async (c) =>
      (
        await c.query(
          `SELECT count(*)::int AS n FROM pg_auth_members m JOIN pg_roles a ON a.oid = m.roleid JOIN pg_roles b ON b.oid = m.member WHERE a.rolname = $1 AND b.rolname = $2`,
          [r1, r2],
        )
      ).rows[0].n,
  );
  assert.equal(member, 1, 'the membership came back');
  // Again: every role exists now, so nothing is created and the roles are named as skipped.
  const again = ok(await ws.run(['restore', run.run.id, '--globals', '--to', 'srv', '--json']), 'restore --globals again').json<{ message: string }>();
  assert.match(again.message, /created 0 role\(s\)/);
  assert.match(again.message, new RegExp(`skipped .*${r1}`));
  // Globals into a single-database target: refused.
  ok(await ws.run(['target', 'add', 'one', '--url', `${base}${names[0]}`]), 'target add one');
  const wrong = await ws.run(['restore', run.run.databases.find((d) => d.runPart === 'globals')!.id, '--to', 'one']);
  assert.equal(wrong.code, 2, wrong.all);
  assert.match(wrong.all, /roles and tablespaces: restore it with --to TARGET naming a PostgreSQL server target/);

  // The whole run into a second server (a scratch cluster).
  const scratch = await scratchCluster();
  if (typeof scratch === 'string') {
    t.skip(`no scratch PostgreSQL cluster: ${scratch}`);
    return;
  }
  try {
    ok(await ws.run(['target', 'add', 'other', '--url', scratch.url]), 'target add other');
    const whole = await ws.run(['restore', run.run.id, '--to', 'other', '--json']);
    ok(whole, 'whole-run restore');
    assert.equal(whole.json<{ status: string; restores: unknown[] }>().restores.length, 2);
    const otherConn = (n: string) => connectionTo(n, `${scratch.url}postgres`);
    for (const n of names) assert.equal(await withClient(otherConn(n), async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n), 300, n);
    // A database there now holds data: refused, coded, nothing touched.
    await execSql(otherConn(names[0]), `INSERT INTO t VALUES (9999)`);
    const refused = await ws.run(['restore', run.run.id, '--to', 'other']);
    assert.equal(refused.code, 2, refused.all);
    assert.match(refused.all, /already holds data in .*nothing was restored/);
    assert.match(refused.all, new RegExp(names[0]));
    assert.equal(await withClient(otherConn(names[0]), async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n), 301, 'untouched');
    ok(await ws.run(['restore', run.run.id, '--to', 'other', '--replace']), 'whole-run restore --replace');
    assert.equal(await withClient(otherConn(names[0]), async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n), 300, 'replaced');

    // The same through the API: POST /api/restores with the run's id and a server target.
    await execSql(otherConn(names[1]), `INSERT INTO t VALUES (9999)`);
    const served = await serve(ws);
    try {
      const api = client(served.url);
      const count = (n: string) => withClient(otherConn(n), async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n as number);
      const noTarget = await api('POST', '/api/restores', { journalId: run.run.id });
      assert.equal(noTarget.status, 400, noTarget.text);
      assert.equal(noTarget.json().error.code, 'COFFRE_E_MISSING_TARGET');
      const globalsOfFile = await api('POST', '/api/restores', { path: path.join(ws.dir, 'x.sql'), targetId: 'srv', options: { globals: true } });
      assert.equal(globalsOfFile.status, 400, globalsOfFile.text);
      assert.equal(globalsOfFile.json().error.code, 'COFFRE_E_BAD_OPTION');
      const oneDb = await api('POST', '/api/restores', { journalId: run.run.id, targetId: 'one' });
      assert.equal(oneDb.status, 400, oneDb.text);
      assert.equal(oneDb.json().error.code, 'COFFRE_E_SERVER_TARGET_NEEDED');
      const busy = await api('POST', '/api/restores', { journalId: run.run.id, targetId: 'other' });
      assert.equal(busy.status, 409, busy.text);
      assert.equal(busy.json().error.code, 'COFFRE_E_TARGET_NOT_EMPTY');
      assert.match(busy.json().error.message, new RegExp(`already holds data in ${names.join(', ')}: nothing was restored\\. Add "replace": true`));
      assert.equal(await count(names[1]), 301, 'refused: untouched');
      const accepted = await api('POST', '/api/restores', { journalId: run.run.id, targetId: 'other', options: { replace: true } });
      assert.equal(accepted.status, 202, accepted.text);
      const rowIds = run.run.databases.filter((d) => d.runPart !== 'globals').map((d) => d.id);
      const finished = (jobId: string) => async () => {
        const j = (await api('GET', `/api/jobs/${jobId}`)).json();
        return j.finishedAt ? j : undefined;
      };
      const job = await until(finished(accepted.json().jobId), 'the whole-run restore job', { limitMs: 120_000 });
      assert.equal(job.status, 'success', JSON.stringify(job));
      assert.equal(job.type, 'restore');
      assert.equal(job.result.runId, run.run.id);
      assert.deepEqual(
        job.result.restores.map((r: { backupId: string; status: string }) => [r.backupId, r.status]).sort(),
        rowIds.map((id) => [id, 'success']).sort(),
        'one restore per database row of the run',
      );
      assert.ok(
        job.result.restores.some((r: { id: string }) => r.id === job.journalId),
        'the job names the restore row it ran last',
      );
      for (const n of names) assert.equal(await count(n), 300, `${n} restored through the API`);
      // Its globals through the API: every role exists now, so none is created.
      const globals = await api('POST', '/api/restores', { journalId: run.run.id, targetId: 'srv', options: { globals: true } });
      assert.equal(globals.status, 202, globals.text);
      const gjob = await until(finished(globals.json().jobId), 'the globals job', { limitMs: 60_000 });
      assert.equal(gjob.status, 'success', JSON.stringify(gjob));
      assert.match(gjob.result.message, /created 0 role\(s\)/);
    } finally {
      await served.stop();
    }
  } finally {
    await scratch.stop();
  }
});
