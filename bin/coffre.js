#!/usr/bin/env node
// Entry point of the `coffre` command. Plain JavaScript that any Node can parse, so an old Node gets a
// clear message instead of a syntax error from the TypeScript sources (which need Node >= 24).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`error: coffre needs Node >= 24 (this is Node ${process.versions.node}). From a checkout, run it with \`npx coffre\` after \`npm ci\`.\n`);
  process.exit(2);
}
const { runCommand } = await import('../src/cli/main.ts');
await runCommand(process.argv.slice(2));
