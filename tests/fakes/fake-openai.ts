// A fake OpenAI-compatible server for tests, on 127.0.0.1 and a free port.
// It plays turns a test scripts (text, streamed text, tool calls, errors,
// hangs, malformed output), records every request it receives, and serves
// deterministic embeddings. With nothing scripted it answers with a short
// echo of the last user message, so a pipeline test needs no script at all.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { estimateMessagesTokens, estimateTokens } from '../../shared/agent/tokens.ts'

export interface ScriptedToolCall {
  name: string
  /** An object is JSON-encoded; a string is sent as is (so it can be malformed on purpose). */
  arguments: string | Record<string, unknown>
  id?: string
}

export type FakeTurn =
  | {
      text: string
      toolCalls?: undefined
      /** Characters per streamed chunk; 8 by default. */
      chunkSize?: number
      /** Stream this many chunks, then stop sending without ending the response. */
      stallAfterChunks?: number
      /** Leave usage out even when the client asked for it. */
      omitUsage?: boolean
      finishReason?: string
    }
  | { toolCalls: ScriptedToolCall[]; text?: string; omitUsage?: boolean }
  | { status: number; body?: unknown; retryAfter?: string | number }
  | { hang: true }
  | { raw: string; contentType?: string }

export interface RecordedRequest {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  body: any
}

export interface StartFakeOpenAIOptions {
  /** Dimensions of embeddings when the request does not say; 1536 like text-embedding-3-small. */
  embeddingDimensions?: number
  /** Delay before answering each request, in ms; 0 by default. */
  latencyMs?: number
}

export interface FakeOpenAI {
  /** Base URL including /v1, as OPENAI_BASE_URL expects. */
  url: string
  requests: RecordedRequest[]
  /** Only the chat completion requests' bodies, in order. */
  chatRequests(): any[]
  /** Adds turns answered in order by the next chat completion requests. */
  enqueue(...turns: FakeTurn[]): void
  /** Decides the turn when the queue is empty (default: echo the last user message). */
  respondWith(responder: ((body: any) => FakeTurn) | null): void
  /** Makes the next `count` requests (chat or embeddings) fail with `status` (or hang). */
  failNext(count: number, failure: { status: number; retryAfter?: number } | 'hang'): void
  latencyMs: number
  close(): Promise<void>
}

function defaultTurn(body: any): FakeTurn {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : []
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user')
  const said = typeof lastUser?.content === 'string' ? lastUser.content : ''
  return { text: `Fake reply to: ${said.slice(0, 200)}` }
}

/** Deterministic unit vectors: hashed bag of words, so similar texts land near each other. */
export function fakeEmbedding(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0)
  const fnv = (s: string) => {
    let hash = 0x811c9dc5
    for (let i = 0; i < s.length; i++) {
      hash ^= s.charCodeAt(i)
      hash = Math.imul(hash, 0x01000193) >>> 0
    }
    return hash
  }
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [text]
  for (const word of words) {
    const hash = fnv(word)
    vector[hash % dimensions]! += hash & 0x80000000 ? -1 : 1
    vector[fnv(`${word}#2`) % dimensions]! += 0.5
  }
  const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0)) || 1
  return vector.map((v) => v / norm)
}

