// Web search: the provider from the environment, both formats it speaks (SearXNG's JSON
// and an OpenAI-compatible search model's url_citation annotations) against the fake
// provider, failures as clear tool errors, the trust given to the operator's origin and
// to nothing else, and what the agent's turn does with the links.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assembleContext } from '../../../shared/agent/context.ts'
import { runAgentTurn, withSources } from '../../../shared/agent/loop.ts'
import { createModelClient } from '../../../shared/agent/model.ts'
import { buildAgentTools } from '../../../shared/agent/tools/agent-tools.ts'
import { searchWeb, WebSearchFailed } from '../../../shared/agent/web-search.ts'
import { readWebSearchSetup, type WebSearchProvider } from '../../../shared/agent/web-search-setup.ts'
import { readWorkerConfig } from '../../../shared/agent/worker/config.ts'
import { checkOutboundUrl, GuardedFetchError } from '../../../shared/net/guarded-fetch.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../../fakes/fake-openai.ts'
import { startFakeSearch, type FakeSearch } from '../../fakes/fake-search.ts'
import { startRecordingServer, type RecordingServer } from '../../fakes/recording-server.ts'

let search: FakeSearch
let model: FakeOpenAI
let elsewhere: RecordingServer<never>
const noDns = async (): Promise<string[]> => {
  throw new Error('no DNS in this test')
}

beforeAll(async () => {
  search = await startFakeSearch()
  model = await startFakeOpenAI()
  elsewhere = await startRecordingServer<never>(() => ({ status: 200, body: { secret: 'x' } }))
})
afterAll(async () => {
  await search.close()
  await model.close()
  await elsewhere.close()
})

const searxng = (): WebSearchProvider => ({ kind: 'searxng', url: search.url, apiKey: null, model: 'unused' })

describe('the provider from the environment', () => {
  it('is none without a URL, and a bad URL or kind is named', () => {
    expect(readWebSearchSetup({})).toEqual({ state: 'unset' })
    expect(readWebSearchSetup({ KONSTRUCT_WEB_SEARCH_URL: '  ' })).toEqual({ state: 'unset' })
    expect(readWebSearchSetup({ KONSTRUCT_WEB_SEARCH_URL: 'searx.local' })).toEqual({
      state: 'invalid',
      problem: 'KONSTRUCT_WEB_SEARCH_URL is not an http(s) URL',
    })
    expect(readWebSearchSetup({ KONSTRUCT_WEB_SEARCH_URL: 'https://u:p@searx.example/' }).state).toBe('invalid')
    expect(
      readWebSearchSetup({ KONSTRUCT_WEB_SEARCH_URL: 'https://searx.example', KONSTRUCT_WEB_SEARCH_API: 'bing' }),
    ).toEqual({ state: 'invalid', problem: 'KONSTRUCT_WEB_SEARCH_API is "bing"; use searxng or openai' })
  })

  it('defaults to SearXNG; the openai kind takes a search model', () => {
    expect(readWebSearchSetup({ KONSTRUCT_WEB_SEARCH_URL: 'http://localhost:8080/' })).toEqual({
      state: 'configured',
      provider: { kind: 'searxng', url: 'http://localhost:8080', apiKey: null, model: 'gpt-4o-mini-search-preview' },
    })
    const openai = readWebSearchSetup({
      KONSTRUCT_WEB_SEARCH_URL: 'https://api.openai.com/v1',
      KONSTRUCT_WEB_SEARCH_API: 'openai',
      KONSTRUCT_WEB_SEARCH_KEY: 'sk-search',
      KONSTRUCT_WEB_SEARCH_MODEL: 'gpt-4o-search-preview',
    })
    expect(openai).toMatchObject({ provider: { kind: 'openai', apiKey: 'sk-search', model: 'gpt-4o-search-preview' } })
  })

  it('a misconfigured provider stops the worker at start, loudly', () => {
    const env = {
      SUPABASE_URL: 'http://127.0.0.1:54321',
      SUPABASE_SECRET_KEYS: JSON.stringify({ default: 'sb_secret_test' }),
      KONSTRUCT_WORKER_SECRET: 'x'.repeat(32),
    }
    expect(readWorkerConfig(env).webSearch).toBeNull()
    expect(() => readWorkerConfig({ ...env, KONSTRUCT_WEB_SEARCH_URL: 'ftp://searx' })).toThrow(
      'KONSTRUCT_WEB_SEARCH_URL is not an http(s) URL',
    )
  })
})

