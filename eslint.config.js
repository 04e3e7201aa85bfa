// Lint for all TypeScript of the repository: local/, shared/, functions/, tests/,
// bench/, scripts/ and the portal (web/, with the Svelte plugin).
import js from '@eslint/js'
import svelte from 'eslint-plugin-svelte'
import globals from 'globals'
import tseslint from 'typescript-eslint'
import svelteConfig from './web/svelte.config.js'

export default tseslint.config(
  { ignores: ['node_modules/**', 'web/.svelte-kit/**', 'web/build/**', '.konstruct/**', 'supabase/.temp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { Deno: 'readonly', console: 'readonly', process: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The portal runs in the browser and in Node (SvelteKit's server side).
    files: ['web/**'],
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    // The portal is served at the root, never under a base path: resolve() around
    // every link would add noise without changing a single URL.
    rules: {
      'svelte/no-navigation-without-resolve': 'off',
      // Flags every Map, Set and URLSearchParams, also the ones built and read inside
      // one function or kept as plain bookkeeping that never renders: noise, not bugs.
      'svelte/prefer-svelte-reactivity': 'off',
    },
  },
  {
    files: ['web/**/*.svelte', 'web/**/*.svelte.ts'],
    languageOptions: {
      parserOptions: { projectService: true, extraFileExtensions: ['.svelte'], parser: tseslint.parser, svelteConfig },
    },
  },
  {
    // Tests read loosely typed JSON from fakes and RPC results.
    files: ['tests/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
)
