// A server run (issue 15) in the dashboard, in a real browser (Debian's Chromium, playwright-core) against a
// real `coffre serve` and the real PostgreSQL server: the journal shows the run's own row with each of its
// databases beneath it; the run's page lists them, each linked to its own row; and the whole run restores into
// a server target from there: refused while its databases hold data (nothing touched), then, with the
// target's name typed again, replaced, every database back to what the run holds. The test's databases have a
// random prefix, which the server target's filter picks; they are dropped after. Screenshots go to
// .data/screenshots (server-run-journal.png, server-run.png, server-run-390.png).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { serve, type Served } from './support/api.ts';
import { dashboardBrowsers, login, screenshots } from './support/browser.ts';
import { adminUrl, connectionTo, execSql, withClient } from './support/postgres.ts';

const TOKEN = 'web-server-runs-token-0123456789abcdef';
const launch = dashboardBrowsers('coffre-chromium-server-runs-');
const prefix = `coffre_web_${randomBytes(3).toString('hex')}_`;
const names = [`${prefix}0`, `${prefix}1`];
const admin = connectionTo('postgres');

after(async () => {
  for (const n of names) await execSql(admin, `DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`).catch(() => {});
});

const count = (db: string) => withClient(connectionTo(db), async (c) => (await c.query('SELECT count(*)::int AS n FROM t')).rows[0].n as number);

test('dashboard: a server run in the journal with its databases beneath, its page, and the whole run restored into a server target (typed replace)', async () => {
  const ws: Workspace = await workspace('coffre-web-server-runs-');
  let server: Served | undefined;
  let context: BrowserContext | undefined;
  try {
    for (const [i, n] of names.entries()) {
      await execSql(admin, `CREATE DATABASE "${n}"`);
      await execSql(connectionTo(n), `CREATE TABLE t (id int primary key); INSERT INTO t SELECT generate_series(1, ${100 * (i + 1)});`);
    }
    const base = adminUrl.replace(/\/[^/]*$/, '/');
    expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local', '--path', path.join(ws.dir, 'backups')]), 0, 'destination add');
    expectCode(await ws.run(['target', 'add', 'srv', '--url', base, '--include', `${prefix}*`]), 0, 'target add');
    expectCode(await ws.run(['plan', 'add', 'all', '--target', 'srv', '--destination', 'disk', '--compression', 'zstd']), 0, 'plan add');
    const backedUp = await ws.run(['backup', 'all', '--json']);
    expectCode(backedUp, 0, 'server run');
    const run = backedUp.json<{ id: string; databases: Array<{ id: string; database: string; runPart: string }> }>();
    const rows = run.databases.filter((d) => d.runPart === 'database');
    assert.deepEqual(rows.map((d) => d.database).sort(), names, 'one row per database of the test');

    server = await serve(ws, { API_TOKEN: TOKEN, SCHEDULER_ENABLED: 'false' });
    context = await launch('server-runs');
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await login(page, server.url, TOKEN);

    // The journal: the run's row, then one row per database (and the globals) beneath it.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Journal', exact: true }).click();
    const runRow = page.locator(`tr.server-run[data-id="${run.id}"]`);
    await runRow.waitFor();
    assert.match(await runRow.innerText(), /all · \d+ databases[\s\S]*success/);
    const order = await page.locator('table.journal tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')));
    const at = order.indexOf(run.id);
    for (const r of rows) {
      const part = page.locator(`tr.run-part[data-id="${r.id}"]`);
      assert.match(await part.innerText(), new RegExp(`↳ ${r.database}[\\s\\S]*database[\\s\\S]*success[\\s\\S]*full`));
      assert.equal(await part.getByRole('link').getAttribute('href'), `#/runs/${r.id}`);
      assert.ok(order.indexOf(r.id) > at && order.indexOf(r.id) <= at + run.databases.length, `${r.database} right beneath its run`);
    }
    await page.screenshot({ path: path.join(screenshots, 'server-run-journal.png'), fullPage: true });

    // The run's page: what it covered and each database, linked to its own row.
    await runRow.getByRole('link').click();
    await page.getByRole('heading', { name: `Server run ${run.id.slice(0, 10)}` }).waitFor();
    const parts = page.locator('table.parts');
    for (const r of rows) assert.equal(await parts.getByRole('link', { name: r.database, exact: true }).getAttribute('href'), `#/runs/${r.id}`);
    assert.equal(await page.getByRole('button', { name: 'Restore this backup' }).count(), 0, 'no single-backup restore for the run itself');

    // The whole run back into the same server: its databases hold data (one of them changed since), so the
    // first try is refused and touches nothing; the target's name typed again replaces them.
    await execSql(connectionTo(names[0]), 'INSERT INTO t VALUES (9999)');
    await page.getByLabel('Into the server target').selectOption({ label: 'srv' });
    await page.getByRole('button', { name: 'Restore the run', exact: true }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'already holds data' });
    await refusal.waitFor();
    for (const n of names) assert.match(await refusal.innerText(), new RegExp(n));
    assert.equal(await count(names[0]), 101, 'refused: untouched');
    const replace = page.getByRole('button', { name: 'Replace and restore the run' });
    assert.equal(await replace.isDisabled(), true, 'disabled until the name is typed');
    await page.getByLabel("Type the target's name, srv, to replace what those databases hold").fill('sr');
    assert.equal(await replace.isDisabled(), true, 'a wrong name keeps it disabled');
    await page.getByLabel("Type the target's name, srv, to replace what those databases hold").fill('srv');
    await replace.click();
    await page.locator('.progress[data-status="success"]').waitFor({ timeout: 120_000 });
    const restored = page.locator('ul.restored li');
    await restored.first().waitFor();
    assert.equal(await restored.count(), rows.length);
    for (const n of names) assert.match(await restored.filter({ hasText: n }).innerText(), /success/);
    assert.equal(await count(names[0]), 100, 'replaced: the run holds 100 rows');
    assert.equal(await count(names[1]), 200);
    await page.screenshot({ path: path.join(screenshots, 'server-run.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(screenshots, 'server-run-390.png'), fullPage: true });
    // The restore wizard offers each database of the run as a backup of its own, not the run.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Restore', exact: true }).click();
    const choice = page.getByLabel('Backup to restore');
    for (const r of rows) await choice.locator(`option[value="${r.id}"]`).waitFor({ state: 'attached' });
    for (const r of rows) assert.match(await choice.locator(`option[value="${r.id}"]`).innerText(), new RegExp(`all · ${r.database} · `));
    assert.equal(await choice.locator(`option[value="${run.id}"]`).count(), 0, 'the run itself is no choice there');
    assert.deepEqual(problems, [], 'no error in the page');
  } finally {
    await context?.close();
    await server?.stop();
    await ws.cleanup();
  }
});
