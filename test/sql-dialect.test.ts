// SQL text says whose it is in its first lines: a mysqldump file is refused by a PostgreSQL target (and the
// reverse) before anything touches the target, instead of failing halfway through with a syntax error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { sqlDialectOf } from '../src/codecs/sniff.ts';
import { streamRestore } from '../src/pipeline/restore.ts';
import { postgres } from '../src/engines/postgres.ts';
import { mysql } from '../src/engines/mysql.ts';
import { parseConnectionUrl } from '../src/core/connection.ts';
import { isCoffreError } from '../src/core/errors.ts';

function realHead(command: string, args: string[]): Buffer {
  const r = spawnSync(command, args, { maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${command} failed: ${r.stderr}`);
  return r.stdout.subarray(0, 4096);
}

const pgHead = realHead('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', '--schema-only', 'postgres']);
const myHead = realHead('mariadb-dump', ['-h', '127.0.0.1', '-u', 'root', '--no-data', 'mysql', 'db']);

test('the dialect of real pg_dump and mariadb-dump output, and none for bare SQL', () => {
  assert.equal(sqlDialectOf(pgHead), 'postgres');
  assert.equal(sqlDialectOf(myHead), 'mysql');
  assert.equal(sqlDialectOf(Buffer.from('CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n')), undefined);
});

for (const [head, engine, url] of [
  [myHead, postgres, `postgres://postgres@127.0.0.1:5432/coffre_never_${process.pid}`],
  [pgHead, mysql, `mysql://root@127.0.0.1:3306/coffre_never_${process.pid}`],
] as const) {
  test(`a ${sqlDialectOf(head)} dump is refused by a ${engine.name} target, which stays untouched`, async () => {
    const conn = parseConnectionUrl(url);
    const input = new PassThrough();
    input.end(head);
    await assert.rejects(
      streamRestore({ engine, conn, source: input, replace: false }),
      (err) => isCoffreError(err) && err.code === 'COFFRE_E_FORMAT_MISMATCH' && err.kind === 'usage' && new RegExp(`${engine.name} target cannot run`).test(err.message),
    );
    assert.deepEqual(await engine.inspect(conn), { exists: false, empty: true }, 'the database was not created');
  });
}
