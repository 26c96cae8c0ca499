import { defineConfig } from 'vitest/config';

// Unit and component tests (no testbed). The e2e suite has its own config: vitest.e2e.config.ts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
