import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  // The portal's alias for shared/ (web/svelte.config.js), for tests of portal modules.
  resolve: { alias: { $shared: fileURLToPath(new URL('./shared', import.meta.url)) } },
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Browser tests take several 20 s steps on a loaded 2-core runner; a test that hangs still fails.
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
})
