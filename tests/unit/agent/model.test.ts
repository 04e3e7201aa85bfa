import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createModelClient, ModelCallFailed, type ModelTarget } from '../../../shared/agent/model.ts'
import { costOfCall, DEFAULT_MODEL_PRICE, priceOfModel } from '../../../shared/agent/pricing.ts'
import { readServerSentEvents } from '../../../shared/agent/sse.ts'
import { fakeEmbedding, startFakeOpenAI, type FakeOpenAI } from '../../fakes/fake-openai.ts'

let fake: FakeOpenAI
let target: ModelTarget

beforeAll(async () => {
  fake = await startFakeOpenAI({ embeddingDimensions: 16 })
})
afterAll(async () => {
  await fake.close()
})
beforeEach(() => {
  fake.requests.length = 0
  target = { baseUrl: fake.url, apiKey: 'sk-test', model: 'gpt-4o-mini' }
})

const ask = [{ role: 'user' as const, content: 'What are your opening hours?' }]

function streamOf(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  return new ReadableStream({
    start(controller) {
      // Split awkwardly, including between \r and \n.
      for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7))
      controller.close()
    },
  })
}

describe('server-sent events', () => {
  it('parses data lines, multi-line data, comments and CRLF', async () => {
    const events: string[] = []
    const text = ': keep-alive\r\ndata: {"a":1}\r\n\r\ndata: line1\ndata: line2\n\nevent: x\ndata:[DONE]\n\n'
    for await (const data of readServerSentEvents(streamOf(text))) events.push(data)
    expect(events).toEqual(['{"a":1}', 'line1\nline2', '[DONE]'])
  })
})

