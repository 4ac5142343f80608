#!/usr/bin/env node
// Entry point of the `coffre` command. Plain JavaScript that any Node can parse, so an old Node gets a
// clear message instead of a syntax error from the TypeScript sources (which need Node >= 24).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`error: coffre needs Node >= 24 (this is Node ${process.versions.node}). From a checkout, run it with \`npx coffre\` after \`npm ci\`.\n`);
  process.exit(2);
}
// The compile cache (type-stripped and compiled modules kept on disk) is turned on here, before the first
// TypeScript file loads, so that a command needs neither Node's TypeScript stripper nor a fresh compile of
// its ~500 modules; src/cli/main.ts explains where the cache lives and why there.
const { enableCompileCache } = await import('node:module');
const { default: path } = await import('node:path');
enableCompileCache?.({ directory: path.join(import.meta.dirname, '..', 'node_modules', '.cache', 'coffre-compile') });
const { runCommand } = await import('../src/cli/main.ts');
await runCommand(process.argv.slice(2));
