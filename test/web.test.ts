// The dashboard in a real browser: Debian's Chromium driven by playwright-core against a real `coffre serve`
// child. Logs in with a token, builds a plan through the forms, backs it up watching the live progress,
// finds the run in the journal, restores it into a new target and then again with replace (refused until
// the target's name is typed), sees a plan with a broken target turn red, and checks that a viewer sees
// no "Back up now" and gets 403 from the API. Every page is screenshotted under .data/screenshots (1280 px
// and 390 px, light and dark) for a person to look at. A second test prints the time to a rendered
// overview with 50 plans and 10,000 journal rows (printed, not asserted).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { BrowserContext, Page } from 'playwright-core';
import { workspace, type Workspace } from './support/cli.ts';
import { serve, type Served } from './support/api.ts';
import { dashboardBrowsers, login, screenshots } from './support/browser.ts';
import { loadConfig } from '../src/config.ts';
import { openContext, closeContext } from '../src/services/context.ts';
import { addTarget } from '../src/services/targets.ts';
import { addDestination } from '../src/services/destinations.ts';
import { addPlan } from '../src/services/plans.ts';
import { newId } from '../src/core/ids.ts';
import { ordersDatabase } from './support/sqlite.ts';

const TOKEN = 'web-admin-token-0123456789abcdef';
const launch = dashboardBrowsers();

/** A fresh browser (its own --user-data-dir) that records console errors, page errors and any request leaving the server. */
async function browser(base: string, name: string) {
  const context = await launch(name);
  const problems: string[] = [];
  const foreign: string[] = [];
  const failures: string[] = [];
  const page = context.pages()[0] ?? (await context.newPage());
  const origin = new URL(base).origin;
  page.on('console', (m) => {
    // Answers >= 400 are checked one by one below, with their URLs.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400) failures.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:')) foreign.push(u);
  });
  return { context, page, problems, foreign, failures };
}

