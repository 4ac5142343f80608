// What scripts/build-vendor.ts and scripts/build-app.ts share: esbuild (installed with Vite, so absent from
// a production install, where `coffre` then runs without bundles) and the shape of their output, ES modules
// for Node 24 with shared chunks, `.mjs` files in one folder of node_modules/.cache.

import type { BuildOptions } from 'esbuild';

/** esbuild, or undefined (after saying so, prefixed with `what`) when it is not installed. */
export async function loadEsbuild(what: string, without: string): Promise<typeof import('esbuild') | undefined> {
  try {
    return await import('esbuild');
  } catch {
    process.stdout.write(`${what}: esbuild is not installed; ${without}\n`);
    return undefined;
  }
}

/** The build options both bundles use, writing into `outdir`. */
export function nodeBundle(outdir: string): BuildOptions {
  return {
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    logLevel: 'error',
  };
}
