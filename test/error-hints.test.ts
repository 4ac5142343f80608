// Errors carry what to change as data (a hint); the CLI words it as a flag (the message itself), the API as
// the JSON field to set. The code never changes with the wording.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Readable } from 'node:stream';
import { parseConnectionUrl } from '../src/core/connection.ts';
import { sqlite } from '../src/engines/sqlite.ts';
import { CoffreError, isCoffreError } from '../src/core/errors.ts';
import { errorBody } from '../src/api/errors.ts';
import { inProcess } from './support/api.ts';
import { workspace } from './support/cli.ts';

test('a refused restore into a target that holds data hints the replace option: --replace on the CLI, "replace": true in the API', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coffre-hints-'));
  try {
    const file = path.join(dir, 'full.db');
    const db = new DatabaseSync(file);
    db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
    db.close();
    const refused = await sqlite.restore(parseConnectionUrl(`sqlite:${file}`), Readable.from([Buffer.from('CREATE TABLE u (y INTEGER);\n')]), 'sql', { replace: false }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isCoffreError(refused), String(refused));
    assert.equal(refused.code, 'COFFRE_E_TARGET_NOT_EMPTY');
    assert.deepEqual(refused.hint, { flag: 'replace' });
    assert.match(refused.message, /pass --replace to overwrite it/);
    const body = errorBody(refused);
    assert.equal(body.error.code, 'COFFRE_E_TARGET_NOT_EMPTY');
    assert.match(body.error.message, /pass "replace": true to overwrite it/);
    assert.doesNotMatch(body.error.message, /--replace/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('each hint has both wordings, and a message without a hint is the same at both edges', () => {
  const cases = [
    { hint: { kind: 'full' } as const, cli: '--kind full', api: '"kind": "full"' },
    { hint: { target: 'TARGET' } as const, cli: '--to TARGET', api: 'targetId' },
    { hint: { database: 'NAME' } as const, cli: '--database NAME', api: 'options.database' },
    { hint: { see: 'targets' } as const, cli: '`coffre target list`', api: 'GET /api/sgbd-targets' },
    { hint: { see: 'drills' } as const, cli: '`coffre journal --drills`', api: 'GET /api/drills' },
    { hint: { adopt: ['b1'], plan: 'PLAN' }, cli: '`coffre journal adopt b1 --plan PLAN`', api: 'POST /api/journals/b1/adopt with {"planId": "PLAN"}' },
    {
      hint: { adopt: ['b1', 'b2'], plan: 'nightly' },
      cli: '`coffre journal adopt b1 b2 --plan nightly`',
      api: 'POST /api/journals/b1/adopt with {"planId": "nightly"}, then POST /api/journals/b2/adopt with {"planId": "nightly"}',
    },
    { hint: { backup: 'my plan' }, cli: '`coffre backup my plan`', api: 'POST /api/plans/my%20plan/execute' },
    { hint: { drillTarget: 'TARGET' } as const, cli: '--drill-target TARGET', api: 'drillTargetId' },
    { hint: { option: 'url' }, cli: '--url', api: '"url"' },
    { hint: { option: 'target', value: 'NAME', field: 'targetId' }, cli: '--target NAME', api: '"targetId"' },
  ];
  for (const c of cases) {
    const err = new CoffreError('X', 'do this: {hint}.', { hint: c.hint, kind: 'usage' });
    assert.equal(err.message, `do this: ${c.cli}.`);
    assert.equal(errorBody(err).error.message, `do this: ${c.api}.`);
  }
  const identity = new CoffreError('X', 'open it: {hint}.', { hint: { identity: 'FILE' }, kind: 'usage' });
  assert.match(identity.message, /--identity FILE \(or --identity-env VAR\), or store one in the catalog with `coffre key import`/);
  assert.match(errorBody(identity).error.message, /an identity stored in the catalog/);
  assert.doesNotMatch(errorBody(identity).error.message, /--identity/);
  const plain = new CoffreError('X', 'nothing to change {here}.');
  assert.equal(errorBody(plain).error.message, plain.message);
});

test('a setting the API names is worded as its field there and as its flag on the CLI (notifier settings)', async () => {
  const s = await inProcess({}, { requireToken: false });
  const ws = await workspace('coffre-hints-cli-');
  try {
    const cases: Array<{ body: Record<string, unknown>; args: string[]; code: string; api: RegExp; cli: RegExp }> = [
      {
        body: { type: 'ntfy', url: 'https://ntfy.sh/' },
        args: ['--type', 'ntfy', '--url', 'https://ntfy.sh/'],
        code: 'BAD_URL',
        api: /The "url" of an ntfy notifier/,
        cli: /The --url of an ntfy notifier/,
      },
      {
        body: { type: 'ntfy', url: 'https://ntfy.sh/t', priority: 9 },
        args: ['--type', 'ntfy', '--url', 'https://ntfy.sh/t', '--priority', '9'],
        code: 'BAD_SETTING',
        api: /The "priority" of/,
        cli: /The --priority of/,
      },
      {
        body: { type: 'webhook', url: 'https://example.test/h', secret: 'short' },
        args: ['--type', 'webhook', '--url', 'https://example.test/h', '--secret', 'short'],
        code: 'BAD_SETTING',
        api: /The "secret" of a webhook/,
        cli: /The --secret of a webhook/,
      },
      {
        body: { type: 'email', from: 'a@example.test', to: 'b@example.test' },
        args: ['--type', 'email', '--from', 'a@example.test', '--to', 'b@example.test'],
        code: 'MISSING_SETTING',
        api: /needs "host"\./,
        cli: /needs --host SMTP_HOST\./,
      },
      {
        body: { type: 'email', host: 'smtp.example.test', from: 'a@example.test', to: 'b@example.test', security: 'maybe' },
        args: ['--type', 'email', '--host', 'smtp.example.test', '--from', 'a@example.test', '--to', 'b@example.test', '--security', 'maybe'],
        code: 'BAD_SETTING',
        api: /The "security" of an email notifier must be one of/,
        cli: /The --security of an email notifier must be one of/,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const r = await s.call('POST', '/api/notifiers', { body: { name: `n${i}`, ...c.body } });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json().error.code, `COFFRE_E_${c.code}`);
      assert.match(r.json().error.message, c.api);
      assert.doesNotMatch(r.json().error.message, /(^|\s)--[a-z]/, 'no CLI flag in the API answer');
      const cli = await ws.run(['notify', 'add', `n${i}`, ...c.args]);
      assert.equal(cli.code, 2, cli.all);
      assert.match(cli.all, c.cli);
    }
  } finally {
    await ws.cleanup();
    await s.close();
  }
});
