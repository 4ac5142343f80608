// The children's environment is an allow-list: while coffre's own environment holds cloud credentials
// (AWS_SESSION_TOKEN, AZURE_STORAGE_KEY, ...), a real pg_dump and a real mariadb-dump, sampled through
// /proc/<pid>/environ while they run, hold none of them; they do hold what they need (PATH, HOME, and for
// pg_dump the PGPASSFILE coffre wrote for it).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { engines } from '../src/engines/index.ts';
import type { DumpSource } from '../src/core/types.ts';
import * as pgt from './support/postgres.ts';
import * as my from './support/mysql.ts';
import { until } from './support/wait.ts';

const planted = {
  AWS_SESSION_TOKEN: 'planted-aws-session-token',
  AWS_SECRET_ACCESS_KEY: 'planted-aws-secret',
  AZURE_STORAGE_KEY: 'planted-azure-key',
  AZURE_STORAGE_SAS_URL: 'https://planted.example/?sig=planted',
  GOOGLE_APPLICATION_CREDENTIALS: '/planted/key.json',
  ENCRYPTION_SECRET: 'planted-encryption-secret',
};
const saved = Object.fromEntries(Object.keys(planted).map((k) => [k, process.env[k]]));
Object.assign(process.env, planted);
after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** The environment of this process's running child named `comm`, read from /proc while it runs. */
async function childEnviron(comm: string): Promise<Map<string, string>> {
  const pid = await until(async () => {
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      // pid (comm) state ppid ...
      const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
      if (m && m[1] === comm && Number(m[2]) === process.pid) return Number(entry);
    }
    return undefined;
  }, `a running ${comm} child`);
  const raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  return new Map(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

function assertClean(env: Map<string, string>): void {
  for (const name of Object.keys(planted)) assert.equal(env.has(name), false, `${name} reached the child`);
  for (const value of Object.values(planted)) assert.ok(![...env.values()].includes(value), 'a planted value reached the child');
  assert.ok(env.get('PATH'), 'the child has PATH');
  assert.ok(env.has('HOME'), 'the child has HOME');
}

/** Drains and discards a dump, so that its child exits. */
async function drain(source: DumpSource): Promise<void> {
  for await (const _ of source.stream);
}

test('pg_dump runs with an allow-listed environment: no cloud credential of the server reaches it', async () => {
  const conn = pgt.connectionTo(pgt.uniqueName('coffre_env'));
  await pgt.createDatabase(conn);
  try {
    // 10 MB: more than the pipe and the stream's buffer hold, so pg_dump is still running when sampled.
    await pgt.execSql(conn, "CREATE TABLE filler AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 50000) g");
    const source = await engines.get('postgres').dump({ ...conn, password: 'not-the-real-one-trust-auth' }, {});
    const env = await childEnviron('pg_dump');
    assertClean(env);
    assert.equal(env.get('PGAPPNAME'), 'coffre', 'what the engine sets for its tool is there');
    assert.match(env.get('PGPASSFILE') ?? '', /pgpass/, 'the password comes through its 0600 file');
    await drain(source);
  } finally {
    await pgt.dropDatabase(conn);
  }
});

test('mariadb-dump runs with an allow-listed environment: no cloud credential of the server reaches it', async () => {
  const name = `coffre_env_${Date.now().toString(36)}`;
  const conn = my.connectionFor(name);
  await my.adminSql(`CREATE DATABASE ${my.q(name)}; CREATE TABLE ${my.q(name)}.filler (id INT PRIMARY KEY, pad TEXT);`);
  try {
    // 20 MB: more than the pipe and the stream's buffer hold, so mariadb-dump is still running when sampled.
    await my.adminSql(`INSERT INTO filler SELECT seq, REPEAT('x', 1000) FROM seq_1_to_20000;`, name);
    const source = await engines.get('mysql').dump(conn, {});
    const env = await childEnviron(source.tool);
    assertClean(env);
    await drain(source);
  } finally {
    await my.dropDatabase(name);
  }
});
