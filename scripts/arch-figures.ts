// Prints the structural figures of issue 11, so a change of structure can be measured before and after:
// the longest function in src/services/, Kysely queries outside src/catalog/, the files that change a run's
// status, the import circles of src/, and the files that name every engine or codec (what adding one touches).
// Run: npx node scripts/arch-figures.ts (reads the tree; changes nothing).

import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

const files = walk(src);
const rel = (p: string) => path.relative(root, p);
const text = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));

// 1. The longest function (declaration, method, arrow or function expression) in src/services/.
let longest = { name: '', file: '', lines: 0 };
for (const f of files.filter((f) => f.startsWith(path.join(src, 'services')))) {
  const sf = ts.createSourceFile(f, text.get(f)!, ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node) => {
    if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      const name = (node as ts.FunctionDeclaration).name?.getText(sf) ?? `(anonymous at line ${start + 1})`;
      if (lines > longest.lines) longest = { name, file: rel(f), lines };
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
console.log(`longest function in src/services/: ${longest.name} (${longest.file}), ${longest.lines} lines`);

// 2. Kysely queries outside src/catalog/.
const query = /\.(selectFrom|insertInto|updateTable|deleteFrom)\(/g;
let queries = 0;
const queryFiles: string[] = [];
for (const f of files.filter((f) => !f.startsWith(path.join(src, 'catalog')))) {
  const n = (text.get(f)!.match(query) ?? []).length;
  if (n) queryFiles.push(`${rel(f)} ${n}`);
  queries += n;
}
console.log(`Kysely queries outside src/catalog/: ${queries}${queryFiles.length ? ` (${queryFiles.join(', ')})` : ''}`);

// 3. Files that change a run's status: a write to backups/restores (or a journal helper that writes them).
const statusWrite = /(?<!function )\b(updateBackup|updateRestore|finishBackupRow|insertBackup|insertRestore)\(|(updateTable|insertInto)\('(backups|restores)'\)[^;]*?\bstatus\b/gs;
const writers = files.filter((f) => statusWrite.test(text.get(f)!.replace(/^\s*(\/\/|\*).*$/gm, '')) && (statusWrite.lastIndex = 0) === 0);
console.log(`files that change a run's status: ${writers.length} (${writers.map(rel).join(', ')})`);

// 4. Import circles in src/ (type-only and dynamic `import('./x.ts')` imports count: they tie the files as
// much for a reader).
const graph = new Map<string, string[]>();
for (const f of files) {
  const deps: string[] = [];
  for (const m of text.get(f)!.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/gm)) {
    const target = path.resolve(path.dirname(f), m[1] ?? m[2]);
    if (text.has(target)) deps.push(target);
  }
  graph.set(f, deps);
}
// Tarjan's strongly connected components.
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const on = new Set<string>();
const circles: string[][] = [];
const strong = (v: string) => {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v)!) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
  }
  if (low.get(v) === idx.get(v)) {
    const comp: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      on.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1) circles.push(comp.map(rel).sort());
  }
};
for (const f of files) if (!idx.has(f)) strong(f);
console.log(`import circles in src/: ${circles.length}${circles.map((c) => `\n  ${c.join(' <-> ')}`).join('')}`);

// 5. Files that name every engine (or codec) one by one: each must change when one is added. A name counts
// quoted, as an object key or as an imported binding ('postgres', postgres: {...}, import { postgres }), so
// the names tables and the registries show up too: they are the places an addition is meant to touch.
const listing = (names: string[], least: number, skip: (f: string) => boolean) =>
  files.filter((f) => {
    if (skip(f)) return false;
    const t = text.get(f)!.replace(/^\s*(\/\/|\*|\/\*\*).*$/gm, ''); // comments name engines freely
    return names.filter((e) => new RegExp(`(?<![\\w$.-])(['"]?)${e}\\1\\s*(:|\\||,|\\]|\\})|\\|\\s*'${e}'`).test(t)).length >= least;
  });
const engineNames = ['postgres', 'mysql', 'mongodb', 'sqlite'];
// An engine's own files (src/engines/<engine>*.ts) may name the others (mongo's formats, a SQL dialect's peers).
const engineFiles = listing(engineNames, 3, (f) => /^src\/engines\/(postgres|mysql|mongo|sqlite)/.test(rel(f)));
console.log(`files that list the engines: ${engineFiles.length} (${engineFiles.map(rel).join(', ')})`);
const codecNames = ['gzip', 'zstd', 'zip', 'targz', 'none'];
const codecFiles = listing(codecNames, 4, () => false);
console.log(`files that list the codecs: ${codecFiles.length} (${codecFiles.map(rel).join(', ')})`);