async function shoot(page: Page, name: string) {
  await page.screenshot({ path: path.join(screenshots, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))'); // charts resize on the next frame: wait until two are drawn
  await page.screenshot({ path: path.join(screenshots, `${name}-390.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: path.join(screenshots, `${name}-390-dark.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: path.join(screenshots, `${name}-1280-dark.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
}

async function nav(page: Page, name: string) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
}

async function api(base: string, method: string, url: string, body?: unknown, token = TOKEN): Promise<any> {
  const r = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}

function rows(file: string): number {
  const d = new DatabaseSync(file, { readOnly: true });
  try {
    return (d.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n;
  } finally {
    d.close();
  }
}

test('dashboard end to end: login, forms, live backup, journal, restore wizard with typed replace, red overview, viewer role', async () => {
  const ws: Workspace = await workspace('coffre-web-');
  let server: Served | undefined;
  const b = { context: undefined as BrowserContext | undefined };
  try {
    const src = path.join(ws.dir, 'shop.db');
    ordersDatabase(src, 2000);
    server = await serve(ws, { API_TOKEN: TOKEN, SCHEDULER_ENABLED: 'false' });
    const base = server.url;
    const { context, page, problems, foreign, failures } = await browser(base, 'admin');
    b.context = context;

    // Log in: a wrong token is refused with the API's message, the right one opens the overview.
    await page.goto(`${base}/`);
    await shoot(page, '01-login');
    await page.getByLabel('Token').fill('coffre_wrong');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await login(page, base, TOKEN);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'coffre_session');
    assert.ok(session?.httpOnly && session.sameSite === 'Strict', 'an HttpOnly SameSite=Strict session cookie');
    assert.equal(await page.evaluate(() => (globalThis as any).document.cookie), '', 'the page cannot read the session cookie');

    // A SQLite target through the form; a bad name first shows the API's message beside the field.
    await nav(page, 'Targets');
    await page.getByRole('button', { name: 'Add target' }).click();
    const targetForm = page.getByRole('form', { name: 'New target' });
    await targetForm.getByLabel('Name').fill('../shop');
    await targetForm.getByLabel('Connection URL').fill(`sqlite:${src}`);
    await targetForm.getByRole('button', { name: 'Create target' }).click();
    await targetForm.locator('.field.invalid .field-error').first().waitFor();
    await shoot(page, '02-target-form-error');
    await targetForm.getByLabel('Name').fill('shop');
    await targetForm.getByRole('button', { name: 'Create target' }).click();
    await page.locator('tr[data-name="shop"]').waitFor();
    assert.doesNotMatch(await page.locator('tr[data-name="shop"]').innerText(), /password/);

    // A local destination and a plan through the forms.
    await nav(page, 'Destinations');
    await page.getByRole('button', { name: 'Add destination' }).click();
    const destForm = page.getByRole('form', { name: 'New destination' });
    await destForm.getByLabel('Name').fill('disk');
    await destForm.getByLabel('Folder').fill(path.join(ws.dir, 'backups'));
    await destForm.getByRole('button', { name: 'Create destination' }).click();
    await page.locator('tr[data-name="disk"]').waitFor();
    await shoot(page, '03-destinations');
    await nav(page, 'Plans');
    await page.getByRole('button', { name: 'Add plan' }).click();
    const planForm = page.getByRole('form', { name: 'New plan' });
    await planForm.getByLabel('Name').fill('nightly');
    await planForm.getByLabel('Target').selectOption({ label: 'shop (sqlite)' });
    await planForm.getByLabel('Destinations').selectOption({ label: 'disk (local)' });
    await planForm.getByLabel('Compression').selectOption('zstd');
    await planForm.getByRole('button', { name: 'Create plan' }).click();
    await page.locator('tr[data-name="nightly"]').waitFor();
    await shoot(page, '04-plans');

    // Back up now from the plan page and watch the progress reach success.
    await nav(page, 'Overview');
    await page.locator('[data-plan="nightly"][data-health="never"]').waitFor();
    await page.locator('[data-plan="nightly"] a').click();
    await page.getByRole('heading', { name: 'Plan nightly', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Back up now' }).click();
    await page.locator('.progress[data-status="success"]').waitFor({ timeout: 60_000 });
    const journalLink = page.locator('.progress a[href^="#/runs/"]');
    const journalId = (await journalLink.getAttribute('href'))!.slice('#/runs/'.length);
    await page.locator('.chart').first().waitFor();
    await shoot(page, '05-plan');

    // The run in the journal, then its detail.
    await nav(page, 'Journal');
    await page.getByLabel('Plan').selectOption({ label: 'nightly' });
    await page.getByLabel('Status').selectOption('success');
    const row = page.locator(`tr[data-id="${journalId}"]`);
    await row.waitFor();
    await shoot(page, '06-journal');
    await row.getByRole('link').click();
    const run = (await api(base, 'GET', `/api/journals/${journalId}`)).body;
    await page.getByText(run.sha256, { exact: true }).waitFor();
    await page.getByText('disk', { exact: true }).first().waitFor();
    await shoot(page, '07-run');

    // Restore into a new target made in the wizard.
    await page.getByRole('link', { name: 'Restore this backup' }).click();
    await page.getByRole('heading', { name: 'Restore', exact: true }).waitFor();
    await page.locator('summary', { hasText: 'Or create a new target' }).click();
    const copy = path.join(ws.dir, 'copy.db');
    await page.getByLabel('New target name').fill('copy');
    await page.getByLabel('New target URL').fill(`sqlite:${copy}`);
    await page.getByRole('button', { name: 'Create target' }).click();
    await page.getByLabel('Restore into').locator('option', { hasText: 'copy (sqlite)' }).waitFor({ state: 'attached' });
    await page.getByLabel('Restore into').selectOption({ label: 'copy (sqlite)' });
    await page.getByRole('button', { name: 'Check' }).click();
    await page.locator('.preflight[data-ok="true"]').getByText('does not exist yet').waitFor();
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.locator('.progress[data-status="success"]').waitFor({ timeout: 60_000 });
    await page.getByText('Restored into copy.').waitFor();
    assert.equal(rows(copy), 2000);
    await shoot(page, '08-restore');

    // Again into the same target: it holds data now, so replacing needs its name typed.
    await page.goto(`${base}/#/restore?backup=${journalId}`);
    await page.getByLabel('Restore into').selectOption({ label: 'copy (sqlite)' });
    await page.getByRole('button', { name: 'Check' }).click();
    await page.getByText('holds data: it will be replaced').waitFor();
    const replace = page.getByRole('button', { name: 'Replace and restore' });
    assert.equal(await replace.isDisabled(), true, 'refused until the name is typed');
    const confirmBox = page.getByLabel(/Type the target's name/);
    await confirmBox.fill('cop');
    assert.equal(await replace.isDisabled(), true, 'a wrong name still refuses');
    await shoot(page, '09-restore-replace');
    const before = (await api(base, 'GET', '/api/restores')).body.items.length;
    assert.equal(before, 1, 'nothing was attempted while refused');
    await confirmBox.fill('copy');
    assert.equal(await replace.isDisabled(), false);
    await replace.click();
    await page.locator('.progress[data-status="success"]').waitFor({ timeout: 60_000 });
    const restores = (await api(base, 'GET', '/api/restores')).body.items;
    assert.equal(restores.length, 2);
    assert.equal(restores[0].replace, true);
    assert.equal(rows(copy), 2000);

    // A plan whose target is broken turns red, and comes first.
    assert.equal((await api(base, 'POST', '/api/sgbd-targets', { name: 'gone', url: `sqlite:${path.join(ws.dir, 'no-such-dir', 'x.db')}` })).status, 201);
    assert.equal((await api(base, 'POST', '/api/plans', { name: 'broken', targetId: 'gone', destinationId: 'disk' })).status, 201);
    await nav(page, 'Overview');
    await page.locator('[data-plan="broken"][data-health="never"]').waitFor();
    const job = (await api(base, 'POST', '/api/plans/broken/execute', {})).body;
    // The overview refreshes by itself from /api/events when the run finishes.
    await page.locator('[data-plan="broken"][data-health="failing"]').waitFor({ timeout: 60_000 });
    assert.equal((await api(base, 'GET', `/api/jobs/${job.jobId}`)).body.status, 'failed');
    assert.equal(await page.locator('.tile').first().getAttribute('data-plan'), 'broken', 'red first');
    await page.locator('[data-plan="nightly"][data-health="ok"]').waitFor();
    await shoot(page, '10-overview');

    // Tokens page, and /api/docs (Swagger UI) with "try it out" under the session.
    await nav(page, 'Tokens');
    await page.getByLabel('Name').fill('watcher');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create token' }).click();
    const viewerToken = (await page.locator('.secret-once').innerText()).trim();
    assert.match(viewerToken, /^coffre_/);
    await shoot(page, '11-tokens');
    await page.goto(`${base}/api/docs`);
    await page.locator('.swagger-ui .opblock').first().waitFor({ timeout: 30_000 });
    const op = page.locator('#operations-plans-getApiPlans');
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    await op.getByRole('button', { name: 'Execute' }).click();
    await op.locator('.live-responses-table .response-col_status').filter({ hasText: '200' }).first().waitFor({ timeout: 30_000 });
    await shoot(page, '12-api-docs');

    // Log out: the session is revoked on the server, not only forgotten.
    await page.goto(`${base}/`);
    const cookie = `coffre_session=${(await context.cookies()).find((c) => c.name === 'coffre_session')!.value}`;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Token').waitFor();
    assert.equal((await fetch(`${base}/api/plans`, { headers: { cookie } })).status, 401);

    // A viewer: no "Back up now", and 403 naming the role from the API when it tries anyway.
    await login(page, base, viewerToken);
    await page.locator('[data-plan="nightly"] a').click();
    await page.getByRole('heading', { name: 'Plan nightly', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'History', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Back up now' }).count(), 0);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Restore', exact: true }).count(), 0);
    const tried: any = await page.evaluate(async () => {
      const s: any = await (await fetch('/api/session')).json();
      const r = await fetch('/api/plans/nightly/execute', { method: 'POST', headers: { 'content-type': 'application/json', 'x-coffre-csrf': s.csrf }, body: '{}' });
      return { status: r.status, body: await r.json() };
    });
    assert.equal(tried.status, 403);
    assert.equal(tried.body.error.code, 'COFFRE_E_ROLE_REQUIRED');
    assert.match(tried.body.error.message, /operator role/);
    await shoot(page, '13-plan-viewer');

    assert.deepEqual(foreign, [], 'no request leaves coffre');
    assert.deepEqual(
      problems.filter((p) => /Content Security Policy|Refused to/i.test(p)),
      [],
      'no CSP violation',
    );
    assert.deepEqual(problems, [], 'no console errors');
    // Only the answers asked for: not logged in yet (three times: first visit, after logout, viewer's login
    // page), the wrong token, the bad target name, and the viewer's backup attempt.
    assert.deepEqual(failures, [
      '401 GET /api/session',
      '401 POST /api/session',
      '401 GET /api/session',
      '400 POST /api/sgbd-targets',
      '401 GET /api/session',
      '403 POST /api/plans/nightly/execute',
    ]);
  } finally {
    await b.context?.close();
    await server?.stop();
    await rm(ws.dir, { recursive: true, force: true });
  }
});

test('overview with 50 plans and 10,000 journal rows: time to a rendered overview (printed)', async () => {
  const ws: Workspace = await workspace('coffre-web-load-');
  let server: Served | undefined;
  let context: BrowserContext | undefined;
  try {
    const config = loadConfig({ DATA_DIR: path.join(ws.dir, 'data') });
    const ctx = await openContext({ config, announce: () => {} });
    try {
      await addTarget(ctx, { name: 't', url: `sqlite:${path.join(ws.dir, 't.db')}` }, { via: 'cli' });
      await addDestination(ctx, { name: 'd', type: 'local', path: path.join(ws.dir, 'b') }, { via: 'cli' });
      const plans = [];
      for (let i = 0; i < 50; i++) plans.push(await addPlan(ctx, { name: `plan-${String(i).padStart(2, '0')}`, target: 't', destination: 'd', cron: '0 3 * * *' }));
      // Rows written straight into the catalog's backups table, 200 days of one run a day per plan.
      const start = Date.now() - 200 * 86400_000;
      let batch: Record<string, unknown>[] = [];
      for (let n = 0; n < 10_000; n++) {
        const plan = plans[n % 50];
        const at = new Date(start + Math.floor(n / 50) * 86400_000);
        const failed = n % 97 === 0;
        batch.push({
          id: newId(at.getTime()),
          plan_id: plan.id,
          plan_name: plan.name,
          target_id: plan.targetId,
          target_name: 't',
          engine: 'sqlite',
          database: 't.db',
          kind: 'full',
          requested_kind: 'full',
          status: failed ? 'failed' : 'success',
          trigger: 'schedule',
          compression: 'gzip',
          raw_format: 'sqlite',
          started_at: at.toISOString(),
          finished_at: new Date(at.getTime() + 5000).toISOString(),
          duration_ms: 5000 + (n % 50) * 100,
          raw_size_bytes: 1_000_000 + n * 10,
          size_bytes: failed ? null : 300_000 + n * 3,
          sha256: failed ? null : 'a'.repeat(64),
          raw_sha256: failed ? null : 'b'.repeat(64),
          artifact_key: failed ? null : `${plan.name}/${n}.gz`,
          tool: 'node:sqlite',
          message: failed ? 'failed on purpose' : null,
        });
        if (batch.length === 200 || n === 9_999) {
          await ctx.catalog.db
            .insertInto('backups')
            .values(batch as never)
            .execute();
          batch = [];
        }
      }
    } finally {
      await closeContext(ctx);
    }
    server = await serve(ws, { API_TOKEN: TOKEN, SCHEDULER_ENABLED: 'false' });
    const b = await browser(server.url, 'load');
    context = b.context;
    await login(b.page, server.url, TOKEN);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      await b.page.reload();
      await b.page.locator('.tile').nth(49).waitFor();
      times.push(Date.now() - t0);
    }
    assert.equal(await b.page.locator('.tile').count(), 50);
    await shoot(b.page, '14-overview-50-plans');
    const sorted = [...times].sort((x, y) => x - y);
    process.stdout.write(`overview: 50 plans, 10,000 journal rows: rendered in ${sorted[1]} ms (median of 3: ${times.join(', ')} ms)\n`);
  } finally {
    await context?.close();
    await server?.stop();
    await rm(ws.dir, { recursive: true, force: true });
  }
});
