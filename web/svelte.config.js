import adapter from '@sveltejs/adapter-node'
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte'

/** @type {import('@sveltejs/kit').Config} */
export default {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter(),
    // Runtime-neutral product code beside the portal (shared/): the portal imports it as
    // $shared/…, with the .ts extension as everywhere in shared/.
    alias: { $shared: '../shared' },
  },
}
