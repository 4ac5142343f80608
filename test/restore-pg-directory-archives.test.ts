// A pg_dump -Fd folder inside a tar.gz or a zip restores into a real PostgreSQL (the archive is unpacked
// under the entry rules into a temporary folder, then pg_restore reads it), and toc.dat alone is refused
// with its own code instead of going to pg_restore as a custom-format file.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { adminUrl, connectionTo, dropDatabase, execSql, uniqueName, withClient } from './support/postgres.ts';

let ws: Workspace;
const source = connectionTo(uniqueName('coffre_fd_src'));
const copies = [connectionTo(uniqueName('coffre_fd_tgz')), connectionTo(uniqueName('coffre_fd_zip'))];
const base = adminUrl.replace(/\/[^/]*$/, '');

before(async () => {
  ws = await workspace();
  await execSql(source, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, repeat('x', g % 50) FROM generate_series(1, 20000) g;");
  const u = new URL(adminUrl);
  execFileSync('pg_dump', ['-h', u.hostname, '-p', u.port || '5432', '-U', u.username, '-Fd', '-f', path.join(ws.dir, 'fd'), source.database]);
  execFileSync('tar', ['czf', path.join(ws.dir, 'fd.tar.gz'), '-C', ws.dir, 'fd']);
  execFileSync('zip', ['-qr', path.join(ws.dir, 'fd.zip'), '.'], { cwd: path.join(ws.dir, 'fd') });
  expectCode(await ws.run(['target', 'add', 'tgz', '--url', `${base}/${copies[0].database}`]), 0, 'target add');
  expectCode(await ws.run(['target', 'add', 'zip', '--url', `${base}/${copies[1].database}`]), 0, 'target add');
});
after(async () => {
  for (const c of [source, ...copies]) await dropDatabase(c).catch(() => {});
  await ws?.cleanup();
});

const summary = (conn: typeof source) =>
  withClient(conn, async (c) => (await c.query("SELECT count(*)::int AS n, md5(string_agg(id || ':' || v, ',' ORDER BY id)) AS h FROM t")).rows[0]);

for (const [i, file, layer] of [
  [0, 'fd.tar.gz', 'targz'],
  [1, 'fd.zip', 'zip'],
] as const) {
  test(`a pg_dump -Fd folder inside ${file} restores, equal to the source`, async () => {
    const r = await ws.run(['restore', '--file', path.join(ws.dir, file), '--to', i === 0 ? 'tgz' : 'zip', '--json']);
    expectCode(r, 0, `restore ${file}`);
    assert.match(r.json<{ message: string }>().message, new RegExp(`Restored pg-directory \\(${layer}\\) with pg_restore`));
    assert.deepEqual(await summary(copies[i]), await summary(source));
  });
}

test('toc.dat alone is refused with COFFRE_E_PG_TOC_ALONE, not handed to pg_restore', async () => {
  const r = await ws.run(['restore', '--file', path.join(ws.dir, 'fd', 'toc.dat'), '--to', 'tgz', '--replace', '--json']);
  expectCode(r, 2, 'restore toc.dat');
  assert.equal(JSON.parse(r.stderr.split('\n').find((l) => l.startsWith('{'))!).error.code, 'COFFRE_E_PG_TOC_ALONE');
});
