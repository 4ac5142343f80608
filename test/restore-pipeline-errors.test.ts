// An 'error' event anywhere in the restore pipeline becomes a coded error and a `failed` journal row, never
// an unhandled 'error' event with a stack trace (issue 10's crash): an archive whose damage shows only after
// the engine started, or after the engine refused the target without reading its input. With and without
// --json, on a real PostgreSQL.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tarStream from 'tar-stream';
import yazl from 'yazl';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { adminUrl, connectionTo, dropDatabase, execSql, uniqueName, withClient } from './support/postgres.ts';

let ws: Workspace;
const target = connectionTo(uniqueName('coffre_pipe_err'));
const full = connectionTo(uniqueName('coffre_pipe_full'));

/** Valid SQL longer than the sniffer's peek window, so the engine is running when the archive breaks. */
const bigSql = `CREATE TABLE t (id int PRIMARY KEY, v text);\n${Array.from({ length: 3000 }, (_, i) => `INSERT INTO t VALUES (${i}, 'row ${i}');`).join('\n')}\n`;

async function zipOf(file: string, entries: Array<[string, string]>): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const [name, text] of entries) zip.addBuffer(Buffer.from(text), name);
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
}

async function tgzOf(file: string, entries: Array<[string, string]>): Promise<void> {
  const pack = tarStream.pack();
  const done = pipeline(pack, createGzip(), createWriteStream(file));
  for (const [name, text] of entries) pack.entry({ name }, text);
  pack.finalize();
  await done;
}

before(async () => {
  ws = await workspace();
  await dropDatabase(target);
  await execSql(full, 'CREATE TABLE keep (id int); INSERT INTO keep VALUES (1), (2), (3);');
  const base = adminUrl.replace(/\/[^/]*$/, '');
  expectCode(await ws.run(['target', 'add', 'empty', '--url', `${base}/${target.database}`]), 0, 'target add');
  expectCode(await ws.run(['target', 'add', 'full', '--url', `${base}/${full.database}`]), 0, 'target add');
  for (const [name, make] of [
    ['two.zip', zipOf],
    ['two.tar.gz', tgzOf],
  ] as const)
    await make(path.join(ws.dir, name), [
      ['a.sql', bigSql],
      ['notes.txt', 'a second file'],
    ]);
});
after(async () => {
  await dropDatabase(target).catch(() => {});
  await dropDatabase(full).catch(() => {});
  await ws?.cleanup();
});

/** The restore journal row of the latest run. */
async function lastRestore(): Promise<Record<string, unknown>> {
  const r = await ws.run(['journal', '--restores', '--json']);
  return r.json<Array<Record<string, unknown>>>()[0];
}

function noStackTrace(all: string): void {
  assert.doesNotMatch(all, /^\s+at .+:\d+:\d+\)?$/m, `a stack trace reached the user:\n${all}`);
  assert.doesNotMatch(all, /Unhandled 'error' event|node:events|Node\.js v\d/, all);
}

for (const file of ['two.zip', 'two.tar.gz']) {
  test(`${file}: a second file found while the engine is running fails coded, journaled failed, target untouched`, async () => {
    for (const json of [false, true]) {
      const r = await ws.run(['restore', '--file', path.join(ws.dir, file), '--to', 'empty', ...(json ? ['--json'] : [])]);
      expectCode(r, 2, `restore ${file}`);
      noStackTrace(r.all);
      assert.match(r.all, /COFFRE_E_UNSUPPORTED_ARCHIVE|more than one file/);
      if (json) assert.equal(JSON.parse(r.stderr.trim().split('\n').pop()!).error.code, 'COFFRE_E_UNSUPPORTED_ARCHIVE');
      const row = await lastRestore();
      assert.equal(row.status, 'failed', JSON.stringify(row));
      assert.match(String(row.message), /more than one file/);
      // Nothing was committed: the table never appeared in the target.
      const exists = await withClient(target, async (c) => (await c.query("SELECT to_regclass('public.t') AS t")).rows[0].t, target.database).catch(() => null);
      assert.equal(exists, null);
    }
  });

  test(`${file}: an engine that refuses the target before reading leaves no unhandled error behind`, async () => {
    for (const json of [false, true]) {
      const r = await ws.run(['restore', '--file', path.join(ws.dir, file), '--to', 'full', ...(json ? ['--json'] : [])]);
      expectCode(r, 2, `restore ${file} into a non-empty target`);
      noStackTrace(r.all);
      // A file given by path is read once for what it holds before the target is checked (the SQL
      // filter's first pass), so the archive's own error may be the one reported: either way, coded.
      assert.match(r.all, /COFFRE_E_TARGET_NOT_EMPTY|already holds data|more than one file/);
      const row = await lastRestore();
      assert.equal(row.status, 'failed', JSON.stringify(row));
      const kept = await withClient(full, async (c) => (await c.query('SELECT count(*)::int AS n FROM keep')).rows[0].n);
      assert.equal(kept, 3);
    }
  });
}

test('the last guard: an error that escapes every handler still leaves as one coded line, no stack trace', async () => {
  const script = path.join(ws.dir, 'escape.ts');
  const main = path.resolve(import.meta.dirname, '../src/cli/main.ts');
  // runCommand installs the guard; the throw comes later, from a timer nobody awaits.
  await writeFile(
    script,
    `import { runCommand } from ${JSON.stringify(main)};\nawait runCommand(process.argv.slice(2));\nsetTimeout(() => { throw new Error('escaped'); }, 0);\nsetTimeout(() => {}, 5000);\n`,
  );
  for (const json of [false, true]) {
    const child = await import('node:child_process');
    const out = await new Promise<{ code: number | null; all: string; stderr: string }>((resolve) => {
      const c = child.spawn(process.execPath, [script, '--version', ...(json ? ['--json'] : [])], { env: ws.env, cwd: ws.dir });
      let all = '';
      let stderr = '';
      c.stdout.on('data', (d) => (all += d));
      c.stderr.on('data', (d) => {
        all += d;
        stderr += d;
      });
      c.on('close', (code) => resolve({ code, all, stderr }));
    });
    assert.equal(out.code, 1, out.all);
    noStackTrace(out.all);
    assert.match(out.all, /escaped/);
    if (json) assert.equal(JSON.parse(out.stderr.split('\n').find((l) => l.startsWith('{'))!).error.code, 'COFFRE_E_INTERNAL');
  }
});