describe('searching', () => {
  it('asks SearXNG for JSON and gives title, url and snippet, with the key as a bearer token', async () => {
    const before = search.requests.length
    const results = await searchWeb({ ...searxng(), apiKey: 'searx-key' }, 'opening hours museum', 2, {
      resolveHost: noDns,
    })
    expect(results).toEqual([
      {
        title: 'opening hours museum: the guide',
        url: 'https://guide.example.org/opening-hours-museum',
        snippet: 'All about opening hours museum.',
      },
      {
        title: 'opening hours museum news',
        url: 'https://news.example.net/opening-hours-museum?page=1',
        snippet: 'Latest on opening hours museum.',
      },
    ])
    const [request] = search.requests.slice(before)
    expect(request).toMatchObject({
      method: 'GET',
      path: '/search',
      query: { q: 'opening hours museum', format: 'json' },
    })
    expect(request!.headers.authorization).toBe('Bearer searx-key')
  })

  it('reads an OpenAI-compatible search model: each url_citation is a result with the sentence it backs', async () => {
    const before = search.requests.length
    const provider: WebSearchProvider = {
      kind: 'openai',
      url: search.openaiUrl,
      apiKey: 'sk-s',
      model: 'gpt-4o-mini-search-preview',
    }
    const results = await searchWeb(provider, 'tram strike', 5, { resolveHost: noDns })
    expect(results.map((r) => r.url)).toEqual([
      'https://guide.example.org/tram-strike',
      'https://news.example.net/tram-strike?page=1',
      'https://forum.example.com/t/tram-strike',
    ])
    expect(results[1]).toEqual({
      title: 'tram strike news',
      url: 'https://news.example.net/tram-strike?page=1',
      snippet: 'Latest on tram strike.',
    })
    const [request] = search.requests.slice(before)
    expect(request).toMatchObject({ method: 'POST', path: '/v1/chat/completions' })
    expect(request!.body).toMatchObject({
      model: 'gpt-4o-mini-search-preview',
      web_search_options: {},
      messages: [{ role: 'user', content: 'tram strike' }],
    })
  })

  it('drops results that are not web links, and repeats', async () => {
    search.setResults([
      { title: 'A', url: 'https://a.example/1', content: '<b>bold</b>   text' },
      { title: 'A again', url: 'https://a.example/1', content: 'same' },
      { title: 'Script', url: 'javascript:alert(1)', content: 'no' },
      { title: '', url: 'https://b.example/2', content: '' },
    ])
    try {
      expect(await searchWeb(searxng(), 'x', 5, { resolveHost: noDns })).toEqual([
        { title: 'A', url: 'https://a.example/1', snippet: 'bold text' },
        { title: 'b.example', url: 'https://b.example/2', snippet: '' },
      ])
    } finally {
      search.setResults(null)
    }
  })

  it.each([
    [{ status: 500 }, 'the web search provider answered with status 500'],
    [{ notJson: true as const }, 'the web search provider did not answer with JSON'],
  ])('a failing provider is a WebSearchFailed with a clear message (%o)', async (failure, message) => {
    search.failNext(failure)
    const attempt = searchWeb(searxng(), 'x', 5, { resolveHost: noDns })
    await expect(attempt).rejects.toThrow(WebSearchFailed)
    await expect(attempt).rejects.toThrow(message)
  })

  it('a redirect away from the configured origin is refused, even to another local port', async () => {
    search.failNext({ redirectTo: `${elsewhere.url}/latest/meta-data` })
    await expect(searchWeb(searxng(), 'x', 5, { resolveHost: noDns })).rejects.toThrow(
      'the web search provider could not be reached (port)',
    )
    expect(elsewhere.requests).toHaveLength(0)
  })
})

