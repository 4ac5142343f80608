// `npm run demo`: the README's walkthrough in one command, on the embedded defaults (SQLite catalog in
// DATA_DIR, local storage under BACKUP_ROOT). It makes a small SQLite database of its own, registers it,
// backs it up, verifies the artifact, restores it into a second file and compares the two. Each step is a
// real `coffre` command, printed before it runs, so the output doubles as a tutorial.

import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { main } from '../src/cli/main.ts';
import { loadConfig } from '../src/config.ts';

const config = loadConfig();
const dir = path.join(config.dataDir, 'demo');
mkdirSync(dir, { recursive: true, mode: 0o700 });
const source = path.join(dir, 'shop.db');
const copy = path.join(dir, 'shop-restored.db');
const run = Date.now().toString(36);

const db = new DatabaseSync(source);
db.exec(`CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total_cents INTEGER, note TEXT);`);
const insert = db.prepare('INSERT INTO orders (customer, total_cents, note) VALUES (?, ?, ?)');
for (let i = 0; i < 1000; i++) insert.run(`customer ${i % 97}`, (i * 7919) % 100000, i % 10 === 0 ? 'café ☕ — fragile' : null);
db.close();
rmSync(copy, { force: true });

async function coffre(...args: string[]): Promise<string> {
  process.stdout.write(`\n$ coffre ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  const code = await main(args);
  if (code !== 0) {
    process.stderr.write(`demo: that command exited with ${code}\n`);
    process.exit(code);
  }
  return '';
}

const names = { target: `demo-shop-${run}`, restored: `demo-restored-${run}`, destination: `demo-disk-${run}`, plan: `demo-nightly-${run}` };
await coffre('target', 'add', names.target, '--url', `sqlite:${source}`);
await coffre('destination', 'add', names.destination, '--type', 'local');
await coffre('plan', 'add', names.plan, '--target', names.target, '--destination', names.destination, '--compression', 'zstd');
await coffre('backup', names.plan);
await coffre('journal', '--plan', names.plan);

// The id of the backup just made, as any script would get it: from the JSON output.
let id = '';
{
  const write = process.stdout.write.bind(process.stdout);
  let captured = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    captured += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    await main(['journal', '--plan', names.plan, '--limit', '1', '--json']);
  } finally {
    process.stdout.write = write;
  }
  id = (JSON.parse(captured) as Array<{ id: string }>)[0].id;
}
await coffre('verify', id);
await coffre('target', 'add', names.restored, '--url', `sqlite:${copy}`);
await coffre('restore', id, '--to', names.restored);

const a = new DatabaseSync(source, { readOnly: true });
const b = new DatabaseSync(copy, { readOnly: true });
const count = (d: DatabaseSync) => d.prepare('SELECT count(*) AS n, sum(total_cents) AS s FROM orders').get() as { n: number; s: number };
const [ca, cb] = [count(a), count(b)];
a.close();
b.close();
if (ca.n !== cb.n || ca.s !== cb.s) {
  process.stderr.write(`demo: the restored copy differs (${JSON.stringify(cb)} vs ${JSON.stringify(ca)})\n`);
  process.exit(1);
}
process.stdout.write(`\nThe restored database ${copy} holds the same ${cb.n} orders as ${source}.\n`);
process.stdout.write(`Catalog: ${config.catalog.kind === 'sqlite' ? config.catalog.path : 'PostgreSQL'}; artifacts under ${config.backupRoot}.\n`);
