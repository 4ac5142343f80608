// Issue 9, finding 5: `coffre reindex` must not let a manifest found in a destination take over a live plan.
// The review's scenario, with the real CLI and a real `coffre serve`: plan p1 with nine real SQLite backups,
// then a destination holding a forged manifest that names p1 (by name only, or by an id of no plan here)
// and a date in 2099. Imported rows attach to a plan only by its id, and until a person adopts them
// (`coffre journal adopt`, POST /api/journals/:id/adopt, admin only) they count for no plan: not for
// retention (a prune neither keeps them in place of a real backup nor removes them), not as a delta parent,
// not as the plan's latest backup; and a restore of one needs an explicit target (--to / targetId).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { serve, client } from './support/api.ts';

let ws: Workspace;
let planId = '';
/** The nine real backups of p1, oldest first. */
const real: string[] = [];
const shared = () => path.join(ws.dir, 'shared');
const shop = () => path.join(ws.dir, 'shop.db');
/** Imported ids: by name only, by an id of no plan, by p1's own id (dated in the past). */
const forged = { byName: '', byOtherId: '', byPlanId: '' };

async function sha(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

interface Row {
  id: string;
  plan: string;
  startedAt: string;
  parentId: string | null;
  adoption: 'pending' | 'adopted' | null;
  adoptedAt: string | null;
  adoptedBy: string | null;
  artifact: string;
}

async function journal(...args: string[]): Promise<Row[]> {
  const r = await ws.run(['journal', '--json', '--limit', '100', ...args]);
  expectCode(r, 0, 'journal');
  return r.json<Row[]>();
}

async function dryRun(): Promise<{ kept: string[]; removed: string[]; held: string[] }> {
  const r = await ws.run(['prune', 'p1', '--dry-run', '--json']);
  expectCode(r, 0, 'prune --dry-run');
  const rep = r.json<{ kept: Array<{ id: string }>; removed: Array<{ id: string }>; held?: Array<{ id: string }> }>();
  return { kept: rep.kept.map((k) => k.id).sort(), removed: rep.removed.map((k) => k.id).sort(), held: (rep.held ?? []).map((k) => k.id).sort() };
}

/** Copies a real artifact into the shared destination under a new key, with a manifest edited by `change`. */
async function forge(name: string, change: (m: Record<string, unknown>) => void): Promise<string> {
  const disk = path.join(ws.dataDir, 'backups');
  const view = (await journal()).find((r) => r.id === real[0])!;
  const manifest = JSON.parse(await readFile(path.join(disk, `${view.artifact}.manifest.json`), 'utf8')) as Record<string, unknown>;
  const key = `incoming/${name}${path.extname(view.artifact)}`;
  await mkdir(path.join(shared(), 'incoming'), { recursive: true });
  await copyFile(path.join(disk, view.artifact), path.join(shared(), key));
  const id = randomUUID();
  Object.assign(manifest, { id, artifact: key });
  delete manifest.planId;
  delete manifest.targetId;
  change(manifest);
  await writeFile(path.join(shared(), `${key}.manifest.json`), JSON.stringify(manifest, null, 2));
  return id;
}

before(async () => {
  ws = await workspace('coffre-sec-reindex-');
  const db = new DatabaseSync(shop());
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('real')");
  db.close();
  expectCode(await ws.run(['target', 'add', 'shop', '--url', `sqlite:${shop()}`]), 0, 'target add');
  expectCode(await ws.run(['target', 'add', 'spare', '--url', `sqlite:${path.join(ws.dir, 'spare.db')}`]), 0, 'target add spare');
  expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local']), 0, 'destination add');
  await mkdir(shared(), { recursive: true });
  expectCode(await ws.run(['destination', 'add', 'shared', '--type', 'local', '--path', shared()]), 0, 'destination add shared');
  const plan = await ws.run(['plan', 'add', 'p1', '--target', 'shop', '--destination', 'disk', '--json']);
  expectCode(plan, 0, 'plan add');
  planId = plan.json<{ id: string }>().id;
  for (let i = 0; i < 9; i++) {
    const b = await ws.run(['backup', 'p1', '--json']);
    expectCode(b, 0, `backup ${i + 1}`);
    real.push(b.json<{ id: string }>().id);
  }
  // The retention the review used, set once the nine backups exist (each backup prunes after itself).
  expectCode(await ws.run(['plan', 'edit', 'p1', '--keep-last', '1']), 0, 'plan edit --keep-last 1');
});
after(async () => {
  await ws?.cleanup();
});

test('finding 5: a forged manifest naming p1 with a date in 2099 changes neither its retention nor its latest backup', async () => {
  const before = await dryRun();
  assert.deepEqual(before.kept, [real[8]], 'keep-last 1 keeps the newest real backup');
  assert.deepEqual(before.removed, real.slice(0, 8).sort());

  forged.byName = await forge('p1-2099', (m) => Object.assign(m, { plan: 'p1', startedAt: '2099-01-01T00:00:00.000Z', finishedAt: '2099-01-01T00:01:00.000Z' }));
  forged.byOtherId = await forge('p1-2099-other-id', (m) =>
    Object.assign(m, { plan: 'p1', planId: randomUUID(), startedAt: '2099-02-01T00:00:00.000Z', finishedAt: '2099-02-01T00:01:00.000Z' }),
  );
  const r = await ws.run(['reindex', 'shared', '--json']);
  expectCode(r, 0, 'reindex');
  assert.deepEqual(
    r
      .json<{ imported: Array<{ id: string }> }>()
      .imported.map((x) => x.id)
      .sort(),
    [forged.byName, forged.byOtherId].sort(),
  );

  const rows = await journal();
  for (const id of [forged.byName, forged.byOtherId]) {
    const row = rows.find((x) => x.id === id)!;
    assert.equal(row.adoption, 'pending', 'an imported row is marked not adopted');
    assert.equal(row.adoptedAt, null);
  }
  for (const id of real) assert.equal(rows.find((x) => x.id === id)!.adoption, null, "coffre's own runs carry no adoption mark");
  const listed = await ws.run(['journal']);
  expectCode(listed, 0, 'journal (table)');
  assert.match(listed.stdout.split('\n').find((l) => l.startsWith(forged.byName))!, /not adopted/, 'the table shows the mark');
  assert.ok(!(await journal('--plan', 'p1')).some((x) => x.id === forged.byName || x.id === forged.byOtherId), 'attached by name only: not a row of p1');

  const after = await dryRun();
  assert.deepEqual(after.kept, before.kept, 'the newest real backup is still the one kept');
  assert.deepEqual(after.removed, before.removed, 'the forged rows are neither kept nor removed');
  // With room for nine, the nine real backups all stay (the forged row would have pushed the oldest out).
  expectCode(await ws.run(['plan', 'edit', 'p1', '--keep-last', '9']), 0, 'plan edit --keep-last 9');
  const nine = await dryRun();
  assert.deepEqual(nine.kept, [...real].sort());
  assert.deepEqual(nine.removed, []);

  const status = await ws.run(['status', '--json']);
  const p1 = status.json<{ plans: Array<{ plan: string; lastSuccessId: string | null }> }>().plans.find((p) => p.plan === 'p1')!;
  assert.equal(p1.lastSuccessId, real[8], "p1's latest backup (RPO, status) is its newest real one");
});

test('finding 5: a restore of an imported, not adopted row without --to is refused (exit 2), the target untouched; with --to it runs', async () => {
  const beforeHash = await sha(shop());
  const refused = await ws.run(['restore', forged.byName, '--replace']);
  expectCode(refused, 2, 'restore without --to');
  const coded = await ws.run(['restore', forged.byName, '--replace', '--json']);
  expectCode(coded, 2, 'restore without --to (--json)');
  assert.equal(JSON.parse(coded.stderr).error.code, 'COFFRE_E_IMPORTED_NEEDS_TARGET');
  assert.match(refused.stderr, /--to TARGET/);
  assert.match(refused.stderr, /coffre journal adopt/);
  assert.equal(await sha(shop()), beforeHash, 'the target the manifest names was not touched');
  const restores = await ws.run(['journal', '--restores', '--json']);
  assert.deepEqual(restores.json(), [], 'nothing was journaled');
  const ok = await ws.run(['restore', forged.byName, '--to', 'spare', '--json']);
  expectCode(ok, 0, 'restore --to spare');
  assert.equal(ok.json<{ target: string }>().target, 'spare');
});

test('finding 5: coffre journal adopt: a plan is needed when the manifest names none by id, a future date is refused, an id-attached row adopts into its plan', async () => {
  const code = (r: { stderr: string }) => JSON.parse(r.stderr).error.code as string;
  const noPlan = await ws.run(['journal', 'adopt', forged.byName, '--json']);
  expectCode(noPlan, 2, 'adopt without --plan');
  assert.equal(code(noPlan), 'COFFRE_E_ADOPT_NEEDS_PLAN');
  const future = await ws.run(['journal', 'adopt', forged.byName, '--plan', 'p1', '--json']);
  expectCode(future, 2, 'adopt a 2099 backup');
  assert.equal(code(future), 'COFFRE_E_ADOPT_FUTURE_BACKUP');
  assert.equal((await journal()).find((x) => x.id === forged.byName)!.adoption, 'pending', 'a refused adoption changes nothing');
  const own = await ws.run(['journal', 'adopt', real[0], '--plan', 'p1', '--json']);
  expectCode(own, 2, "adopt one of coffre's own runs");
  assert.equal(code(own), 'COFFRE_E_NOT_IMPORTED');

  // A manifest naming p1 by its id (a catalog restored from an older copy, say), dated before the real ones.
  forged.byPlanId = await forge('p1-by-id', (m) => Object.assign(m, { plan: 'old-name', planId, startedAt: '2020-01-01T00:00:00.000Z', finishedAt: '2020-01-01T00:01:00.000Z' }));
  expectCode(await ws.run(['reindex', 'shared']), 0, 'reindex');
  const attached = (await journal('--plan', 'p1')).find((x) => x.id === forged.byPlanId)!;
  assert.ok(attached, 'attached by id: listed with p1');
  assert.equal(attached.plan, 'p1', 'shown under the plan its id names, not the name in the manifest');
  assert.equal(attached.adoption, 'pending');
  const held = await dryRun();
  assert.deepEqual(held.held, [forged.byPlanId], 'the prune report names the attached row it holds aside');
  assert.ok(!held.kept.includes(forged.byPlanId) && !held.removed.includes(forged.byPlanId));

  const adopted = await ws.run(['journal', 'adopt', forged.byPlanId, '--json']);
  expectCode(adopted, 0, 'adopt');
  const row = adopted.json<Row[]>()[0];
  assert.equal(row.adoption, 'adopted');
  assert.ok(row.adoptedAt);
  assert.match(row.adoptedBy ?? '', /^cli/);
  const counted = await dryRun();
  assert.deepEqual(counted.held, []);
  assert.deepEqual(counted.removed, [forged.byPlanId], 'once adopted it counts: keep-last 9 of ten removes the oldest, this one');
  assert.deepEqual(counted.kept, [...real].sort());
});

test('finding 5: the API refuses a restore without targetId (400) and lets only an admin adopt (403 for an operator)', async () => {
  const ADMIN = 'sec-reindex-admin-token-0123456789';
  const made = await ws.run(['token', 'create', 'oncall', '--role', 'operator', '--json']);
  expectCode(made, 0, 'token create');
  const operatorToken = made.json<{ token: string }>().token;
  const server = await serve(ws, { API_TOKEN: ADMIN });
  try {
    const admin = client(server.url, ADMIN);
    const operator = client(server.url, operatorToken);
    const refused = await operator('POST', '/api/restores', { journalId: forged.byOtherId });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json().error.code, 'COFFRE_E_IMPORTED_NEEDS_TARGET');
    assert.match(refused.json().error.message, /targetId/);
    const alias = await operator('POST', `/api/restore/${forged.byOtherId}`, {});
    assert.equal(alias.status, 400, alias.text);
    const preflight = await operator('POST', '/api/restores/preflight', { journalId: forged.byOtherId });
    assert.equal(preflight.status, 400, preflight.text);
    assert.equal(preflight.json().error.code, 'COFFRE_E_IMPORTED_NEEDS_TARGET');
    const shown = (await admin('GET', `/api/journals/${forged.byOtherId}`)).json();
    assert.equal(shown.adoption, 'pending');

    const denied = await operator('POST', `/api/journals/${forged.byOtherId}/adopt`, { planId: 'p1' });
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.json().error.code, 'COFFRE_E_ROLE_REQUIRED');
    const future = await admin('POST', `/api/journals/${forged.byOtherId}/adopt`, { planId: 'p1' });
    assert.equal(future.status, 400, future.text);
    assert.equal(future.json().error.code, 'COFFRE_E_ADOPT_FUTURE_BACKUP');
    const unknown = await admin('POST', `/api/journals/${forged.byOtherId}/adopt`, { planId: 'no-such-plan' });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal((await admin('GET', `/api/journals/${forged.byOtherId}`)).json().adoption, 'pending');
  } finally {
    await server.stop();
  }
});

test('finding 5: an imported row is never a delta parent, however new it claims to be', async () => {
  // A full backup naming p1 by its very id and dated 2099: attached, still not adopted.
  const full = await forge('p1-full-2099', (m) =>
    Object.assign(m, { plan: 'p1', planId, kind: 'full', startedAt: '2099-03-01T00:00:00.000Z', finishedAt: '2099-03-01T00:01:00.000Z' }),
  );
  expectCode(await ws.run(['reindex', 'shared']), 0, 'reindex');
  assert.equal((await journal()).find((x) => x.id === full)!.adoption, 'pending');
  const inc = await ws.run(['backup', 'p1', '--kind', 'incremental', '--json']);
  expectCode(inc, 0, 'incremental backup');
  const b = inc.json<{ kind: string; parentId: string | null }>();
  assert.equal(b.kind, 'incremental');
  assert.equal(b.parentId, real[8], 'the parent is the newest real backup');
});