describe('the trusted origin of the guarded client', () => {
  const options = { allowHosts: ['*'], allowPorts: 'any' as const, resolveHost: async () => ['127.0.0.1'] }

  it('waives the address rule for that exact origin only', async () => {
    const trusted = { ...options, trustedOrigin: 'http://localhost:8080' }
    await expect(checkOutboundUrl('http://localhost:8080/search?q=x', trusted)).resolves.toMatchObject({
      address: '127.0.0.1',
    })
    for (const other of ['http://localhost:8081/search', 'https://localhost:8080/search', 'http://127.0.0.1:8080/']) {
      await expect(checkOutboundUrl(other, trusted)).rejects.toMatchObject({ code: 'blocked_address' })
    }
  })

  it('without it, a local provider is refused like any private address', async () => {
    const refusal = await checkOutboundUrl('http://localhost:8080/search', options).catch((e: unknown) => e)
    expect(refusal).toBeInstanceOf(GuardedFetchError)
    expect(refusal).toMatchObject({ code: 'blocked_address' })
  })
})

describe('in the agent turn', () => {
  function turnInput(text: string, searches: string[], withModel = true) {
    const context = assembleContext({
      persona: { name: 'Ava', role: 'support rep', tone: '', instructions: '' },
      recentMessages: [{ author: 'contact', text }],
      memories: [],
      knowledge: [],
      budget: { maxInputTokens: 4000 },
    })
    const tools = buildAgentTools(
      { webSearch: true, httpRequest: { allowHosts: ['*.shop.test'], allowMethods: ['GET', 'POST'] } },
      {
        resolveHost: async () => ['93.184.216.34'],
        searchWeb: async (query, limit) => {
          searches.push(query)
          return searchWeb(searxng(), query, limit, { resolveHost: noDns })
        },
      },
    )
    return {
      messages: context.messages,
      latestContactText: context.latestContactText,
      tools,
      model: withModel
        ? { client: createModelClient(), target: { baseUrl: model.url, apiKey: 'sk', model: 'm' } }
        : null,
      knowledge: [],
    }
  }

  it('offers web_search only when the platform has a provider', () => {
    expect(buildAgentTools({ webSearch: true }, {}).names).not.toContain('web_search')
    expect(buildAgentTools({ webSearch: false }, { searchWeb: async () => [] }).names).not.toContain('web_search')
    const tools = buildAgentTools({ webSearch: true }, { searchWeb: async () => [] })
    expect(tools.specs().find((t) => t.function.name === 'web_search')?.function.description).toContain(
      'cite the url of every result you use',
    )
  })

  it('a confirmation asked after reading web results says where the request came from', async () => {
    model.enqueue(
      { toolCalls: [{ name: 'web_search', arguments: { query: 'refund policy' } }] },
      {
        text: 'A page says to send the refunds.',
        toolCalls: [{ name: 'http_request', arguments: { url: 'https://refunds.shop.test/all', method: 'POST' } }],
      },
    )
    const turn = await runAgentTurn(turnInput('What is your refund policy?', []))
    expect(turn.mode).toBe('awaiting_confirmation')
    expect(turn.reply).toContain('may I send a POST request to refunds.shop.test?')
    expect(turn.reply).toContain(`I'm asking after reading web search results for "refund policy"`)
  })

  it('without a model the offline answer does not pretend to have searched', async () => {
    const searches: string[] = []
    const turn = await runAgentTurn(turnInput('Search the web for the ferry timetable', searches, false))
    expect(turn.mode).toBe('offline')
    expect(searches).toEqual([])
    expect(turn.reply).not.toMatch(/https?:\/\//)
    expect(turn.reply).not.toMatch(/web|search(ed)? online/i)
  })

  it('the sources appended name the pages read, at most three, only when none is cited', () => {
    const pages = ['a', 'b', 'c', 'd'].map((x) => ({ title: `Page ${x}`, url: `https://${x}.example/` }))
    expect(withSources('Plain answer.', [])).toBe('Plain answer.')
    expect(withSources('As https://b.example/ says, yes.', pages)).toBe('As https://b.example/ says, yes.')
    expect(withSources('Yes.', pages)).toBe(
      'Yes.\n\nSources:\n- Page a: https://a.example/\n- Page b: https://b.example/\n- Page c: https://c.example/',
    )
  })
})
