// A fake web search provider on 127.0.0.1, speaking both formats the product supports:
// SearXNG's JSON API (GET /search?q=…&format=json → {query, number_of_results, results:
// [{url, title, content, engine, …}]}) and an OpenAI-compatible search model
// (POST /v1/chat/completions with web_search_options → an answer whose
// message.annotations are url_citation entries). It records every request and can fail
// on purpose: an error status, a body that is not JSON, or a redirect somewhere else.
import { startRecordingServer, type RecordedRequest } from './recording-server.ts'

export interface FakeSearchResult {
  title: string
  url: string
  content: string
}

export type FakeSearchFailure = { status: number } | { notJson: true } | { redirectTo: string }

export interface FakeSearch {
  /** The SearXNG base URL (KONSTRUCT_WEB_SEARCH_URL for the searxng kind). */
  url: string
  /** The OpenAI-compatible base URL, with /v1 (for the openai kind). */
  openaiUrl: string
  requests: RecordedRequest[]
  /** What the next searches find (default: three pages about the query). */
  setResults(results: FakeSearchResult[] | null): void
  /** The next `times` requests fail this way. */
  failNext(failure: FakeSearchFailure, times?: number): void
  waitForRequests(count: number): Promise<RecordedRequest[]>
  close(): Promise<void>
}

function resultsAbout(query: string): FakeSearchResult[] {
  const slug =
    query
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'search'
  return [
    { title: `${query}: the guide`, url: `https://guide.example.org/${slug}`, content: `All about ${query}.` },
    { title: `${query} news`, url: `https://news.example.net/${slug}?page=1`, content: `Latest on ${query}.` },
    { title: `Ask about ${query}`, url: `https://forum.example.com/t/${slug}`, content: `People discuss ${query}.` },
  ]
}

export async function startFakeSearch(): Promise<FakeSearch> {
  let fixed: FakeSearchResult[] | null = null
  const server = await startRecordingServer<FakeSearchFailure>((request, failure) => {
    if (failure && 'status' in failure) return { status: failure.status, body: { error: 'scripted failure' } }
    if (failure && 'notJson' in failure) return { status: 200, body: '<html>Too many requests</html>' }
    if (failure && 'redirectTo' in failure) return { status: 302, headers: { location: failure.redirectTo } }

    if (request.method === 'GET' && request.path === '/search') {
      // SearXNG refuses formats its settings do not enable with 403.
      if (request.query.format !== 'json') return { status: 403, body: 'Forbidden' }
      const query = request.query.q ?? ''
      const results = fixed ?? resultsAbout(query)
      return {
        status: 200,
        body: {
          query,
          number_of_results: results.length,
          results: results.map((r, i) => ({
            ...r,
            engine: 'fake',
            engines: ['fake'],
            parsed_url: [],
            positions: [i + 1],
            score: 1 / (i + 1),
            category: 'general',
          })),
          answers: [],
          corrections: [],
          infoboxes: [],
          suggestions: [],
          unresponsive_engines: [],
        },
      }
    }

    if (request.method === 'POST' && request.path === '/v1/chat/completions') {
      const body = request.body as { messages?: { role: string; content: string }[]; web_search_options?: unknown }
      if (!body?.web_search_options) return { status: 400, body: { error: { message: 'not a search request' } } }
      const query = body.messages?.at(-1)?.content ?? ''
      const results = fixed ?? resultsAbout(query)
      let content = ''
      const annotations = results.map((r) => {
        content += `${r.content} `
        const link = `[${new URL(r.url).hostname}](${r.url})`
        const start = content.length
        content += `${link}\n`
        return {
          type: 'url_citation',
          url_citation: { start_index: start, end_index: start + link.length, title: r.title, url: r.url },
        }
      })
      return {
        status: 200,
        body: {
          id: 'chatcmpl-fake-search',
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: 'fake-search',
          choices: [
            { index: 0, message: { role: 'assistant', content, annotations, refusal: null }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 10, completion_tokens: 40, total_tokens: 50 },
        },
      }
    }
    return { status: 404, body: { error: 'not found' } }
  })
  return {
    url: server.url,
    openaiUrl: `${server.url}/v1`,
    requests: server.requests,
    setResults: (results) => void (fixed = results),
    failNext: (failure, times = 1) => server.arm(failure, times, () => true),
    waitForRequests: (count) => server.waitForRequests(count),
    close: () => server.close(),
  }
}
