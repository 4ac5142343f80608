// The backup journal is paged as entries (services/backups.ts listJournal, catalog/journal.ts
// listJournalEntries): a row of its own is one entry, a server run is one whatever its number of databases,
// with its rows beneath it, and a run that backed nothing up (its server could not be listed) is one too.
// Before, pages were cut in rows: a run of many databases shrank its page, which then looked like the last
// one, and a run without rows never showed. Rows are written into a real catalog with chosen start times.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { listJournal, runBackup } from '../src/services/backups.ts';
import type { BackupsTable } from '../src/catalog/schema.ts';
import { appContext, type AppContext } from './support/context.ts';

let app: AppContext;

before(async () => {
  app = await appContext('coffre-journal-entries-');
});

after(() => app?.close());

test('the journal pages entries: a server run is one entry with its rows beneath, one without rows too, in start order', async () => {
  const { ctx } = app;
  const { view } = await runBackup(ctx, { plan: 'p' });
  const db = ctx.catalog.db;
  const template = (await db.selectFrom('backups').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow()) as BackupsTable;
  const at = (minute: number) => `2026-11-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
  const id = (n: number) => `01890000-0000-7000-8000-0000000000${String(n).padStart(2, '0')}`;
  const group = async (n: number, minute: number, status: string) =>
    db
      .insertInto('server_runs')
      .values({
        id: id(n),
        plan_id: template.plan_id,
        plan_name: 'p',
        target_id: template.target_id,
        target_name: 'app',
        engine: 'sqlite',
        status,
        trigger: 'cli',
        requested_kind: 'full',
        databases: '[]',
        new_databases: '[]',
        vanished: '[]',
        failed: '[]',
        message: null,
        started_at: at(minute),
        finished_at: at(minute + 1),
        duration_ms: 60000,
        pid: null,
        host: null,
      })
      .execute();
  const row = (n: number, minute: number, runId: string | null = null) => ({
    ...template,
    id: id(n),
    started_at: at(minute),
    finished_at: at(minute),
    run_id: runId,
    run_part: runId ? 'database' : null,
  });
  // Newest first: own row 10:50, server run 10:40 (four databases), own row 10:30, a run of no rows 10:20, own row 10:10.
  await group(1, 40, 'success');
  await group(2, 20, 'failed');
  await db
    .insertInto('backups')
    .values([row(11, 50), row(12, 40, id(1)), row(13, 41, id(1)), row(14, 42, id(1)), row(15, 43, id(1)), row(16, 30), row(17, 10)])
    .execute();
  await db.deleteFrom('backup_copies').where('backup_id', '=', view.id).execute();
  await db.deleteFrom('backups').where('id', '=', view.id).execute();

  const pages: string[][] = [];
  for (let offset = 0; offset < 10; offset += 2) pages.push((await listJournal(ctx, { plan: 'p', limit: 2, offset })).map((e) => e.id));
  assert.deepEqual(pages, [[id(11), id(1)], [id(16), id(2)], [id(17)], [], []]);
  const all = await listJournal(ctx, { plan: 'p' });
  const run = all.find((e) => e.id === id(1))!;
  assert.equal(run.runPart, 'run');
  assert.deepEqual(run.databases!.map((d) => d.id).sort(), [id(12), id(13), id(14), id(15)]);
  assert.deepEqual(all.find((e) => e.id === id(2))!.databases, [], 'the run without rows, as an entry of its own');
  // Filters apply to what the entry shows: the failed run only.
  assert.deepEqual(
    (await listJournal(ctx, { plan: 'p', status: 'failed' })).map((e) => e.id),
    [id(2)],
  );
});
