// The dashboard's Drills tab in a real browser (Debian's Chromium, playwright-core) against a real `coffre
// serve`: a passing and a failing drill made by the CLI show up with their status, each check marked, the
// RTO against the plan's objective and the scratch database dropped; the status filter narrows the list.
// Screenshots go to .data/screenshots (drills-1280.png, drills-390.png).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { serve, type Served } from './support/api.ts';
import { dashboardBrowsers, login, screenshots } from './support/browser.ts';
import { ordersDatabase } from './support/sqlite.ts';

const TOKEN = 'web-drills-token-0123456789abcdef';
const launch = dashboardBrowsers('coffre-chromium-drills-');

test('dashboard Drills tab: checks, RTO against the objective, scratch dropped, status filter', async () => {
  const ws: Workspace = await workspace('coffre-web-drills-');
  let server: Served | undefined;
  let context: BrowserContext | undefined;
  try {
    const src = path.join(ws.dir, 'shop.db');
    ordersDatabase(src, 50);
    expectCode(await ws.run(['target', 'add', 'shop', '--url', `sqlite:${src}`]), 0, 'target add');
    expectCode(await ws.run(['destination', 'add', 'disk', '--type', 'local']), 0, 'destination add');
    expectCode(
      await ws.run(['plan', 'add', 'nightly', '--target', 'shop', '--destination', 'disk', '--drill-assert', 'SELECT count(*) = 50 FROM orders', '--rto', '10m']),
      0,
      'plan add',
    );
    expectCode(await ws.run(['backup', 'nightly']), 0, 'backup');
    const passed = await ws.run(['drill', 'nightly', '--json']);
    expectCode(passed, 0, 'passing drill');
    const good = passed.json<{ id: string; backupId: string }>();
    expectCode(await ws.run(['plan', 'edit', 'nightly', '--drill-assert', 'SELECT count(*) = 51 FROM orders']), 0, 'plan edit');
    const failed = await ws.run(['drill', 'nightly', '--json']);
    expectCode(failed, 1, 'failing drill');
    const bad = failed.json<{ id: string }>();

    server = await serve(ws, { API_TOKEN: TOKEN, SCHEDULER_ENABLED: 'false' });
    context = await launch('drills');
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await login(page, server.url, TOKEN);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Journal', exact: true }).click();
    await page.getByRole('tab', { name: 'Drills' }).click();

    const goodRow = page.locator(`tr[data-id="${good.id}"]`);
    const badRow = page.locator(`tr[data-id="${bad.id}"]`);
    await goodRow.waitFor();
    await badRow.waitFor();
    const goodText = await goodRow.innerText();
    assert.match(goodText, /success/);
    assert.match(goodText, /nightly/);
    assert.match(goodText, /✓ restore/);
    assert.match(goodText, /✓ assertion/);
    assert.match(goodText, /\d+(\.\d)? (ms|s) of 10 min/, 'RTO against the plan objective');
    assert.match(goodText, /dropped/);
    assert.doesNotMatch(goodText, /NOT dropped/);
    assert.equal(await goodRow.getByRole('link').getAttribute('href'), `#/runs/${good.backupId}`);
    const badText = await badRow.innerText();
    assert.match(badText, /failed/);
    assert.match(badText, /✗ assertion/);
    assert.equal(
      await badRow
        .locator('li.check-failed')
        .getAttribute('title')
        .then((t) => /51|false|0/.test(t ?? '')),
      true,
      'the failed check says why',
    );

    await page.screenshot({ path: path.join(screenshots, 'drills-1280.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(screenshots, 'drills-390.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    await Promise.all([page.waitForResponse((r) => r.url().includes('/api/drills?') && r.url().includes('status=failed')), page.getByLabel('Status').selectOption('failed')]);
    await badRow.waitFor();
    assert.equal(await goodRow.count(), 0, 'the passing drill is filtered out');
    assert.deepEqual(problems, []);
  } finally {
    await context?.close();
    await server?.stop();
    await ws.cleanup();
  }
});
