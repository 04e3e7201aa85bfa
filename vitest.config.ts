import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Browser tests take several 20 s steps on a loaded 2-core runner; a test that hangs still fails.
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
})
