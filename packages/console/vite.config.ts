import { defineConfig } from 'vite';

// Kiln serves the built files under /console/ (and the page itself at /). Preact's JSX runtime is
// used directly through esbuild, so no framework plugin is needed.
export default defineConfig({
  base: '/console/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Module preloads would otherwise add a small inline polyfill check; the page allows no inline script.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
  },
});
