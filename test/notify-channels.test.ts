// The channel contract, each channel against a real receiver through `coffre notify test` (no run events
// needed): a local HTTP server for webhook, slack, discord, teams and ntfy, a real SMTP server (smtp-server,
// STARTTLS on a certificate made for the test, login) for email, its message parsed back with mailparser. The
// webhook's X-Coffre-Signature is checked with the secret; retries happen on 503 only, never on 400.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';
import { startSmtp, type SmtpReceiver } from './support/smtp.ts';

let ws: Workspace;
let rx: Receiver;
let smtp: SmtpReceiver;
let env: NodeJS.ProcessEnv;
const SECRET = 'channel-secret-77ab';
const PASSWORD = 'smtp-channel-pass-1';

async function cli(args: string[], code = 0) {
  const r = await ws.run(args, env);
  expectCode(r, code, args.join(' '));
  return r;
}

before(async () => {
  ws = await workspace('coffre-channels-');
  rx = await startReceiver();
  smtp = await startSmtp('bot', PASSWORD);
  env = { NOTIFY_RETRY_BASE_MS: '20', NOTIFY_TIMEOUT_SECONDS: '5', SECRET, PASSWORD, U: rx.url };
});

after(async () => {
  await rx?.close();
  await smtp?.close();
  await ws?.cleanup();
});

test('every channel sends its own format to a real receiver; webhook signed; email over STARTTLS with login', async () => {
  const add = (name: string, type: string, ...rest: string[]) => cli(['notify', 'add', name, '--type', type, ...rest], 0);
  for (const [name, type] of [
    ['w', 'webhook'],
    ['s', 'slack'],
    ['d', 'discord'],
    ['t', 'teams'],
    ['n', 'ntfy'],
  ]) {
    env[`URL_${name}`] = `${rx.url}/${name}/tok`;
    await add(name, type, '--url-env', `URL_${name}`, ...(type === 'webhook' ? ['--secret-env', 'SECRET'] : []));
  }
  await cli(['notify', 'add', 'e', ...smtp.notifierArgs({ username: 'bot', passwordEnv: 'PASSWORD', from: 'coffre@example.test', to: 'a@example.test,b@example.test' })]);
  for (const n of ['w', 's', 'd', 't', 'n', 'e']) assert.match((await cli(['notify', 'test', n])).stdout, /Test message sent/);
  const w = rx.at('/w/tok')[0];
  assert.equal(JSON.parse(w.body).event, 'test');
  assert.equal(w.headers['x-coffre-signature'], `sha256=${createHmac('sha256', SECRET).update(w.body).digest('hex')}`);
  assert.ok(JSON.parse(rx.at('/s/tok')[0].body).blocks.length >= 2);
  assert.equal(JSON.parse(rx.at('/d/tok')[0].body).embeds[0].title, 'coffre: test message from notifier d');
  assert.equal(JSON.parse(rx.at('/t/tok')[0].body).attachments[0].content.type, 'AdaptiveCard');
  assert.match(rx.at('/n/tok')[0].body, /This is a test of the ntfy notifier "n"/);
  const [mail] = await smtp.waitFor(1);
  assert.equal(mail.subject, 'coffre: test message from notifier e');
  assert.deepEqual(smtp.secured, [true]);
  assert.match(String(mail.html), /<h2/);
  assert.match(mail.text ?? '', /test of the email notifier/);
});

test('retries with backoff on 503 until 200 (one message); a 400 is not retried; a wrong SMTP password is not retried', async () => {
  env.FLAKY = `${rx.url}/flaky`;
  env.BAD = `${rx.url}/bad`;
  rx.script('/flaky', [503, 503]);
  rx.script('/bad', [400, 400, 400]);
  await cli(['notify', 'add', 'flaky', '--type', 'webhook', '--url-env', 'FLAKY']);
  await cli(['notify', 'add', 'bad', '--type', 'slack', '--url-env', 'BAD']);
  const ok = (await cli(['notify', 'test', 'flaky', '--json'])).json<{ status: string; attempts: number }>();
  assert.deepEqual([ok.status, ok.attempts], ['sent', 3]);
  assert.deepEqual(
    rx.at('/flaky').map((r) => r.status),
    [503, 503, 200],
  );
  const bad = await cli(['notify', 'test', 'bad'], 1);
  assert.match(bad.stderr, /failed after 1 attempt\(s\): The slack notifier got HTTP 400/);
  assert.equal(rx.at('/bad').length, 1);
  env.WRONG = 'not-the-password';
  await cli(['notify', 'add', 'wrong', ...smtp.notifierArgs({ username: 'bot', passwordEnv: 'WRONG', from: 'c@example.test', to: 'a@example.test' })]);
  assert.match((await cli(['notify', 'test', 'wrong'], 1)).stderr, /after 1 attempt\(s\).*refused the login/);
  // An untrusted certificate is said so (no --ca-file), and never skipped.
  await cli(['notify', 'add', 'untrusted', '--type', 'email', '--host', '127.0.0.1', '--port', String(smtp.port), '--from', 'c@example.test', '--to', 'a@example.test']);
  assert.match((await cli(['notify', 'test', 'untrusted'], 1)).stderr, /certificate is not trusted/);
  assert.ok(!ws.transcript.join('\n').includes(PASSWORD));
  assert.ok(!ws.transcript.join('\n').includes(SECRET));
});
