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
