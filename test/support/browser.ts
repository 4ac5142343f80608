// The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium) driven by playwright-core, the
// dashboard built from web/ before the file's tests, and screenshots under .data/screenshots.

import { before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '../..');

/** Where browser tests put their screenshots (for a person to look at; not committed). */
export const screenshots = path.join(root, '.data', 'screenshots');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * Call at the top level of a browser test file: before its tests, builds the dashboard and makes the
 * screenshots folder; after them, removes the browsers' profiles. Returns launch(name): a fresh Chromium
 * with its own --user-data-dir, 1280x900.
 */
export function dashboardBrowsers(prefix = 'coffre-chromium-'): (name: string) => Promise<BrowserContext> {
  let profiles: string | undefined;
  before(async () => {
    execFileSync(process.execPath, [path.join(root, 'scripts/build-web.ts')], { stdio: 'inherit' });
    await mkdir(screenshots, { recursive: true });
    profiles = await mkdtemp(path.join(tmpdir(), prefix));
  });
  after(async () => {
    if (profiles) await rm(profiles, { recursive: true, force: true });
  });
  return (name) =>
    chromium.launchPersistentContext(path.join(profiles!, name), {
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
      viewport: { width: 1280, height: 900 },
    });
}

/** Opens the dashboard at base, logs in with token and waits for the overview. */
export async function login(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview', exact: true }).waitFor();
}
