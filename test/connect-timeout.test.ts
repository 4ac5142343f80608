// A database server that accepts the TCP connection and never says a word (a stuck server, a port that is
// not a database's) must fail with a coded timeout, not hold a backup, a restore or `target test` forever.
// Against a real silent listener (net.createServer that never writes): the MySQL/MariaDB query client
// (--connect-timeout) and the PostgreSQL driver and libpq tools (connectionTimeoutMillis, PGCONNECT_TIMEOUT),
// bounded by CONNECT_TIMEOUT_SECONDS (default 10) or the PostgreSQL URL's own connect_timeout. Each test
// has a generous node:test timeout, so a hang fails the test instead of hanging the suite.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { mysql } from '../src/engines/mysql.ts';
import { postgres } from '../src/engines/postgres.ts';
import { explainPgText } from '../src/engines/postgres-client.ts';
import { parseConnectionUrl } from '../src/core/connection.ts';
import { isCoffreError } from '../src/core/errors.ts';
import { silentServer } from './support/api.ts';
import { workspace, expectCode, type Workspace } from './support/cli.ts';

let silent: Awaited<ReturnType<typeof silentServer>>;
let ws: Workspace;
const bound = { timeout: 120_000 };

function timedOut(err: unknown): boolean {
  assert.ok(isCoffreError(err), String(err));
  assert.equal(err.code, 'COFFRE_E_CONNECT_TIMEOUT', err.message);
  assert.equal(err.retryable, true);
  assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${silent.port}`));
  assert.match(err.message, /CONNECT_TIMEOUT_SECONDS/);
  return true;
}

before(async () => {
  silent = await silentServer();
  ws = await workspace('coffre-connect-timeout-');
  process.env.CONNECT_TIMEOUT_SECONDS = '1';
});
after(async () => {
  delete process.env.CONNECT_TIMEOUT_SECONDS;
  await silent?.close();
  await ws?.cleanup();
});

test('mysql: a server that never sends its greeting is COFFRE_E_CONNECT_TIMEOUT for probe, dump, inspect and restore', bound, async () => {
  const conn = parseConnectionUrl(`mysql://root@127.0.0.1:${silent.port}/shop`);
  await assert.rejects(mysql.probe(conn), timedOut);
  await assert.rejects(mysql.dump(conn, {}), timedOut);
  await assert.rejects(mysql.inspect(conn), timedOut);
  await assert.rejects(mysql.restore(conn, Readable.from(['SELECT 1;\n']), 'sql', { replace: true }), timedOut);
});

test('postgres: a server that never answers the startup is COFFRE_E_CONNECT_TIMEOUT (driver and libpq tools)', bound, async () => {
  const conn = parseConnectionUrl(`postgres://root@127.0.0.1:${silent.port}/shop`);
  await assert.rejects(postgres.probe(conn), timedOut);
  await assert.rejects(postgres.dump(conn, {}), timedOut);
  await assert.rejects(postgres.inspect(conn), timedOut);
  // The URL's own connect_timeout is honoured (and named in the message's figure).
  const own = parseConnectionUrl(`postgres://root@127.0.0.1:${silent.port}/shop?connect_timeout=2`);
  await assert.rejects(postgres.probe(own), (err) => timedOut(err) && /within 2 s/.test((err as Error).message));
  // libpq's own words for its connect_timeout, as pg_dump and psql print them.
  assert.equal(explainPgText(conn, 'pg_dump: error: connection to server at "127.0.0.1", port 5999 failed: timeout expired')?.code, 'COFFRE_E_CONNECT_TIMEOUT');
});

test('CLI: `coffre target test` against a silent port ends with the coded timeout; a bad CONNECT_TIMEOUT_SECONDS is refused', bound, async () => {
  expectCode(await ws.run(['target', 'add', 'stuck-maria', '--url', `mysql://root@127.0.0.1:${silent.port}/shop`]), 0, 'target add');
  expectCode(await ws.run(['target', 'add', 'stuck-pg', '--url', `postgres://root@127.0.0.1:${silent.port}/shop`]), 0, 'target add');
  for (const name of ['stuck-maria', 'stuck-pg']) {
    const r = await ws.run(['target', 'test', name, '--json'], { CONNECT_TIMEOUT_SECONDS: '1' });
    assert.notEqual(r.code, 0, r.all);
    assert.match(r.all, /COFFRE_E_CONNECT_TIMEOUT/, `${name}: ${r.all}`);
  }
  const bad = await ws.run(['target', 'test', 'stuck-maria', '--json'], { CONNECT_TIMEOUT_SECONDS: 'forever' });
  expectCode(bad, 2, 'a bad CONNECT_TIMEOUT_SECONDS');
  assert.match(bad.all, /CONNECT_TIMEOUT_SECONDS/);
});
