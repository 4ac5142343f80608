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
const { enableCompileCache, registerHooks } = await import('node:module');
const { default: path } = await import('node:path');
const root = path.join(import.meta.dirname, '..');
enableCompileCache?.({ directory: path.join(root, 'node_modules', '.cache', 'coffre-compile') });
// The bundle of coffre's sources (scripts/build-app.ts) while it is fresh for this tree, else the sources
// themselves (with the vendor bundles below); COFFRE_APP_BUNDLE=0 always runs the sources.
const { freshAppBundle } = await import('./app-bundle.js');
const app = process.env.COFFRE_APP_BUNDLE === '0' ? undefined : freshAppBundle(root);
if (!app) await useVendorBundles();
await startKeyDerivation();
const { runCommand } = await import(app ?? '../src/cli/main.ts');
await runCommand(process.argv.slice(2));

/**
 * The catalog key's derivation from ENCRYPTION_SECRET (scrypt, ~50 ms on the thread pool) starts here,
 * before the command's modules load, through the very module that derives it for the open
 * (src/core/secrets.ts, or its entry in the bundle, one module with the bundle's): the open then awaits
 * the same derivation. Help and --version open no catalog and start nothing. A refused or failed derivation
 * is reported by the command's own open, as before.
 */
async function startKeyDerivation() {
  const secret = process.env.ENCRYPTION_SECRET;
  const named = process.argv[2];
  if (!secret || named === undefined || named.startsWith('-') || named === 'help' || named === 'version') return;
  try {
    const { prepareSecretKey } = await import(app ? new URL('./secrets.mjs', app).href : '../src/core/secrets.ts');
    prepareSecretKey({ encryptionSecret: secret });
  } catch {
    // the command's open reports it
  }
}

/**
 * Kysely and zod from the bundles scripts/build-vendor.ts made (a few files instead of ~350: about 80 ms
 * of every command's start-up), for imports made by coffre's own sources only, and only while the
 * bundles' stamp names the versions installed now. Anything else (no bundles, other versions, a Node
 * without module.registerHooks) loads the packages from node_modules as before.
 */
async function useVendorBundles() {
  if (!registerHooks) return;
  const [{ readFileSync }, { pathToFileURL }] = await Promise.all([import('node:fs'), import('node:url')]);
  const dir = path.join(root, 'node_modules', '.cache', 'coffre-vendor');
  const read = (file) => JSON.parse(readFileSync(file, 'utf8'));
  let urls;
  try {
    const stamp = read(path.join(dir, 'stamp.json'));
    if (stamp.format !== 1) return;
    for (const { name, version } of stamp.packages) if (read(path.join(root, 'node_modules', name, 'package.json')).version !== version) return;
    urls = new Map(Object.entries(stamp.entries).map(([specifier, file]) => [specifier, pathToFileURL(path.join(dir, file)).href]));
  } catch {
    return; // not built (or unreadable): the packages as they are
  }
  const sources = `${pathToFileURL(path.join(root, 'src')).href}/`;
  registerHooks({
    resolve(specifier, context, next) {
      const url = urls.get(specifier);
      return url && context.parentURL?.startsWith(sources) ? { url, format: 'module', shortCircuit: true } : next(specifier, context);
    },
  });
}
