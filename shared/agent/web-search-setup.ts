// The web search provider the platform's operator configures in the environment
// (KONSTRUCT_WEB_SEARCH_*): read by the agent worker, which calls it (web-search.ts), and by
// the portal, which only shows whether agents can have the tool. Kept apart from the call so
// the portal does not load the guarded client.

import { z } from 'zod'

export const WEB_SEARCH_KINDS = ['searxng', 'openai'] as const
export type WebSearchKind = (typeof WEB_SEARCH_KINDS)[number]
export const DEFAULT_WEB_SEARCH_MODEL = 'gpt-4o-mini-search-preview'

export interface WebSearchProvider {
  kind: WebSearchKind
  /** Without trailing slashes. */
  url: string
  apiKey: string | null
  /** The search model, for the openai kind. */
  model: string
}

/** What the environment says about web search: a provider, none, or why it is unusable. */
export type WebSearchSetup =
  { state: 'configured'; provider: WebSearchProvider } | { state: 'unset' } | { state: 'invalid'; problem: string }

const blankAsNull = z
  .string()
  .optional()
  .transform((value) => (value && value.trim() ? value.trim() : null))

/**
 * Reads KONSTRUCT_WEB_SEARCH_URL (the provider's base URL), KONSTRUCT_WEB_SEARCH_KEY
 * (sent as a bearer token, optional for SearXNG), KONSTRUCT_WEB_SEARCH_API ("searxng" by
 * default, or "openai") and KONSTRUCT_WEB_SEARCH_MODEL (openai only). Never throws.
 */
export function readWebSearchSetup(env: Record<string, string | undefined>): WebSearchSetup {
  const url = blankAsNull.parse(env.KONSTRUCT_WEB_SEARCH_URL)
  if (!url) return { state: 'unset' }
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) {
    return { state: 'invalid', problem: 'KONSTRUCT_WEB_SEARCH_URL is not an http(s) URL' }
  }
  const parsed = new URL(url)
  if (parsed.username || parsed.password || parsed.search || parsed.hash) {
    return {
      state: 'invalid',
      problem: 'KONSTRUCT_WEB_SEARCH_URL must be a base URL without credentials, query or fragment',
    }
  }
  const kind = (blankAsNull.parse(env.KONSTRUCT_WEB_SEARCH_API) ?? 'searxng').toLowerCase()
  if (!(WEB_SEARCH_KINDS as readonly string[]).includes(kind)) {
    return { state: 'invalid', problem: `KONSTRUCT_WEB_SEARCH_API is "${kind}"; use searxng or openai` }
  }
  return {
    state: 'configured',
    provider: {
      kind: kind as WebSearchKind,
      url: url.replace(/\/+$/, ''),
      apiKey: blankAsNull.parse(env.KONSTRUCT_WEB_SEARCH_KEY),
      model: blankAsNull.parse(env.KONSTRUCT_WEB_SEARCH_MODEL) ?? DEFAULT_WEB_SEARCH_MODEL,
    },
  }
}
