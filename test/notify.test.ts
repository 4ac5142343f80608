// Notifications end to end through the real CLI and server, against real receivers (no mocks): a local HTTP
// receiver for the webhook, Slack, Discord, Teams and ntfy bodies, and a real SMTP server (smtp-server) with
// STARTTLS on a self-signed certificate made for the test and login, its messages parsed back with mailparser.
// Covers: each channel's body and the webhook's HMAC; retries (503, 503, then 200: one message, three attempts)
// and none on 400; a plan failing five times announced once, then `recovered`; an RPO of 2 seconds on a plan
// without backups (one `rpo` alert, no repeat within the reminder interval, `recovered` after a backup); the
// notification journal; `coffre status`; and /metrics parsed by a Prometheus text-format parser, its values
// checked against the journal.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { ChildProcess } from 'node:child_process';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';
import { startSmtp, type SmtpReceiver } from './support/smtp.ts';
import { until } from './support/wait.ts';

let ws: Workspace;
let rx: Receiver;
let smtp: SmtpReceiver;
let env: NodeJS.ProcessEnv;
const servers: ChildProcess[] = [];
const HOOK_SECRET = 'hook-secret-4f9a8b7c';
const SMTP_PASSWORD = 'smtp-pass-93kd8Qz';
const NTFY_TOKEN = 'tk_ntfytoken55aa';
const URL_TOKEN = 'XXTOKENXX123';
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

interface Message {
  event: string;
  plan: string;
  status: string;
  journalId: string;
  title: string;
}

function bodies(path: string): Message[] {
  return rx
    .at(path)
    .filter((r) => r.status < 300)
    .map((r) => JSON.parse(r.body) as Message);
}

async function cli(args: string[], code = 0, extra: NodeJS.ProcessEnv = {}) {
  const r = await ws.run(args, { ...env, ...extra });
  expectCode(r, code, args.join(' '));
  return r;
}

function sqliteDb(file: string): void {
  const d = new DatabaseSync(file);
  d.exec("CREATE TABLE IF NOT EXISTS t (x TEXT); INSERT INTO t VALUES ('row')");
  d.close();
}

/** Starts `coffre serve ARGS` and resolves once it printed `ready` (a regexp on its stdout), with its output so far. */
async function serve(args: string[], ready: RegExp, extra: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; out: () => string; match: RegExpMatchArray }> {
  const child = ws.start(['serve', ...args], { ...env, ...extra });
  servers.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const match = await until(
    () => {
      if (child.exitCode !== null) throw new Error(`coffre serve exited (${child.exitCode}) before it started:\n${out}`);
      return out.match(ready);
    },
    () => `coffre serve to start:\n${out}`,
    { limitMs: 60000, everyMs: 50 },
  );
  return { child, out: () => out, match };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

before(async () => {
  ws = await workspace('coffre-notify-');
  rx = await startReceiver();
  smtp = await startSmtp('alerts', SMTP_PASSWORD);
  env = {
    NOTIFY_RETRY_BASE_MS: '50',
    NOTIFY_TIMEOUT_SECONDS: '5',
    HOOK_URL: `${rx.url}/hook/${URL_TOKEN}`,
    HOOK_SECRET,
    SLACK_URL: `${rx.url}/slack/T000/B000/${URL_TOKEN}`,
    DISCORD_URL: `${rx.url}/discord/123/${URL_TOKEN}`,
    TEAMS_URL: `${rx.url}/teams/${URL_TOKEN}`,
    NTFY_URL: `${rx.url}/ntfy-${URL_TOKEN}`,
    NTFY_TOKEN,
    SMTP_PASSWORD,
    FLAKY_URL: `${rx.url}/flaky`,
    REFUSE_URL: `${rx.url}/refuse`,
    BROKEN_URL: `${rx.url}/broken`,
    RPO_URL: `${rx.url}/rpo`,
    PING_URL: `${rx.url}/ping/${URL_TOKEN}`,
  };
  rx.script(`/discord/123/${URL_TOKEN}`, [204, 204, 204, 204]);
  sqliteDb(path.join(ws.dir, 'shop.db'));
  await cli(['target', 'add', 'shop', '--url', `sqlite:${path.join(ws.dir, 'shop.db')}`]);
  await cli(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]);
});

