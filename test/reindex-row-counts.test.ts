// A row rebuilt by `coffre reindex` keeps the row counts its manifest recorded, so a drill of it (once adopted)
// checks them instead of skipping; a manifest whose counts are not of the shape coffre writes gives none, and
// the drill's row-count check is then skipped and says so. Real CLI, two catalogs sharing one folder.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile, copyFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { workspace, expectCode, type Workspace } from './support/cli.ts';
import { ordersDatabase } from './support/sqlite.ts';

const spaces: Workspace[] = [];
after(async () => {
  for (const w of spaces) await w.cleanup();
});

interface Check {
  name: string;
  status: string;
  message: string;
}

test('reindex carries rowCounts from the manifest; a drill of the adopted row checks them; a malformed one is dropped', async () => {
  const a = await workspace('coffre-rc-a-');
  const b = await workspace('coffre-rc-b-');
  spaces.push(a, b);
  const shared = path.join(a.dir, 'shared');
  const src = path.join(a.dir, 'shop.db');
  ordersDatabase(src, 30);
  const d = new DatabaseSync(src);
  d.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY)');
  d.close();
  expectCode(await a.run(['target', 'add', 'shop', '--url', `sqlite:${src}`]), 0, 'a: target add');
  expectCode(await a.run(['destination', 'add', 'shared', '--type', 'local', '--path', shared]), 0, 'a: destination add');
  expectCode(await a.run(['plan', 'add', 'p', '--target', 'shop', '--destination', 'shared', '--compression', 'none']), 0, 'a: plan add');
  const made = await a.run(['backup', 'p', '--json']);
  expectCode(made, 0, 'a: backup');
  const original = made.json<{ id: string; artifact: string }>();

  // A second copy of the artifact whose manifest's counts are damaged (a negative count), under a new id.
  const files = await readdir(shared, { recursive: true });
  const manifestFile = files.find((f) => f.endsWith('.manifest.json'))!;
  const artifactFile = manifestFile.replace(/\.manifest\.json$/, '');
  const manifest = JSON.parse(await readFile(path.join(shared, manifestFile), 'utf8'));
  assert.deepEqual(manifest.rowCounts, { method: 'snapshot-count', tables: { notes: 0, orders: 30 } });
  const badId = randomUUID();
  const badKey = `${artifactFile}.bad`;
  await copyFile(path.join(shared, artifactFile), path.join(shared, badKey));
  await writeFile(
    path.join(shared, `${badKey}.manifest.json`),
    JSON.stringify({ ...manifest, id: badId, artifact: badKey.split(path.sep).join('/'), rowCounts: { method: 'snapshot-count', tables: { orders: -1 } } }),
  );

  // Catalog b sees the folder, rebuilds both rows and adopts them into its own plan on the same file.
  expectCode(await b.run(['target', 'add', 'shop', '--url', `sqlite:${src}`]), 0, 'b: target add');
  expectCode(await b.run(['destination', 'add', 'shared', '--type', 'local', '--path', shared]), 0, 'b: destination add');
  expectCode(await b.run(['plan', 'add', 'p', '--target', 'shop', '--destination', 'shared']), 0, 'b: plan add');
  const re = await b.run(['reindex', 'shared', '--json']);
  expectCode(re, 0, 'b: reindex');
  const imported = re.json<{ imported: Array<{ id: string }>; invalid: Array<{ key: string; reason: string }> }>();
  assert.ok(
    imported.imported.some((i) => i.id === original.id),
    re.stdout,
  );
  const ids = imported.imported.map((i) => i.id);
  expectCode(await b.run(['journal', 'adopt', ...ids, '--plan', 'p', '--json']), 0, 'b: adopt');

  const good = await b.run(['drill', 'p', '--backup', original.id, '--json']);
  expectCode(good, 0, 'b: drill of the rebuilt row');
  const goodRc = good.json<{ checks: Check[] }>().checks.find((c) => c.name === 'row-counts')!;
  assert.equal(goodRc.status, 'passed', goodRc.message);
  assert.match(goodRc.message, /2 table\(s\), 30 row\(s\)/);

  assert.ok(ids.includes(badId), `the copy with malformed counts is imported (its bytes are sound): ${re.stdout}`);
  const bad = await b.run(['drill', 'p', '--backup', badId, '--json']);
  expectCode(bad, 0, 'b: drill of the row with malformed counts');
  const badRc = bad.json<{ checks: Check[] }>().checks.find((c) => c.name === 'row-counts')!;
  assert.equal(badRc.status, 'skipped', 'malformed counts are not trusted');
});
