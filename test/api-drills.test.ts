// Restore drills started through the API: POST /api/plans/:id/drill answers 202 with a job whose journal id is
// the drill's, the job ends with the drill row (checks, RTO), GET /api/drills/:id shows the same; a failing
// assertion ends the job failed with the check named; bad input (a plan with no backup, a backup of another
// plan, an unknown field) is a coded 4xx before anything is journaled; a viewer may not start one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { inProcess, waitJob } from './support/api.ts';
import { createToken } from '../src/services/tokens.ts';
import { ordersDatabase } from './support/sqlite.ts';

const ADMIN = 'admin-token-drills-0123456789';

test('POST /api/plans/:id/drill: 202, the job ends with the drill row; failures and bad input are coded', async () => {
  const s = await inProcess({ API_TOKEN: ADMIN });
  try {
    const src = path.join(s.dir, 'shop.db');
    ordersDatabase(src, 20);
    const call = (method: string, url: string, body?: unknown, token = ADMIN) => s.call(method, url, { token, body });
    assert.equal((await call('POST', '/api/sgbd-targets', { name: 'shop', url: `sqlite:${src}` })).status, 201);
    assert.equal((await call('POST', '/api/destinations', { name: 'disk', type: 'local', path: path.join(s.dir, 'data', 'backups') })).status, 201);
    const plan = await call('POST', '/api/plans', {
      name: 'nightly',
      targetId: 'shop',
      destinationId: 'disk',
      drill: { rto: '10m', assertions: ['SELECT count(*) = 20 FROM orders'] },
    });
    assert.equal(plan.status, 201, plan.text);
    assert.equal((await call('POST', '/api/plans', { name: 'empty', targetId: 'shop', destinationId: 'disk' })).status, 201);

    // Nothing to drill yet: 400 before any row.
    const none = await call('POST', '/api/plans/nightly/drill', {});
    assert.equal(none.status, 400, none.text);
    assert.equal(none.json().error.code, 'COFFRE_E_DRILL_NO_BACKUP');
    assert.equal((await call('GET', '/api/drills')).json().items.length, 0);

    const backup = await waitJob(s, (await call('POST', '/api/plans/nightly/execute', {})).json().jobId, ADMIN);
    assert.equal(backup.status, 'success');

    const viewer = (await createToken(s.ctx, 'watcher', 'viewer')).token;
    assert.equal((await call('POST', '/api/plans/nightly/drill', {}, viewer)).status, 403);
    const unknown = await call('POST', '/api/plans/nightly/drill', { backup: 'x' });
    assert.equal(unknown.status, 400, 'an unknown field is refused');

    const started = await call('POST', '/api/plans/nightly/drill');
    assert.equal(started.status, 202, started.text);
    assert.equal(started.headers.location, `/api/jobs/${started.json().jobId}`);
    assert.equal(started.json().job.type, 'drill');
    const job = await waitJob(s, started.json().jobId, ADMIN);
    assert.equal(job.status, 'success', JSON.stringify(job.error));
    assert.equal(job.result.id, job.journalId);
    assert.equal(job.result.backupId, backup.journalId);
    assert.equal(job.result.trigger, 'api');
    assert.deepEqual(
      job.result.checks.map((c: any) => [c.name, c.status]),
      [
        ['restore', 'passed'],
        ['row-counts', 'passed'],
        ['assertion', 'passed'],
        ['rto', 'passed'],
      ],
    );
    assert.ok(job.result.rtoMs > 0);
    assert.equal(job.result.scratchDropped, true);
    const row = (await call('GET', `/api/drills/${job.journalId}`)).json();
    assert.equal(row.status, 'success');
    assert.equal(row.rtoMs, job.result.rtoMs);

    // The named backup of another plan is refused; a failing assertion fails the job and names the check.
    const other = await call('POST', '/api/plans/empty/drill', { backupId: backup.journalId });
    assert.equal(other.status, 400, other.text);
    assert.equal(other.json().error.code, 'COFFRE_E_DRILL_BACKUP_OTHER_PLAN');
    assert.equal((await call('PATCH', '/api/plans/nightly', { drill: { assertions: ['SELECT count(*) = 21 FROM orders'] } })).status, 200);
    const failing = await waitJob(s, (await call('POST', '/api/plans/nightly/drill', { backupId: backup.journalId })).json().jobId, ADMIN);
    assert.equal(failing.status, 'failed');
    assert.match(failing.error.message, /assertion/);
    assert.equal(failing.result.checks.find((c: any) => c.name === 'assertion').status, 'failed');
    assert.equal(failing.result.scratchDropped, true, 'a failed drill drops its scratch database too');
    assert.deepEqual(
      (await call('GET', '/api/drills?status=failed')).json().items.map((r: any) => r.id),
      [failing.journalId],
    );
  } finally {
    await s.close();
  }
});
