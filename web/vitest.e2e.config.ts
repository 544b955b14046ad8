import { defineConfig } from 'vitest/config';

// Browser end-to-end tests: headless Chromium (playwright-core) against the real dev server
// with demo providers, started once by e2e/global-setup.ts and always stopped.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    globalSetup: ['e2e/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
