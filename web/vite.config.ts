// The dashboard's build: Preact through esbuild's JSX transform (no Babel), every asset emitted into
// web/dist/assets with a content hash, nothing inlined as script (the server's CSP allows no inline script).

import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  logLevel: 'warn',
});
