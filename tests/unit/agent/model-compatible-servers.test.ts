// Why the model client reads the stream itself instead of using the `openai` SDK's client
// (whose types it uses): OpenAI-compatible servers bend the format, Ollama most of all.
// Each case is played by the fake server to both, the same bytes: our client reads the
// answer the server meant, the SDK's stream reader does not. Should a new SDK version
// read all three, these tests say so, and the own reader can go.
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createModelClient, type ModelTarget } from '../../../shared/agent/model.ts'
import { startFakeOpenAI, type FakeOpenAI, type FakeTurn } from '../../fakes/fake-openai.ts'

let fake: FakeOpenAI
let target: ModelTarget

beforeAll(async () => {
  fake = await startFakeOpenAI()
  target = { baseUrl: fake.url, apiKey: 'sk-test', model: 'llama3.2' }
})
afterAll(async () => {
  await fake.close()
})

const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }]
const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
]

const sse = (...chunks: unknown[]) =>
  chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('') + 'data: [DONE]\n\n'
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'llama3.2',
  choices: [{ index: 0, delta, finish_reason: finish }],
})

/** Our client's reading of one scripted answer. */
async function ours(turn: FakeTurn) {
  fake.enqueue(turn)
  const result = await createModelClient().complete(target, { messages, tools })
  return { content: result.content, toolCalls: result.toolCalls.map((c) => c.function) }
}

/** The SDK's reading of the same answer: its final completion, or the error it threw. */
async function sdk(turn: FakeTurn) {
  fake.enqueue(turn)
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 })
  try {
    const stream = client.chat.completions.stream({ model: 'llama3.2', messages, tools })
    const final = await stream.finalChatCompletion()
    const message = final.choices[0]?.message
    return {
      content: message?.content ?? '',
      toolCalls: (message?.tool_calls ?? []).map((c) => ('function' in c ? c.function : null)),
    }
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) }
  }
}

describe('servers that bend the OpenAI format', () => {
  it('tool calls without `index`, one whole call per chunk', async () => {
    const raw = sse(
      chunk({ role: 'assistant', content: '' }),
      chunk({
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
        ],
      }),
      chunk({
        tool_calls: [
          { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lyon"}' } },
        ],
      }),
      chunk({}, 'tool_calls'),
    )
    const turn: FakeTurn = { raw, contentType: 'text/event-stream' }
    const meant = [
      { name: 'get_weather', arguments: '{"city":"Paris"}' },
      { name: 'get_weather', arguments: '{"city":"Lyon"}' },
    ]
    expect((await ours(turn)).toolCalls).toEqual(meant)
    // The SDK loses both calls: 7.x throws "invalid tool call index", 6.x ends with none.
    const read = await sdk(turn)
    const lost = read.error?.includes('invalid tool call index') || read.toolCalls?.length === 0
    expect(lost, JSON.stringify(read)).toBe(true)
  })

  it('tool call arguments sent as an object, not a JSON string', async () => {
    const raw = sse(
      chunk({
        role: 'assistant',
        content: '',
        tool_calls: [
          { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } },
        ],
      }),
      chunk({}, 'tool_calls'),
    )
    const turn: FakeTurn = { raw, contentType: 'text/event-stream' }
    const read = await ours(turn)
    expect(read.toolCalls).toEqual([{ name: 'get_weather', arguments: '{"city":"Paris"}' }])
    expect(JSON.parse(read.toolCalls[0]!.arguments)).toEqual({ city: 'Paris' })
    // The SDK concatenates the object as a string: the call's arguments are lost.
    expect(await sdk(turn)).toEqual({ content: '', toolCalls: [{ name: 'get_weather', arguments: '[object Object]' }] })
  })

  it('a plain JSON answer to a stream request', async () => {
    const raw = JSON.stringify({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'llama3.2',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Sunny, 21 °C.' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
    })
    const turn: FakeTurn = { raw, contentType: 'application/json' }
    expect(await ours(turn)).toEqual({ content: 'Sunny, 21 °C.', toolCalls: [] })
    // The SDK reads only server-sent events: a JSON body is no answer at all to it.
    expect(await sdk(turn)).toEqual({ error: expect.stringContaining('without sending any chunks') })
  })

  it('a server that keeps to the format is read alike by both', async () => {
    const turn: FakeTurn = { text: 'Sunny in Paris.' }
    expect(await ours(turn)).toEqual({ content: 'Sunny in Paris.', toolCalls: [] })
    expect(await sdk(turn)).toEqual({ content: 'Sunny in Paris.', toolCalls: [] })
  })
})
