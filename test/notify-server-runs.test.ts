// Notifications of a server target's runs (issue 15), through the real CLI against the real MariaDB server and
// a real HTTP receiver. A server run is one run for the person on call: one message and one dead man's switch
// ping per run, never one per database. A run where one database of three cannot be read is announced once,
// `partial`, naming it (not `failure` then `recovered` as its databases finish one after another); the next
// good run says `recovered` once; and a server that cannot even be listed (nothing backed up, no database row
// at all) is announced as a failure at once, and shows in the journal.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';
import { adminSql, q } from './support/mysql.ts';

const prefix = `coffre_nsr_${randomBytes(3).toString('hex')}_`;
const names = [`${prefix}a`, `${prefix}b`, `${prefix}c`];
const user = `${prefix}u`.slice(0, 32);
let ws: Workspace;
let rx: Receiver;
let env: NodeJS.ProcessEnv;

interface Message {
  event: string;
  status: string;
  journalId: string;
  title: string;
  text: string;
}

const bodies = (at: string) =>
  rx
    .at(at)
    .filter((r) => r.status < 300)
    .map((r) => JSON.parse(r.body) as Message);

async function cli(args: string[], code = 0) {
  const r = await ws.run(args, env);
  expectCode(r, code, args.join(' '));
  return r;
}

before(async () => {
  ws = await workspace('coffre-notify-srv-');
  rx = await startReceiver();
  env = { NOTIFY_RETRY_BASE_MS: '50', NOTIFY_TIMEOUT_SECONDS: '5', HOOK_URL: `${rx.url}/srv`, PING_URL: `${rx.url}/ping`, DOWN_URL: `${rx.url}/down` };
  for (const n of names) await adminSql(`CREATE DATABASE ${q(n)}; CREATE TABLE ${q(n)}.t (id int primary key); INSERT INTO ${q(n)}.t VALUES (1), (2);`);
  // A user who lists every database and may read all of them but the second.
  await adminSql(
    `CREATE USER '${user}'@'%'; GRANT SHOW DATABASES ON *.* TO '${user}'@'%'; ${[names[0], names[2]].map((n) => `GRANT SELECT, SHOW VIEW, LOCK TABLES, TRIGGER, EVENT ON ${q(n)}.* TO '${user}'@'%';`).join(' ')}`,
  );
  await cli(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]);
  await cli(['notify', 'add', 'oncall', '--type', 'webhook', '--url-env', 'HOOK_URL']);
  await cli(['notify', 'add', 'oncall-down', '--type', 'webhook', '--url-env', 'DOWN_URL']);
});

after(async () => {
  await adminSql(`DROP USER IF EXISTS '${user}'@'%';`).catch(() => {});
  for (const n of names) await adminSql(`DROP DATABASE IF EXISTS ${q(n)};`).catch(() => {});
  await rx?.close();
  await ws?.cleanup();
});

test('a server run is announced once as a run: partial naming the database that failed, then recovered; one ping per run', async () => {
  await cli(['target', 'add', 'srv', '--url', `mysql://${user}@127.0.0.1:3306/`, '--include', `${prefix}*`]);
  await cli(['plan', 'add', 'all', '--target', 'srv', '--destination', 'disk', '--compression', 'gzip', '--notify', 'oncall', '--ping-url-env', 'PING_URL']);
  const partial = (await cli(['backup', 'all', '--json'], 1)).json<{ id: string; status: string; failedDatabases: string[] }>();
  assert.equal(partial.status, 'partial');
  assert.deepEqual(partial.failedDatabases, [names[1]]);
  const first = bodies('/srv');
  assert.deepEqual(
    first.map((m) => [m.event, m.status, m.journalId]),
    [['partial', 'partial', partial.id]],
    'one message, about the run, and no "recovered" from the database that succeeded after the failed one',
  );
  assert.match(first[0].text, new RegExp(`backed up 2 of 3 databases; failed: ${names[1]}`));
  assert.equal(rx.at('/ping/start').length, 1, 'one start ping for the run');
  assert.equal(rx.at('/ping/fail').length, 1, 'one /fail ping for the run');
  assert.equal(rx.at('/ping').length, 0, 'no success ping from its good databases');

  await adminSql(`GRANT SELECT, SHOW VIEW, LOCK TABLES, TRIGGER, EVENT ON ${q(names[1])}.* TO '${user}'@'%';`);
  const good = (await cli(['backup', 'all', '--json'])).json<{ id: string; status: string }>();
  assert.equal(good.status, 'success');
  assert.deepEqual(
    bodies('/srv')
      .slice(1)
      .map((m) => [m.event, m.journalId]),
    [['recovered', good.id]],
  );
  assert.equal(rx.at('/ping/start').length, 2);
  assert.equal(rx.at('/ping').length, 1, 'one success ping for the good run');
});

test('a server that cannot be listed is announced as a failure at once, though no database was backed up, and the journal shows the run', async () => {
  await cli(['target', 'add', 'down', '--url', 'mysql://root@127.0.0.1:1/', '--all-databases']);
  await cli(['plan', 'add', 'down', '--target', 'down', '--destination', 'disk', '--notify', 'oncall-down']);
  const failed = (await cli(['backup', 'down', '--json'], 1)).json<{ id: string; status: string; databases: unknown[] }>();
  assert.equal(failed.status, 'failed');
  assert.deepEqual(failed.databases, [], 'nothing backed up: no database row');
  const messages = bodies('/down');
  assert.deepEqual(
    messages.map((m) => [m.event, m.status, m.journalId]),
    [['failure', 'failed', failed.id]],
  );
  assert.match(messages[0].title, /backup of plan down FAILED/);
  // And the journal shows the run, though it has no database row.
  const journal = (await cli(['journal', '--plan', 'down', '--json'])).json<Array<{ id: string; status: string; runPart: string }>>();
  assert.deepEqual(
    journal.map((e) => [e.id, e.status, e.runPart]),
    [[failed.id, 'failed', 'run']],
  );
});
