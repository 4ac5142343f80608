// Run events: every change of a run's status, made by catalog/runs.ts, is published once on ctx.events right
// after its guarded statement changed the row; a change whose guard fails (another process finished the
// row) publishes nothing. Real SQLite catalog, real SQLite backups and restores, a real dead process.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext, type ServiceContext } from '../src/services/context.ts';
import { addTarget } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan, updatePlan } from '../src/services/plans.ts';
import { runBackup } from '../src/services/backups.ts';
import { runRestore } from '../src/services/restores.ts';
import { prunePlan } from '../src/services/retention.ts';
import { recoverInterruptedRuns } from '../src/services/recovery.ts';
import { finishBackup } from '../src/catalog/runs.ts';
import { isoNow } from '../src/core/ids.ts';
import type { RunEvent } from '../src/core/run-events.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup(): Promise<{ ctx: ServiceContext; dir: string; events: RunEvent[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffre-run-events-'));
  dirs.push(dir);
  const db = new DatabaseSync(path.join(dir, 'app.db'));
  db.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a'), ('b')");
  db.close();
  const ctx = await openContext({ config: loadConfig({ DATA_DIR: path.join(dir, 'data') }), announce: () => {} });
  await addTarget(ctx, { name: 'app', url: `sqlite:${path.join(dir, 'app.db')}` }, { via: 'cli' });
  await addTarget(ctx, { name: 'copy', url: `sqlite:${path.join(dir, 'copy.db')}` }, { via: 'cli' });
  await addDestination(ctx, { name: 'disk', type: 'local', path: path.join(dir, 'backups') }, { via: 'cli' });
  await addDestination(ctx, { name: 'disk2', type: 'local', path: path.join(dir, 'backups2') }, { via: 'cli' });
  await addPlan(ctx, { name: 'p', target: 'app', destination: ['disk', 'disk2'], compression: 'zstd' });
  const events: RunEvent[] = [];
  ctx.events.subscribe((e) => events.push(e));
  return { ctx, dir, events };
}

test('a backup publishes started, one copy per destination, then finished with its status and sizes', async () => {
  const { ctx, events } = await setup();
  try {
    const { view } = await runBackup(ctx, { plan: 'p' });
    assert.equal(view.status, 'success');
    assert.deepEqual(
      events.map((e) => e.type),
      ['started', 'copy', 'copy', 'finished'],
    );
    assert.ok(events.every((e) => e.runType === 'backup' && e.runId === view.id && e.host === hostname() && e.pid === process.pid));
    const [started, , , finished] = events;
    assert.equal(started.type === 'started' && started.trigger, 'cli');
    assert.deepEqual(
      events.filter((e) => e.type === 'copy').map((e) => e.type === 'copy' && e.status),
      ['success', 'success'],
    );
    assert.equal(finished.type, 'finished');
    if (finished.type === 'finished') {
      assert.equal(finished.status, 'success');
      assert.equal(finished.sizeBytes, view.sizeBytes);
      assert.equal(finished.rawSizeBytes, view.rawSizeBytes);
      assert.equal(finished.kind, 'full');
    }
    // Finishing a row that is no longer running changes nothing and publishes nothing.
    events.length = 0;
    assert.equal(await finishBackup(ctx, view.id, { status: 'failed', finishedAt: isoNow(), message: 'late' }), false);
    assert.equal(events.length, 0);
    assert.equal((await ctx.catalog.db.selectFrom('backups').select('status').where('id', '=', view.id).executeTakeFirstOrThrow()).status, 'success');

    // A restore: started then finished, on the restore's own id, with the backup's plan.
    const restored = await runRestore(ctx, { backup: view.id, to: 'copy' });
    assert.equal(restored.view.status, 'success');
    assert.deepEqual(
      events.map((e) => `${e.runType}:${e.type}:${e.runId === restored.view.id}:${e.planId === started.planId}`),
      ['restore:started:true:true', 'restore:finished:true:true'],
    );
    // A refused restore (the target holds data now) still finishes its row, and says so.
    events.length = 0;
    const refused = await runRestore(ctx, { backup: view.id, to: 'copy' });
    assert.equal(refused.view.status, 'failed');
    assert.deepEqual(
      events.map((e) => (e.type === 'finished' ? `finished:${e.status}` : e.type)),
      ['started', 'finished:failed'],
    );

    // Pruning publishes a `pruned` copy event per copy that went.
    const second = await runBackup(ctx, { plan: 'p' });
    assert.equal(second.view.status, 'success');
    await updatePlan(ctx, 'p', { retention: { keepLast: 1 } });
    events.length = 0;
    const report = await prunePlan(ctx, 'p');
    assert.deepEqual(
      report.removed.map((r) => r.id),
      [view.id],
    );
    assert.deepEqual(
      events.map((e) => `${e.type}:${e.type === 'copy' ? e.status : ''}:${e.runId === view.id}`),
      ['copy:pruned:true', 'copy:pruned:true'],
    );
  } finally {
    await closeContext(ctx);
  }
});

test('a failed backup publishes finished failed, and its copies failed; a dead process’s run is finished interrupted once', async () => {
  const { ctx, dir, events } = await setup();
  try {
    // The target's file disappears: the dump fails after the row exists.
    await rm(path.join(dir, 'app.db'));
    const failed = await runBackup(ctx, { plan: 'p' });
    assert.equal(failed.view.status, 'failed');
    assert.deepEqual(
      events.map((e) => (e.type === 'finished' ? `finished:${e.status}` : e.type === 'copy' ? `copy:${e.status}` : e.type)),
      ['started', 'copy:failed', 'copy:failed', 'finished:failed'],
    );

    // A row left running by a process that is gone (a real pid that exited): recovery finishes it once.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    assert.ok(deadPid > 0);
    const row = await ctx.catalog.db.selectFrom('backups').selectAll().where('id', '=', failed.view.id).executeTakeFirstOrThrow();
    const id = `${row.id.slice(0, -4)}dead`;
    await ctx.catalog.db
      .insertInto('backups')
      .values({ ...row, id, status: 'running', finished_at: null, pid: deadPid, host: hostname(), artifact_key: null, message: null })
      .execute();
    events.length = 0;
    assert.equal(await recoverInterruptedRuns(ctx), 1);
    assert.deepEqual(
      events.map((e) => `${e.runId === id}:${e.type}:${e.type === 'finished' ? e.status : ''}`),
      ['true:finished:interrupted'],
    );
    events.length = 0;
    assert.equal(await recoverInterruptedRuns(ctx), 0);
    assert.equal(events.length, 0, 'a finished row is never finished twice');
  } finally {
    await closeContext(ctx);
  }
});
