/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies the API to the dev server on 8787 so the app and the API share an origin.
const api = process.env.CALLSYNC_API ?? 'http://127.0.0.1:8787';
const apiPaths = ['/sources', '/recordings', '/jobs', '/sync', '/oauth', '/uploads', '/meetings', '/dev', '/_local', '/usage', '/failed-imports', '/me', '/activity', '/health'];

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
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
  },
});