async function readBody(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  if (!text) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function startFakeOpenAI(options: StartFakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = []
  const queue: FakeTurn[] = []
  const failures: Array<{ status: number; retryAfter?: number } | 'hang'> = []
  const sockets = new Set<Socket>()
  let responder: ((body: any) => FakeTurn) | null = null
  let counter = 0

  const fake: FakeOpenAI = {
    url: '',
    requests,
    chatRequests: () => requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.body),
    enqueue: (...turns) => void queue.push(...turns),
    respondWith: (fn) => void (responder = fn),
    failNext: (count, failure) => {
      for (let i = 0; i < count; i++) failures.push(failure)
    },
    latencyMs: options.latencyMs ?? 0,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }

  const sendFailure = (res: ServerResponse, turn: { status: number; body?: unknown; retryAfter?: string | number }) => {
    const headers: Record<string, string> = {}
    if (turn.retryAfter !== undefined) headers['retry-after'] = String(turn.retryAfter)
    const body = turn.body ?? {
      error: { message: `scripted failure ${turn.status}`, type: 'server_error', code: String(turn.status) },
    }
    sendJson(res, turn.status, body, headers)
  }

  const chatCompletion = async (res: ServerResponse, body: any) => {
    const turn = queue.shift() ?? (responder ?? defaultTurn)(body)
    if ('hang' in turn) return // never answered; close() or the client's abort ends it
    if ('status' in turn) return sendFailure(res, turn)
    if ('raw' in turn) {
      res.writeHead(200, { 'content-type': turn.contentType ?? 'text/event-stream' })
      res.end(turn.raw)
      return
    }

    const id = `chatcmpl-fake-${++counter}`
    const created = Math.floor(Date.now() / 1000)
    const model = String(body?.model ?? 'fake-model')
    const text = turn.text ?? ''
    const toolCalls = (turn.toolCalls ?? []).map((call, i) => ({
      id: call.id ?? `call_fake_${counter}_${i}`,
      type: 'function' as const,
      function: {
        name: call.name,
        arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments),
      },
    }))
    const finishReason = ('finishReason' in turn && turn.finishReason) || (toolCalls.length ? 'tool_calls' : 'stop')
    const usage = {
      prompt_tokens: estimateMessagesTokens(Array.isArray(body?.messages) ? body.messages : []),
      completion_tokens: estimateTokens(text) + toolCalls.reduce((n, c) => n + estimateTokens(c.function.arguments), 0),
      total_tokens: 0,
    }
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens

    if (!body?.stream) {
      const message: Record<string, unknown> = { role: 'assistant', content: text || (toolCalls.length ? null : '') }
      if (toolCalls.length) message.tool_calls = toolCalls
      const response: Record<string, unknown> = {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message, finish_reason: finishReason }],
      }
      if (!turn.omitUsage) response.usage = usage
      return sendJson(res, 200, response)
    }

    const includeUsage = Boolean(body?.stream_options?.include_usage) && !turn.omitUsage
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    const send = (choices: unknown[], extra: Record<string, unknown> = {}) => {
      const chunk: Record<string, unknown> = { id, object: 'chat.completion.chunk', created, model, choices, ...extra }
      if (includeUsage && !('usage' in extra)) chunk.usage = null
      res.write(`data: ${JSON.stringify(chunk)}\n\n`)
    }
    const chunkSize = ('chunkSize' in turn && turn.chunkSize) || 8
    const stallAfter = 'stallAfterChunks' in turn ? turn.stallAfterChunks : undefined
    let sent = 0

    send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }])
    for (let i = 0; i < text.length; i += chunkSize) {
      if (stallAfter !== undefined && sent >= stallAfter) return // keep the response open, silent
      send([{ index: 0, delta: { content: text.slice(i, i + chunkSize) }, finish_reason: null }])
      sent++
    }
    toolCalls.forEach((call, index) => {
      send([
        {
          index: 0,
          delta: {
            tool_calls: [
              { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } },
            ],
          },
          finish_reason: null,
        },
      ])
      // Arguments arrive in pieces, as real servers send them.
      const args = call.function.arguments
      const piece = Math.max(1, Math.ceil(args.length / 3))
      for (let i = 0; i < args.length; i += piece) {
        send([
          {
            index: 0,
            delta: { tool_calls: [{ index, function: { arguments: args.slice(i, i + piece) } }] },
            finish_reason: null,
          },
        ])
      }
    })
    send([{ index: 0, delta: {}, finish_reason: finishReason }])
    if (includeUsage) send([], { usage })
    res.write('data: [DONE]\n\n')
    res.end()
  }

  const embeddings = (res: ServerResponse, body: any) => {
    const inputs: string[] = Array.isArray(body?.input) ? body.input.map(String) : [String(body?.input ?? '')]
    const dimensions = Number(body?.dimensions) || options.embeddingDimensions || 1536
    const tokens = inputs.reduce((n, text) => n + estimateTokens(text), 0)
    sendJson(res, 200, {
      object: 'list',
      model: String(body?.model ?? 'fake-embedding'),
      data: inputs.map((text, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(text, dimensions) })),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    })
  }

  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    const body = await readBody(req)
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body })
    if (fake.latencyMs > 0) await sleep(fake.latencyMs)

    const failure = failures.shift()
    if (failure === 'hang') return
    if (failure) return sendFailure(res, failure)

    if (req.method === 'POST' && path === '/v1/chat/completions') return chatCompletion(res, body)
    if (req.method === 'POST' && path === '/v1/embeddings') return embeddings(res, body)
    if (req.method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: [{ id: 'fake-model', object: 'model', owned_by: 'fake' }] })
    }
    sendJson(res, 404, { error: { message: 'not found', type: 'invalid_request_error' } })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
  return fake
}
