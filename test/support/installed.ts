// The installed `coffre` command (bin/coffre.js) run the way its start-up tests need: with a preload whose
// load hook lists every module file that loads, and a round trip through a SQLite target (a fresh catalog,
// every migration, a backup, its verify and a restore) that shows the command works from what it loaded.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { cliEnv, mainScript } from './cli.ts';

export const root = path.resolve(import.meta.dirname, '..', '..');

export interface Installed {
  /** Runs `coffre ARGS`; resolves with stdout and stderr together once it exits 0, rejects otherwise. */
  ok(args: string[]): Promise<string>;
  /** Starts `coffre ARGS` (a server). */
  start(args: string[]): ReturnType<typeof spawn>;
  /** Every module URL loaded so far by the commands run. */
  loaded(): Promise<string[]>;
}

/** The installed command with DATA_DIR in `dir`, none of the developer's settings, and `env` on top. */
export async function installed(dir: string, env: NodeJS.ProcessEnv = {}): Promise<Installed> {
  const list = path.join(dir, 'loaded.txt');
  const preload = path.join(dir, 'preload.mjs');
  // Registered before bin/coffre.js's own imports (and hooks), it sees every file that loads.
  await writeFile(
    preload,
    `import { registerHooks } from 'node:module'; import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(list)}, url + '\\n'); return next(url, context); } });\n`,
  );
  await writeFile(list, '');
  const childEnv: NodeJS.ProcessEnv = { ...cliEnv(path.join(dir, 'data')), ...env };
  const start = (args: string[]) => spawn(process.execPath, ['--import', preload, mainScript, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    start,
    ok: (args) =>
      new Promise<string>((resolve, reject) => {
        const child = start(args);
        let out = '';
        child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
        child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`coffre ${args.join(' ')} exited ${code}: ${out}`))));
      }),
    loaded: async () => (await readFile(list, 'utf8')).split('\n').filter(Boolean),
  };
}

/** A SQLite target of three rows backed up (zstd), verified and restored into another through `coffre`. */
export async function sqliteRoundTrip(coffre: Installed, dir: string): Promise<void> {
  const src = path.join(dir, 'shop.db');
  const db = new DatabaseSync(src);
  db.exec('CREATE TABLE orders(id INTEGER PRIMARY KEY, total INTEGER); INSERT INTO orders(total) VALUES (10),(20),(30);');
  db.close();
  await coffre.ok(['target', 'add', 'shop', '--url', `sqlite:${src}`]);
  await coffre.ok(['target', 'add', 'copy', '--url', `sqlite:${path.join(dir, 'copy.db')}`]);
  await coffre.ok(['destination', 'add', 'disk', '--type', 'local']);
  await coffre.ok(['plan', 'add', 'nightly', '--target', 'shop', '--destination', 'disk', '--compression', 'zstd']);
  const out = await coffre.ok(['backup', 'nightly', '--json']);
  const backup = JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1)) as { id: string; status: string };
  assert.equal(backup.status, 'success');
  const verified = await coffre.ok(['verify', backup.id, '--json']);
  assert.equal((JSON.parse(verified.slice(verified.indexOf('{'), verified.lastIndexOf('}') + 1)) as { status: string }).status, 'success');
  await coffre.ok(['restore', backup.id, '--to', 'copy']);
  const copy = new DatabaseSync(path.join(dir, 'copy.db'));
  try {
    assert.deepEqual(
      copy
        .prepare('SELECT total FROM orders ORDER BY id')
        .all()
        .map((r) => r.total),
      [10, 20, 30],
    );
  } finally {
    copy.close();
  }
}
