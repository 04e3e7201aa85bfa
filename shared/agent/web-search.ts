// Web search for agents: the provider the platform's operator configures in the
// environment, and the one call that asks it. Two kinds of provider are spoken:
//   - "searxng": a SearXNG instance (self-hostable), `GET {url}/search?q=…&format=json`,
//     answering {results: [{url, title, content}]} (the instance must list `json` in
//     search.formats of its settings.yml, or it answers 403);
//   - "openai": an OpenAI-compatible chat completions endpoint with a search model
//     (`POST {url}/chat/completions` with `web_search_options: {}`), whose answer cites
//     pages as message.annotations of type url_citation {url, title, start_index, end_index}.
//
// The provider's URL comes from the environment only: no tenant or agent setting names
// it (settings.ts gives web_search no settings at all). Calls go through guardedFetch with
// that URL's exact origin as the only host, port and scheme allowed, and as its
// trustedOrigin: the operator may run SearXNG on localhost or a private network, so the
// address rule is waived for that origin alone; a redirect elsewhere, or to a private
// address on another port, is refused like any tenant-influenced URL.

import { z } from 'zod'
import { GuardedFetchError, guardedFetch, type ResolveHost } from '../net/guarded-fetch.ts'

import type { WebSearchProvider } from './web-search-setup.ts'

export interface WebResult {
  title: string
  url: string
  snippet: string
}

/** A search that did not give results; the message is safe to show the model. */
export class WebSearchFailed extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'WebSearchFailed'
  }
}

export interface WebSearchDeps {
  resolveHost: ResolveHost
  fetch?: typeof fetch
  timeoutMs?: number
  signal?: AbortSignal
}

const MAX_SNIPPET_CHARS = 400
const MAX_TITLE_CHARS = 200

const searxngAnswer = z.object({
  results: z.array(z.object({ url: z.string(), title: z.string().nullish(), content: z.string().nullish() }).loose()),
})

const chatAnswer = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().nullish(),
          annotations: z
            .array(
              z
                .object({
                  type: z.string(),
                  url_citation: z
                    .object({
                      url: z.string(),
                      title: z.string().nullish(),
                      start_index: z.number().int().nullish(),
                      end_index: z.number().int().nullish(),
                    })
                    .loose()
                    .nullish(),
                })
                .loose(),
            )
            .nullish(),
        }),
      }),
    )
    .min(1),
})

/** Up to `limit` results for `query` from the configured provider; throws WebSearchFailed. */
export async function searchWeb(
  provider: WebSearchProvider,
  query: string,
  limit: number,
  deps: WebSearchDeps,
): Promise<WebResult[]> {
  const base = new URL(provider.url)
  const port = Number(base.port) || (base.protocol === 'https:' ? 443 : 80)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (provider.apiKey) headers.authorization = `Bearer ${provider.apiKey}`
  const searxng = provider.kind === 'searxng'
  const target = searxng
    ? `${provider.url}/search?${new URLSearchParams({ q: query, format: 'json' })}`
    : `${provider.url}/chat/completions`
  let status: number
  let text: string
  try {
    const response = await guardedFetch(
      target,
      searxng
        ? { method: 'GET', headers }
        : {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({
              model: provider.model,
              web_search_options: {},
              messages: [{ role: 'user', content: query }],
            }),
          },
      {
        allowHosts: [base.hostname],
        allowPorts: [port],
        schemes: [base.protocol as 'http:' | 'https:'],
        trustedOrigin: base.origin,
        resolveHost: deps.resolveHost,
        fetch: deps.fetch,
        maxRedirects: 2,
        maxResponseBytes: 2 * 1024 * 1024,
        timeoutMs: deps.timeoutMs ?? 8_000,
        signal: deps.signal,
      },
    )
    status = response.status
    text = response.text()
  } catch (error) {
    if (error instanceof GuardedFetchError) {
      throw new WebSearchFailed(
        error.code === 'timeout'
          ? 'the web search provider did not answer in time'
          : `the web search provider could not be reached (${error.code})`,
      )
    }
    throw error
  }
  if (status >= 400) throw new WebSearchFailed(`the web search provider answered with status ${status}`)
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new WebSearchFailed('the web search provider did not answer with JSON')
  }
  const results = searxng ? searxngResults(body) : citedResults(body)
  const seen = new Set<string>()
  return results
    .filter((r) => /^https?:\/\//i.test(r.url) && URL.canParse(r.url) && !seen.has(r.url) && seen.add(r.url))
    .slice(0, limit)
    .map((r) => ({
      title: clip(oneLine(r.title) || new URL(r.url).hostname, MAX_TITLE_CHARS),
      url: r.url,
      snippet: clip(oneLine(r.snippet), MAX_SNIPPET_CHARS),
    }))
}

function searxngResults(body: unknown): WebResult[] {
  const parsed = searxngAnswer.safeParse(body)
  if (!parsed.success) throw new WebSearchFailed('the web search provider answered in an unknown format')
  return parsed.data.results.map((r) => ({ title: r.title ?? '', url: r.url, snippet: r.content ?? '' }))
}

// A search model's answer: each url_citation is a result, its snippet the sentence it backs.
function citedResults(body: unknown): WebResult[] {
  const parsed = chatAnswer.safeParse(body)
  if (!parsed.success) throw new WebSearchFailed('the web search provider answered in an unknown format')
  const { content, annotations } = parsed.data.choices[0]!.message
  const answer = content ?? ''
  return (annotations ?? []).flatMap((annotation) => {
    const cite = annotation.type === 'url_citation' ? annotation.url_citation : null
    if (!cite) return []
    const start = cite.start_index ?? 0
    const end = cite.end_index ?? start
    // The cited span is usually the markdown link itself; the sentence before it carries the fact.
    const sentence =
      answer
        .slice(0, start)
        .trimEnd()
        .split(/(?<=[.!?])\s+|\n+/)
        .at(-1) ?? ''
    const span = end > start ? answer.slice(start, end).replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') : ''
    return [{ title: cite.title ?? '', url: cite.url, snippet: sentence || span }]
  })
}

function oneLine(text: string): string {
  return text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text
}