after(async () => {
  for (const s of servers) await stop(s).catch(() => {});
  await rx?.close();
  await smtp?.close();
  await ws?.cleanup();
});

test('every channel delivers a real message: webhook (HMAC), slack, discord, teams, ntfy, email (STARTTLS, login)', async () => {
  await cli(['notify', 'add', 'hook', '--type', 'webhook', '--url-env', 'HOOK_URL', '--secret-env', 'HOOK_SECRET']);
  await cli(['notify', 'add', 'slack', '--type', 'slack', '--url-env', 'SLACK_URL']);
  await cli(['notify', 'add', 'discord', '--type', 'discord', '--url-env', 'DISCORD_URL']);
  await cli(['notify', 'add', 'teams', '--type', 'teams', '--url-env', 'TEAMS_URL']);
  await cli(['notify', 'add', 'ntfy', '--type', 'ntfy', '--url-env', 'NTFY_URL', '--token-env', 'NTFY_TOKEN']);
  await cli([
    'notify',
    'add',
    'mail',
    ...smtp.notifierArgs({ security: 'starttls', username: 'alerts', passwordEnv: 'SMTP_PASSWORD', from: 'coffre@example.test', to: 'oncall@example.test' }),
  ]);
  // A password over a clear connection is refused; an unknown setting is named.
  const insecure = await cli(
    [
      'notify',
      'add',
      'clear',
      '--type',
      'email',
      '--host',
      '127.0.0.1',
      '--security',
      'none',
      '--username',
      'a',
      '--password-env',
      'SMTP_PASSWORD',
      '--from',
      'a@b.c',
      '--to',
      'c@d.e',
    ],
    2,
  );
  assert.match(insecure.stderr, /unencrypted/);
  assert.match((await cli(['notify', 'add', 'typo', '--type', 'slack', '--url-env', 'SLACK_URL', '--chanel', 'x'], 2)).stderr, /no setting --chanel/);

  const names = ['hook', 'slack', 'discord', 'teams', 'ntfy', 'mail'];
  await cli([
    'plan',
    'add',
    'shop-nightly',
    '--target',
    'shop',
    '--destination',
    'disk',
    ...names.flatMap((n) => ['--notify', n]),
    '--notify-on',
    'failure,success',
    '--ping-url-env',
    'PING_URL',
  ]);
  const b = (await cli(['backup', 'shop-nightly', '--json'])).json<{ id: string; status: string }>();
  assert.equal(b.status, 'success');

  // The CLI flushed its deliveries before exiting: everything is there already.
  const [hook] = rx.at(`/hook/${URL_TOKEN}`);
  const body = JSON.parse(hook.body) as Message & Record<string, unknown>;
  assert.equal(body.event, 'success');
  assert.equal(body.plan, 'shop-nightly');
  assert.equal(body.target, 'shop');
  assert.equal(body.status, 'success');
  assert.equal(body.journalId, b.id);
  assert.equal(body.version, 1);
  assert.equal(hook.headers['x-coffre-signature'], `sha256=${createHmac('sha256', HOOK_SECRET).update(hook.body).digest('hex')}`);
  assert.notEqual(hook.headers['x-coffre-signature'], `sha256=${createHmac('sha256', 'another-secret').update(hook.body).digest('hex')}`);
  assert.equal(hook.headers['x-coffre-event'], 'success');

  const slack = JSON.parse(rx.at(`/slack/T000/B000/${URL_TOKEN}`)[0].body) as { text: string; blocks: Array<{ type: string; fields?: Array<{ text: string }> }> };
  assert.match(slack.text, /backup of plan shop-nightly succeeded/);
  assert.ok(slack.blocks.some((bl) => bl.fields?.some((f) => f.text.includes(b.id))));

  const discord = JSON.parse(rx.at(`/discord/123/${URL_TOKEN}`)[0].body) as { embeds: Array<{ title: string; color: number; fields: Array<{ name: string; value: string }> }> };
  assert.match(discord.embeds[0].title, /shop-nightly/);
  assert.ok(discord.embeds[0].fields.some((f) => f.name === 'Journal id' && f.value === b.id));

  const teams = JSON.parse(rx.at(`/teams/${URL_TOKEN}`)[0].body) as {
    type: string;
    attachments: Array<{ contentType: string; content: { type: string; body: Array<{ type: string; facts?: Array<{ title: string; value: string }> }> } }>;
  };
  assert.equal(teams.type, 'message');
  assert.equal(teams.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
  assert.ok(teams.attachments[0].content.body.find((x) => x.type === 'FactSet')!.facts!.some((f) => f.title === 'Status' && f.value === 'success'));

  const ntfy = rx.at(`/ntfy-${URL_TOKEN}`)[0];
  assert.equal(ntfy.headers.authorization, `Bearer ${NTFY_TOKEN}`);
  assert.match(String(ntfy.headers.title), /shop-nightly succeeded/);
  assert.match(ntfy.body, new RegExp(`Journal id: ${b.id}`));

  const [mail] = await smtp.waitFor(1);
  assert.equal(smtp.secured[0], true, 'the session was upgraded with STARTTLS');
  assert.deepEqual(smtp.logins, ['alerts']);
  assert.match(mail.subject ?? '', /backup of plan shop-nightly succeeded/);
  assert.match(mail.text ?? '', /Plan: shop-nightly/);
  assert.match(mail.text ?? '', /Status: success/);
  assert.match(mail.text ?? '', new RegExp(`Journal id: ${b.id}`));
  assert.match(String(mail.html), new RegExp(b.id));
  assert.equal(mail.headers.get('x-coffre-journal-id'), b.id);

  // The dead man's switch: /start when the run started, then the success URL (no suffix).
  assert.match(rx.at(`/ping/${URL_TOKEN}/start`)[0]?.body ?? '', new RegExp(`backup ${b.id} started`));
  const pings = rx.at(`/ping/${URL_TOKEN}`);
  assert.equal(pings.length, 1);
  assert.match(pings[0].body, new RegExp(`backup ${b.id} success`));

  // `notify test` sends a real message and reports the far side's answer.
  const t = await cli(['notify', 'test', 'teams']);
  assert.match(t.stdout, /Test message sent through teams \(teams\) after 1 attempt\(s\): HTTP 200/);
  assert.equal(JSON.parse(rx.at(`/teams/${URL_TOKEN}`)[1].body).attachments[0].content.body[0].text, 'coffre: test message from notifier teams');

  // Secrets never printed: not in any output so far, nor in list --json.
  const list = await cli(['notify', 'list', '--json']);
  const listed = list.json<{ notifiers: Array<{ name: string; target: string }>; journal: Array<{ notifier: string; status: string }> }>();
  assert.equal(listed.notifiers.length, 6);
  assert.equal(listed.notifiers.find((n) => n.name === 'slack')!.target, `${rx.url}/***`);
  assert.ok(listed.journal.filter((j) => j.status === 'sent').length >= 7);
  for (const secret of [HOOK_SECRET, SMTP_PASSWORD, NTFY_TOKEN, URL_TOKEN]) assert.ok(!ws.transcript.join('\n').includes(secret), `secret ${secret} printed`);
});

test('a receiver failing twice then 200 gets the message once after retries; one answering 400 is not retried', async () => {
  rx.script('/flaky', [503, 503]);
  rx.script('/refuse', [400]);
  await cli(['notify', 'add', 'flaky', '--type', 'webhook', '--url-env', 'FLAKY_URL']);
  await cli(['notify', 'add', 'refuse', '--type', 'webhook', '--url-env', 'REFUSE_URL']);
  await cli(['plan', 'add', 'retried', '--target', 'shop', '--destination', 'disk', '--notify', 'flaky', '--notify', 'refuse', '--notify-on', 'success']);
  const b = (await cli(['backup', 'retried', '--json'])).json<{ id: string }>();
  const flaky = rx.at('/flaky');
  assert.deepEqual(
    flaky.map((r) => r.status),
    [503, 503, 200],
  );
  assert.equal(new Set(flaky.map((r) => r.headers['x-coffre-delivery'])).size, 1, 'one delivery, retried');
  assert.equal(bodies('/flaky').length, 1);
  assert.equal(bodies('/flaky')[0].journalId, b.id);
  assert.deepEqual(
    rx.at('/refuse').map((r) => r.status),
    [400],
  );
  const journal = (await cli(['notify', 'list', '--json'])).json<{
    journal: Array<{ notifier: string; status: string; attempts: number; lastError: string | null; journalId: string }>;
  }>().journal;
  const f = journal.find((j) => j.notifier === 'flaky')!;
  assert.deepEqual([f.status, f.attempts, f.lastError, f.journalId], ['sent', 3, null, b.id]);
  const r = journal.find((j) => j.notifier === 'refuse')!;
  assert.deepEqual([r.status, r.attempts], ['failed', 1]);
  assert.match(r.lastError!, /HTTP 400.*not retried/);
  const text = (await cli(['notify', 'list'])).stdout;
  assert.match(text, /refuse\s+webhook\s+success\s+retried\s+\S+\s+failed\s+1\s+The webhook notifier got HTTP 400/);
});

test('a plan failing five times is announced once; a good backup then says recovered', async () => {
  const db = path.join(ws.dir, 'broken.db');
  sqliteDb(db);
  await cli(['target', 'add', 'broken-db', '--url', `sqlite:${db}`]);
  await cli(['notify', 'add', 'oncall', '--type', 'webhook', '--url-env', 'BROKEN_URL']);
  await cli(['plan', 'add', 'broken', '--target', 'broken-db', '--destination', 'disk', '--notify', 'oncall']);
  await rm(db);
  await cli(['plan', 'edit', 'broken', '--ping-url-env', 'PING_URL']);
  const failed: string[] = [];
  for (let i = 0; i < 5; i++) failed.push((await cli(['backup', 'broken', '--json'], 1)).json<{ id: string }>().id);
  // Each failed run pinged /fail (the dead man's switch hears every run, not only state changes).
  assert.equal(rx.at(`/ping/${URL_TOKEN}/fail`).length, 5);
  const alerts = bodies('/broken');
  assert.equal(alerts.length, 1, 'one alert for five failures');
  assert.deepEqual([alerts[0].event, alerts[0].status, alerts[0].journalId], ['failure', 'failed', failed[0]]);
  const st = await cli(['status', '--json'], 1);
  const broken = st.json<{ ok: boolean; plans: Array<{ plan: string; health: string; lastFailureId: string }> }>().plans.find((p) => p.plan === 'broken')!;
  assert.deepEqual([broken.health, broken.lastFailureId], ['failing', failed[4]]);
  sqliteDb(db);
  const good = (await cli(['backup', 'broken', '--json'])).json<{ id: string }>();
  const after = bodies('/broken');
  assert.equal(after.length, 2);
  assert.deepEqual([after[1].event, after[1].journalId], ['recovered', good.id]);
});

test('RPO: a plan with a 2-second RPO and no backups gets one rpo alert, no repeat within the reminder interval, recovered after a backup', async () => {
  await cli(['notify', 'add', 'rpo-watch', '--type', 'webhook', '--url-env', 'RPO_URL']);
  await cli(['plan', 'add', 'stale', '--target', 'shop', '--destination', 'disk', '--notify', 'rpo-watch', '--rpo', '2s']);
  const worker = await serve(['--no-api'], /worker running without API/, { NOTIFY_CHECK_SECONDS: '0.3', NOTIFY_REMIND_HOURS: '1' });
  const [alert] = await rx.waitFor('/rpo', 1);
  const m = JSON.parse(alert.body) as Message & { rpoSeconds: number };
  assert.deepEqual([m.event, m.plan, m.status, m.rpoSeconds], ['rpo', 'stale', 'stale', 2]);
  // Ten more checks at 0.3 s: the breach goes on, and nothing is said again within NOTIFY_REMIND_HOURS. Kept as a
  // sleep: that nothing happens during the interval is what is tested.
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(
    rx.at('/rpo').length,
    1,
    rx
      .at('/rpo')
      .map((r) => r.body)
      .join('\n'),
  );
  const st = (await cli(['status', '--json'], 1)).json<{ plans: Array<{ plan: string; health: string }> }>();
  assert.equal(st.plans.find((p) => p.plan === 'stale')!.health, 'never');
  const b = (await cli(['backup', 'stale', '--json'])).json<{ id: string }>();
  const [, recovered] = await rx.waitFor('/rpo', 2);
  assert.deepEqual([JSON.parse(recovered.body).event, JSON.parse(recovered.body).journalId], ['recovered', b.id]);
  // The worker's checks see the fresh backup too: still said once. Kept as a sleep (about three checks at 0.3 s):
  // that no third message comes during the interval is what is tested.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(rx.at('/rpo').length, 2);
  await stop(worker.child);
});

test('/metrics in the Prometheus text format, values checked against the journal; /api/status', async () => {
  const srv = await serve(['--port', '0'], /listening on (http:\/\/\S+) /, { METRICS_TOKEN, API_TOKEN: 'api-token-0123456789abcdef' });
  const base = srv.match[1];
  assert.equal((await fetch(`${base}/metrics`)).status, 401);
  assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const families = parsePrometheusTextFormat(await res.text()) as Array<{ name: string; type: string; metrics: Array<{ value: string; labels?: Record<string, string> }> }>;
  const family = (name: string) => families.find((f) => f.name === name) ?? assert.fail(`no metric ${name}`);
  const value = (name: string, labels: Record<string, string>) => {
    const m = family(name).metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
    return m ? Number(m.value) : undefined;
  };
  const journal = (await cli(['journal', '--limit', '1000', '--json'])).json<
    Array<{ id: string; plan: string; kind: string; status: string; finishedAt: string; sizeBytes: number; rawSizeBytes: number; durationMs: number }>
  >();
  assert.equal(value('coffre_backup_runs_total', { plan: 'broken', kind: 'full', status: 'failed' }), journal.filter((j) => j.plan === 'broken' && j.status === 'failed').length);
  assert.equal(value('coffre_backup_runs_total', { plan: 'broken', kind: 'full', status: 'failed' }), 5);
  const lastGood = journal.find((j) => j.plan === 'broken' && j.status === 'success')!;
  assert.equal(value('coffre_backup_last_success_timestamp_seconds', { plan: 'broken' }), Date.parse(lastGood.finishedAt) / 1000);
  assert.equal(value('coffre_backup_last_status', { plan: 'broken', status: 'success' }), 1);
  assert.equal(value('coffre_backup_last_status', { plan: 'broken', status: 'failed' }), 0);
  assert.equal(value('coffre_backup_size_bytes', { plan: 'broken', kind: 'full' }), lastGood.sizeBytes);
  assert.equal(value('coffre_backup_raw_size_bytes', { plan: 'broken', kind: 'full' }), lastGood.rawSizeBytes);
  assert.equal(value('coffre_backup_duration_seconds', { plan: 'broken', kind: 'full' }), lastGood.durationMs / 1000);
  assert.equal(value('coffre_plan_rpo_seconds', { plan: 'stale' }), 2);
  assert.equal(family('coffre_plan_rpo_breached').type, 'GAUGE');
  assert.equal(family('coffre_backup_runs_total').type, 'COUNTER');
  assert.equal(value('coffre_notifications_total', { notifier: 'flaky', status: 'sent' }), 1);
  assert.equal(value('coffre_notifications_total', { notifier: 'refuse', status: 'failed' }), 1);
  assert.ok(family('process_resident_memory_bytes').metrics.length > 0, 'process defaults');
  family('coffre_restore_runs_total');
  // An API token opens /metrics too; METRICS_TOKEN opens nothing else.
  assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer api-token-0123456789abcdef' } })).status, 200);
  assert.equal((await fetch(`${base}/api/status`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status, 401);
  // Plan "stale" (RPO 2 s) had its backup at the end of the RPO test: once 2 s have passed it is stale, and
  // the report is not ok. Wait for that condition rather than for however long the server took to start.
  const status = await until(
    async () => {
      const r = (await (await fetch(`${base}/api/status`, { headers: { authorization: 'Bearer api-token-0123456789abcdef' } })).json()) as {
        ok: boolean;
        plans: Array<{ plan: string; health: string }>;
      };
      return r.plans.find((p) => p.plan === 'stale')?.health === 'stale' && r;
    },
    'plan "stale" past its 2 s RPO in /api/status',
    { limitMs: 10000, everyMs: 100 },
  );
  assert.equal(status.ok, false);
  assert.equal(status.plans.find((p) => p.plan === 'broken')!.health, 'ok');
  const notifiers = (await (await fetch(`${base}/api/notifiers`, { headers: { authorization: 'Bearer api-token-0123456789abcdef' } })).json()) as Array<{ name: string }>;
  assert.ok(notifiers.some((n) => n.name === 'hook'));
  await stop(srv.child);
});
