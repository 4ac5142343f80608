// `npm run build:web`: builds the dashboard (web/) into web/dist with Vite, unless web/dist is already newer
// than every source file (so `npm start`, `npm run demo` and `npm test`, which all run it first, cost
// nothing when nothing changed). `--force` always builds. Prints the size of what was built.

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const web = path.join(root, 'web');
const dist = path.join(web, 'dist');

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(full)));
    else out.push(full);
  }
  return out;
}

async function newest(list: string[]): Promise<number> {
  let t = 0;
  for (const f of list) t = Math.max(t, (await stat(f)).mtimeMs);
  return t;
}

const sources = [...(await files(path.join(web, 'src'))), path.join(web, 'index.html'), path.join(web, 'vite.config.ts'), path.join(root, 'package-lock.json')];
let built = 0;
try {
  built = (await stat(path.join(dist, 'index.html'))).mtimeMs;
} catch {
  built = 0;
}
if (!process.argv.includes('--force') && built > (await newest(sources))) {
  process.stdout.write('dashboard: web/dist is up to date\n');
} else {
  const { build } = await import('vite');
  const started = Date.now();
  await build({ configFile: path.join(web, 'vite.config.ts'), root: web, logLevel: 'warn' });
  const out = await files(dist);
  let total = 0;
  for (const f of out) total += (await stat(f)).size;
  process.stdout.write(`dashboard: built web/dist in ${((Date.now() - started) / 1000).toFixed(1)} s (${out.length} files, ${(total / 1024).toFixed(0)} KiB)\n`);
}
