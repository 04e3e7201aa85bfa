// The fake itself, and the embeddings client against it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { embedTexts } from '../../../shared/agent/embeddings.ts'
import { ModelError } from '../../../shared/agent/model.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../../fakes/fake-openai.ts'

let fake: FakeOpenAI
beforeAll(async () => {
  fake = await startFakeOpenAI({ embeddingDimensions: 32 })
})
afterAll(async () => {
  await fake.close()
})
beforeEach(() => {
  fake.requests.length = 0
  fake.latencyMs = 0
  fake.respondWith(null)
})

const post = (path: string, body: unknown) =>
  fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

describe('fake OpenAI server', () => {
  it('answers non-streaming requests with a tool call and usage', async () => {
    fake.enqueue({ toolCalls: [{ name: 'knowledge_search', arguments: { query: 'x' }, id: 'call_a' }] })
    const body = await (
      await post('/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    ).json()
    expect(body.object).toBe('chat.completion')
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'knowledge_search', arguments: '{"query":"x"}' } },
        ],
      },
    })
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens)
  })

  it('streams chunks in the OpenAI shape, with a usage-only final chunk only when asked', async () => {
    fake.enqueue({ text: 'abcdefghij', chunkSize: 5 })
    const withUsage = await (
      await post('/chat/completions', {
        model: 'm',
        stream: true,
        stream_options: { include_usage: true },
        messages: [],
      })
    ).text()
    const chunks = withUsage
      .split('\n\n')
      .filter(Boolean)
      .map((event) => event.replace(/^data: /, ''))
    expect(chunks.at(-1)).toBe('[DONE]')
    const parsed = chunks.slice(0, -1).map((c) => JSON.parse(c))
    expect(parsed[0].choices[0].delta).toEqual({ role: 'assistant', content: '' })
    expect(parsed.slice(1, 3).map((c) => c.choices[0].delta.content)).toEqual(['abcde', 'fghij'])
    expect(parsed.at(-2).choices[0]).toEqual({ index: 0, delta: {}, finish_reason: 'stop' })
    expect(parsed.at(-1).choices).toEqual([])
    expect(parsed.at(-1).usage.completion_tokens).toBeGreaterThan(0)
    expect(parsed.slice(0, -1).every((c) => c.usage === null)).toBe(true)

    fake.enqueue({ text: 'abc' })
    const withoutUsage = await (await post('/chat/completions', { model: 'm', stream: true, messages: [] })).text()
    expect(withoutUsage).not.toContain('"usage"')
  })

  it('echoes the last user message when nothing is scripted, or asks the responder', async () => {
    const echoed = await (
      await post('/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'ping' }] })
    ).json()
    expect(echoed.choices[0].message.content).toBe('Fake reply to: ping')
    fake.respondWith((body) => ({ text: `model was ${body.model}` }))
    const custom = await (await post('/chat/completions', { model: 'x1', messages: [] })).json()
    expect(custom.choices[0].message.content).toBe('model was x1')
  })

  it('fails on demand for chat and embeddings, and records every request', async () => {
    fake.failNext(2, { status: 429, retryAfter: 3 })
    const first = await post('/chat/completions', { model: 'm', messages: [] })
    expect(first.status).toBe(429)
    expect(first.headers.get('retry-after')).toBe('3')
    expect((await post('/embeddings', { model: 'e', input: 'x' })).status).toBe(429)
    expect((await post('/embeddings', { model: 'e', input: 'x' })).status).toBe(200)
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/embeddings', '/v1/embeddings'])
  })

  it('adds the configured latency', async () => {
    fake.latencyMs = 40
    const started = performance.now()
    await post('/embeddings', { model: 'e', input: 'x' })
    expect(performance.now() - started).toBeGreaterThanOrEqual(35)
  })
})

describe('embedTexts', () => {
  const endpoint = () => ({ baseUrl: fake.url, apiKey: 'sk-e', model: 'text-embedding-3-small' })

  it('returns one vector per input, in order, with usage', async () => {
    const result = await embedTexts(endpoint(), ['refund policy', 'shipping times', 'refund policy'])
    expect(result.embeddings).toHaveLength(3)
    expect(result.embeddings[0]).toHaveLength(32)
    expect(result.embeddings[0]).toEqual(result.embeddings[2])
    expect(result.embeddings[0]).not.toEqual(result.embeddings[1])
    expect(result.usage.estimated).toBe(false)
    expect(fake.requests[0]!.headers.authorization).toBe('Bearer sk-e')
  })

  it('passes dimensions through and skips empty input', async () => {
    const result = await embedTexts(endpoint(), ['a'], { dimensions: 8 })
    expect(result.embeddings[0]).toHaveLength(8)
    expect((await embedTexts(endpoint(), [])).embeddings).toEqual([])
  })

  it('reports errors, hangs and malformed answers as ModelError', async () => {
    fake.failNext(1, { status: 500 })
    await expect(embedTexts(endpoint(), ['a'])).rejects.toMatchObject({ kind: 'http', status: 500 })
    fake.failNext(1, 'hang')
    await expect(embedTexts(endpoint(), ['a'], { timeoutMs: 30 })).rejects.toMatchObject({ kind: 'timeout' })
    const wrong = (async () => new Response(JSON.stringify({ data: [{ index: 0, embedding: ['x'] }] }))) as typeof fetch
    const error = await embedTexts(endpoint(), ['a'], { fetch: wrong }).catch((e) => e)
    expect(error).toBeInstanceOf(ModelError)
    expect(error.kind).toBe('malformed')
  })
})
