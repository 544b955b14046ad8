/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies the API to the dev server on 8787 so the app and the API share an origin.
const api = process.env.CALLSYNC_API ?? 'http://127.0.0.1:8787';
const apiPaths = ['/sources', '/recordings', '/jobs', '/sync', '/oauth', '/uploads', '/meetings', '/dev', '/_local', '/usage', '/failed-imports', '/me', '/activity', '/health', '/openapi.json'];

// `vite build --mode lib` (npm run build:lib): the hub as one ES module for embedding,
// `mountImportHub` its export, React included; dist-lib/import-hub.css holds its styles.
export default defineConfig(({ mode }) => ({
  plugins: [react()],
  base: '/',
  define: mode === 'lib' ? { 'process.env.NODE_ENV': JSON.stringify('production') } : {},
  build:
    mode === 'lib'
      ? {
          outDir: 'dist-lib',
          target: 'es2022',
          lib: { entry: 'src/embed.tsx', formats: ['es'], fileName: 'import-hub', cssFileName: 'import-hub' },
        }
      : {
          outDir: 'dist',
          target: 'es2022',
          sourcemap: false,
          reportCompressedSize: true,
        },
  server: {
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: api, bypass: (req) => (req.headers.accept?.includes('text/html') ? '/index.html' : undefined) }])),
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // Each test stubs its own fetch (and XMLHttpRequest), restored after it.
    unstubGlobals: true,
  },
}));