describe('model client against the fake server', () => {
  it('streams text, reports usage from the final chunk and sends auth and stream options', async () => {
    fake.enqueue({ text: 'We are open 9 to 5, Monday to Friday.' })
    const deltas: string[] = []
    const result = await createModelClient().complete(target, { messages: ask }, { onTextDelta: (t) => deltas.push(t) })
    expect(result.content).toBe('We are open 9 to 5, Monday to Friday.')
    expect(deltas.length).toBeGreaterThan(1)
    expect(deltas.join('')).toBe(result.content)
    expect(result.finishReason).toBe('stop')
    expect(result.usage.estimated).toBe(false)
    expect(result.usage.promptTokens).toBeGreaterThan(0)
    expect(result.usedFallback).toBe(false)

    const request = fake.requests[0]!
    expect(request.headers.authorization).toBe('Bearer sk-test')
    expect(request.body).toMatchObject({ model: 'gpt-4o-mini', stream: true, stream_options: { include_usage: true } })
  })

  it('accumulates tool calls streamed in pieces across chunks', async () => {
    fake.enqueue({
      toolCalls: [
        { name: 'knowledge_search', arguments: { query: 'opening hours on public holidays' } },
        { name: 'escalate_to_human', arguments: { reason: 'wants a refund' }, id: 'call_two' },
      ],
    })
    const tools = [
      { type: 'function' as const, function: { name: 'knowledge_search', description: 'search', parameters: {} } },
    ]
    const result = await createModelClient().complete(target, { messages: ask, tools })
    expect(result.finishReason).toBe('tool_calls')
    expect(result.toolCalls).toHaveLength(2)
    expect(result.toolCalls[0]!.function).toEqual({
      name: 'knowledge_search',
      arguments: JSON.stringify({ query: 'opening hours on public holidays' }),
    })
    expect(result.toolCalls[1]!.id).toBe('call_two')
    expect(fake.chatRequests()[0].tool_choice).toBe('auto')
  })

  it('estimates usage when the server omits it', async () => {
    fake.enqueue({ text: 'Hello there, how can I help?', omitUsage: true })
    const result = await createModelClient().complete(target, { messages: ask })
    expect(result.usage.estimated).toBe(true)
    expect(result.usage.completionTokens).toBeGreaterThan(0)
    expect(result.usage.promptTokens).toBeGreaterThan(0)
  })

  it('accepts a server that answers with a single JSON body', async () => {
    const fetchJson = (async () =>
      new Response(
        JSON.stringify({
          choices: [{ index: 0, message: { role: 'assistant', content: 'one piece' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 11, completion_tokens: 2 },
        }),
        { headers: { 'content-type': 'application/json' } },
      )) as typeof fetch
    const result = await createModelClient({ fetch: fetchJson }).complete(target, { messages: ask })
    expect(result.content).toBe('one piece')
    expect(result.usage).toEqual({ promptTokens: 11, completionTokens: 2, estimated: false })
  })

  it('falls back to the fallback model on a 500 and records both attempts', async () => {
    fake.enqueue({ status: 500 }, { text: 'from the fallback' })
    const result = await createModelClient().complete(
      { ...target, fallback: { model: 'gpt-4.1-mini' } },
      { messages: ask },
    )
    expect(result.content).toBe('from the fallback')
    expect(result.model).toBe('gpt-4.1-mini')
    expect(result.usedFallback).toBe(true)
    expect(result.attempts.map((a) => [a.model, a.ok, a.errorKind ?? null])).toEqual([
      ['gpt-4o-mini', false, 'http'],
      ['gpt-4.1-mini', true, null],
    ])
    expect(fake.chatRequests().map((b) => b.model)).toEqual(['gpt-4o-mini', 'gpt-4.1-mini'])
  })

  it('times out a hanging server and falls back', async () => {
    fake.enqueue({ hang: true }, { text: 'fallback answered' })
    const result = await createModelClient().complete(
      { ...target, fallback: { model: 'backup' } },
      { messages: ask },
      { timeoutMs: 1_000 },
    )
    expect(result.content).toBe('fallback answered')
    expect(result.attempts[0]).toMatchObject({ ok: false, errorKind: 'timeout' })
  })

  it('times out a stream that stalls midway and tells the caller to restart its draft', async () => {
    fake.enqueue({ text: 'This answer will never finish streaming', stallAfterChunks: 2 }, { text: 'second try' })
    let restarts = 0
    const result = await createModelClient().complete(
      { ...target, fallback: { model: 'backup' } },
      { messages: ask },
      { timeoutMs: 1_000, onRestart: () => restarts++ },
    )
    expect(result.content).toBe('second try')
    expect(restarts).toBe(1)
  })

  it('reports 429 with Retry-After when every attempt fails', async () => {
    fake.enqueue({ status: 429, retryAfter: 7 })
    const error = await createModelClient()
      .complete(target, { messages: ask })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ModelCallFailed)
    const failed = error as ModelCallFailed
    expect(failed.lastError.kind).toBe('rate_limited')
    expect(failed.lastError.status).toBe(429)
    expect(failed.lastError.retryAfterSeconds).toBe(7)
    expect(failed.attempts).toHaveLength(1)
  })

  it('treats a truncated or non-JSON stream as malformed', async () => {
    fake.enqueue({ raw: 'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n' })
    const cut = await createModelClient()
      .complete(target, { messages: ask })
      .catch((e: ModelCallFailed) => e)
    expect((cut as ModelCallFailed).lastError.kind).toBe('malformed')

    fake.enqueue({ raw: 'data: not json\n\n' })
    const junk = await createModelClient()
      .complete(target, { messages: ask })
      .catch((e: ModelCallFailed) => e)
    expect((junk as ModelCallFailed).lastError.kind).toBe('malformed')
  })

  it('reports a server that cannot be reached as a network error', async () => {
    const error = await createModelClient()
      .complete({ ...target, baseUrl: 'http://127.0.0.1:9/v1' }, { messages: ask }, { timeoutMs: 2_000 })
      .catch((e: ModelCallFailed) => e)
    expect((error as ModelCallFailed).lastError.kind).toBe('network')
  })

  it('serves deterministic unit embeddings of the requested size', async () => {
    const response = await fetch(`${fake.url}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: ['refund policy', 'refund policy'] }),
    })
    const body = await response.json()
    expect(body.data).toHaveLength(2)
    expect(body.data[0].embedding).toHaveLength(16)
    expect(body.data[0].embedding).toEqual(body.data[1].embedding)
    const norm = Math.hypot(...(body.data[0].embedding as number[]))
    expect(norm).toBeCloseTo(1, 6)
    expect(fakeEmbedding('refund policy', 16)).toEqual(body.data[0].embedding)
  })
})

describe('pricing', () => {
  it('prices models by exact name or longest prefix, with a default for unknown models', () => {
    expect(priceOfModel('gpt-4o-mini-2024-07-18')).toEqual(priceOfModel('gpt-4o-mini'))
    expect(priceOfModel('gpt-4o-2024-08-06').inputPerMillion).toBe(2.5)
    expect(priceOfModel('llama3.1:8b')).toEqual(DEFAULT_MODEL_PRICE)
    expect(costOfCall('gpt-4o-mini', { promptTokens: 1_000_000, completionTokens: 1_000_000 })).toBeCloseTo(0.75, 6)
    expect(
      costOfCall(
        'llama3.1:8b',
        { promptTokens: 500, completionTokens: 500 },
        { llama: { inputPerMillion: 0, outputPerMillion: 0 } },
      ),
    ).toBe(0)
  })
})
