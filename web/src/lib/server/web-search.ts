// Whether agents can have web search: only when the platform's operator configured a
// provider (KONSTRUCT_WEB_SEARCH_URL, read the same way the agent worker reads it). The
// designer shows the switch then, and otherwise says why it is missing.
import { env } from '$env/dynamic/private'
import { readWebSearchSetup } from '$shared/agent/web-search-setup.ts'

export interface WebSearchAvailability {
  available: boolean
  /** Why the switch is missing, for the admin; null when it is shown. */
  reason: string | null
}

export function webSearchAvailability(): WebSearchAvailability {
  const setup = readWebSearchSetup(env)
  if (setup.state === 'configured') return { available: true, reason: null }
  if (setup.state === 'invalid')
    return {
      available: false,
      reason: `Web search is unavailable: the platform's search provider is misconfigured (${setup.problem}).`,
    }
  return {
    available: false,
    reason:
      'Web search is unavailable: this platform has no search provider. Its operator can set ' +
      'KONSTRUCT_WEB_SEARCH_URL (a SearXNG instance or an OpenAI-compatible search endpoint) for the portal ' +
      'and the agent worker.',
  }
}
