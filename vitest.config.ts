import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    env: { NODE_ENV: 'test' },
    globalSetup: ['packages/server/test/global-setup.ts'],
    pool: 'forks',
    // Two cores: two files at a time; each file runs against both databases.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
