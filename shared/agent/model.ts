// A client for any OpenAI-compatible `/chat/completions` endpoint (OpenAI,
// Ollama, vLLM, LiteLLM …), written against plain fetch so the same code runs
// in the Deno edge function and in Node tests.
//
// One call = one attempt on the primary model and, if that fails for any
// reason (HTTP error, 429, timeout, broken stream), one attempt on the
// fallback model. Retrying later is the queue's job (visibility timeout), not
// ours: an edge function has a wall clock to respect.
//
// Streaming is always requested with `stream_options.include_usage`; a
// server that ignores it still works, and its usage is then estimated.
//
// The request and the answer are typed with the `openai` SDK's types (types only: no
// runtime code of it is loaded). The SDK's own client is not used because compatible
// servers bend the format in ways its stream reader does not survive, and this reader
// does (tests/unit/agent/model-compatible-servers.test.ts shows each): tool calls
// without `index` (whole calls in one chunk), `arguments` sent as an object instead of
// a JSON string, and a plain JSON answer to a stream request (Ollama sends all three).

import type OpenAI from 'openai'
import type { ChatMessage, ToolCallRequest, ToolSpec } from './chat.ts'
import { readServerSentEvents } from './sse.ts'
import { estimateMessagesTokens, estimateTokens } from './tokens.ts'

/**
 * Checks an endpoint someone other than the operator chose (a tenant's or agent's
 * base_url) before each call; throws to refuse it. See tenantModelEndpointGuard.
 */
export type EndpointGuard = (url: string) => Promise<void>

/** Where to send a call; tenant/agent overrides are resolved by the caller. */
export interface ModelEndpoint {
  /** e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1 */
  baseUrl: string
  apiKey?: string | null
  model: string
  /**
   * Set for a tenant-chosen endpoint: the URL is checked before the call, and a failure
   * is reported only as 'unavailable' (no status, no timing), so the audit log a tenant
   * reads cannot be used to map what answers where.
   */
  guard?: EndpointGuard | null
}

export interface ModelTarget extends ModelEndpoint {
  /** Tried once when the primary fails; base URL and key default to the primary's. */
  fallback?: { model: string; baseUrl?: string; apiKey?: string | null; guard?: EndpointGuard | null } | null
}

export interface ChatCompletionRequest {
  messages: readonly ChatMessage[]
  tools?: readonly ToolSpec[]
  /** 'none' forces a text answer (used on the loop's last step). */
  toolChoice?: 'auto' | 'none'
  temperature?: number
  maxOutputTokens?: number
}

export interface CallOptions {
  /** Per attempt, covering the whole streamed answer. */
  timeoutMs?: number
  signal?: AbortSignal
  /** Streamed text as it arrives, for progressively updated channel messages. */
  onTextDelta?: (text: string) => void
  /** Called when a fallback attempt starts after deltas were already streamed. */
  onRestart?: () => void
}

export interface Usage {
  promptTokens: number
  completionTokens: number
  /** True when the server sent no usage and the numbers are our estimate. */
  estimated: boolean
}

export type ModelErrorKind =
  | 'http'
  | 'rate_limited'
  | 'timeout'
  | 'network'
  | 'malformed'
  | 'cancelled'
  /** A tenant-chosen endpoint that failed, for whatever reason (see ModelEndpoint.guard). */
  | 'unavailable'

export class ModelError extends Error {
  constructor(
    readonly kind: ModelErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message)
    this.name = 'ModelError'
  }
}

export interface ModelAttempt {
  model: string
  ok: boolean
  errorKind?: ModelErrorKind
  status?: number | null
  /** Absent for a failed call to a tenant-chosen endpoint. */
  latencyMs?: number
}

export interface ChatCompletionResult {
  /** The model that answered (the fallback's name when it was used). */
  model: string
  content: string
  toolCalls: ToolCallRequest[]
  finishReason: string | null
  usage: Usage
  usedFallback: boolean
  attempts: ModelAttempt[]
  latencyMs: number
}

/** A failure of every attempt; carries the attempts for the audit log. */
export class ModelCallFailed extends Error {
  constructor(
    readonly attempts: ModelAttempt[],
    readonly lastError: ModelError,
  ) {
    super(`model call failed: ${lastError.message}`)
    this.name = 'ModelCallFailed'
  }
}

export interface ModelClientDeps {
  fetch?: typeof fetch
  /** Milliseconds clock for latency and Retry-After dates; Date.now by default. */
  now?: () => number
}

export interface ModelClient {
  complete(target: ModelTarget, request: ChatCompletionRequest, options?: CallOptions): Promise<ChatCompletionResult>
}

export const DEFAULT_MODEL_TIMEOUT_MS = 60_000

export function chatCompletionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/chat/completions`
}

function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds)
  const date = Date.parse(value)
  return Number.isFinite(date) ? Math.max(0, Math.ceil((date - now) / 1000)) : null
}

type ChunkToolCall = OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall

/**
 * A streamed tool call as compatible servers send it: the SDK's, except that `index`
 * may be missing (a whole call per chunk) and `arguments` may be an object.
 */
type LenientToolCall = Omit<ChunkToolCall, 'index' | 'function'> & {
  index?: number
  function?: { name?: string; arguments?: string | Record<string, unknown> }
}

/** One stream chunk, or a whole answer (`message` instead of `delta`) from a server that did not stream. */
type LenientChunk = Partial<Pick<OpenAI.ChatCompletionChunk, 'usage'>> & {
  error?: unknown
  choices?: Array<{
    index?: number
    delta?: Omit<OpenAI.ChatCompletionChunk.Choice.Delta, 'tool_calls'> & { tool_calls?: LenientToolCall[] }
    message?: Omit<OpenAI.ChatCompletionMessage, 'tool_calls'> & { tool_calls?: LenientToolCall[] }
    finish_reason?: string | null
  }>
}

interface PartialToolCall {
  id: string
  name: string
  arguments: string
}

interface StreamState {
  content: string
  toolCalls: Map<number, PartialToolCall>
  finishReason: string | null
  usage: { promptTokens: number; completionTokens: number } | null
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function readUsage(value: unknown): StreamState['usage'] {
  if (!isRecord(value)) return null
  const { prompt_tokens: prompt, completion_tokens: completion } = value as Partial<OpenAI.CompletionUsage>
  if (typeof prompt !== 'number' || typeof completion !== 'number') return null
  return { promptTokens: prompt, completionTokens: completion }
}

/** Folds one chunk's choice delta (or a whole non-streamed message) into the state. */
function applyToolCallDeltas(state: StreamState, deltas: LenientToolCall[] | undefined) {
  if (!Array.isArray(deltas)) return
  deltas.forEach((delta, position) => {
    if (!isRecord(delta)) return
    const fn: NonNullable<LenientToolCall['function']> = isRecord(delta.function) ? delta.function : {}
    const index = typeof delta.index === 'number' ? delta.index : slotWithoutIndex(state, delta, fn.name, position)
    const existing = state.toolCalls.get(index) ?? { id: '', name: '', arguments: '' }
    if (typeof delta.id === 'string' && delta.id) existing.id = delta.id
    if (typeof fn.name === 'string' && fn.name) existing.name = existing.name ? existing.name : fn.name
    if (typeof fn.arguments === 'string') existing.arguments += fn.arguments
    else if (isRecord(fn.arguments)) existing.arguments += JSON.stringify(fn.arguments) // Ollama-style objects
    state.toolCalls.set(index, existing)
  })
}

/**
 * Where a tool call sent without `index` belongs (servers that send whole calls, one or
 * several per chunk, in one chunk or across chunks): the call with the same id; a new id
 * or a name starts the next call; a bare fragment continues the last one.
 */
function slotWithoutIndex(state: StreamState, delta: LenientToolCall, name: unknown, position: number): number {
  const slots = [...state.toolCalls.keys()]
  if (delta.id) {
    for (const [slot, call] of state.toolCalls) if (call.id === delta.id) return slot
  }
  if (delta.id || (typeof name === 'string' && name)) return slots.length ? Math.max(...slots) + 1 : position
  return slots.length ? Math.max(...slots) : position
}

function applyChunk(state: StreamState, value: unknown, onTextDelta?: (text: string) => void) {
  if (!isRecord(value)) throw new ModelError('malformed', 'stream chunk is not an object')
  const chunk = value as LenientChunk
  if (isRecord(chunk.error)) throw new ModelError('http', 'server reported an error mid-stream')
  const usage = readUsage(chunk.usage)
  if (usage) state.usage = usage
  const choices = Array.isArray(chunk.choices) ? chunk.choices : []
  for (const choice of choices) {
    if (!isRecord(choice) || (typeof choice.index === 'number' && choice.index !== 0)) continue
    const none: { content?: unknown; tool_calls?: LenientToolCall[] } = {}
    const delta = isRecord(choice.delta) ? choice.delta : isRecord(choice.message) ? choice.message : none
    if (typeof delta.content === 'string' && delta.content) {
      state.content += delta.content
      onTextDelta?.(delta.content)
    }
    applyToolCallDeltas(state, delta.tool_calls)
    if (typeof choice.finish_reason === 'string') state.finishReason = choice.finish_reason
  }
}

function finishToolCalls(state: StreamState): ToolCallRequest[] {
  return [...state.toolCalls.entries()]
    .sort(([a], [b]) => a - b)
    .filter(([, call]) => call.name)
    .map(([index, call]) => ({
      id: call.id || `call_${index}`,
      type: 'function' as const,
      function: { name: call.name, arguments: call.arguments },
    }))
}

async function attempt(
  endpoint: ModelEndpoint,
  request: ChatCompletionRequest,
  options: CallOptions,
  deps: Required<ModelClientDeps>,
): Promise<Omit<ChatCompletionResult, 'usedFallback' | 'attempts' | 'latencyMs'>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_MODEL_TIMEOUT_MS
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  const onOuterAbort = () => controller.abort()
  if (options.signal?.aborted) controller.abort()
  options.signal?.addEventListener('abort', onOuterAbort, { once: true })
  const failure = (error: unknown): ModelError => {
    if (error instanceof ModelError) return error
    if (timedOut) return new ModelError('timeout', `no complete answer within ${timeoutMs} ms`)
    if (options.signal?.aborted) return new ModelError('cancelled', 'the call was cancelled')
    return new ModelError('network', 'could not reach the model server')
  }

  const body: OpenAI.ChatCompletionCreateParamsStreaming = {
    model: endpoint.model,
    messages: [...request.messages],
    stream: true,
    stream_options: { include_usage: true },
  }
  if (request.tools?.length) {
    body.tools = [...request.tools]
    body.tool_choice = request.toolChoice ?? 'auto'
  }
  if (request.temperature !== undefined) body.temperature = request.temperature
  if (request.maxOutputTokens !== undefined) body.max_completion_tokens = request.maxOutputTokens

  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' }
  if (endpoint.apiKey) headers.authorization = `Bearer ${endpoint.apiKey}`

  const state: StreamState = { content: '', toolCalls: new Map(), finishReason: null, usage: null }
  try {
    const url = chatCompletionsUrl(endpoint.baseUrl)
    await endpoint.guard?.(url)
    const response = await deps.fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: controller.signal,
      // A redirect would carry the key to, and a guarded call past, a place nobody checked.
      redirect: 'manual',
    })
    if (!response.ok) {
      await response.body?.cancel().catch(() => {})
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'), deps.now())
      const kind = response.status === 429 ? 'rate_limited' : 'http'
      throw new ModelError(kind, `model server answered ${response.status}`, response.status, retryAfter)
    }
    const contentType = response.headers.get('content-type') ?? ''
    if (!response.body) throw new ModelError('malformed', 'empty response')
    if (contentType.includes('application/json')) {
      // A server (or proxy) that ignored `stream: true` and answered in one piece.
      let parsed: unknown
      try {
        parsed = await response.json()
      } catch (error) {
        if (timedOut || options.signal?.aborted) throw error
        throw new ModelError('malformed', 'response is not JSON')
      }
      applyChunk(state, parsed, options.onTextDelta)
    } else {
      let sawDone = false
      for await (const data of readServerSentEvents(response.body)) {
        if (data.trim() === '[DONE]') {
          sawDone = true
          break
        }
        let chunk: unknown
        try {
          chunk = JSON.parse(data)
        } catch {
          throw new ModelError('malformed', 'stream chunk is not JSON')
        }
        applyChunk(state, chunk, options.onTextDelta)
      }
      // Without [DONE] or a finish reason the stream was cut short.
      if (!sawDone && !state.finishReason) throw new ModelError('malformed', 'stream ended early')
    }
  } catch (error) {
    throw failure(error)
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onOuterAbort)
  }

  const toolCalls = finishToolCalls(state)
  const usage: Usage = state.usage
    ? { ...state.usage, estimated: false }
    : {
        promptTokens:
          estimateMessagesTokens(request.messages) +
          (request.tools ? estimateTokens(JSON.stringify(request.tools)) : 0),
        completionTokens: estimateMessagesTokens([{ content: state.content, tool_calls: toolCalls }]),
        estimated: true,
      }
  return { model: endpoint.model, content: state.content, toolCalls, finishReason: state.finishReason, usage }
}

export function createModelClient(deps: ModelClientDeps = {}): ModelClient {
  const resolved: Required<ModelClientDeps> = {
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    now: deps.now ?? (() => Date.now()),
  }
  return {
    async complete(target, request, options = {}) {
      const endpoints: ModelEndpoint[] = [target]
      if (target.fallback?.model) {
        endpoints.push({
          model: target.fallback.model,
          baseUrl: target.fallback.baseUrl ?? target.baseUrl,
          apiKey: target.fallback.apiKey === undefined ? target.apiKey : target.fallback.apiKey,
          guard: target.fallback.guard === undefined ? target.guard : target.fallback.guard,
        })
      }
      const attempts: ModelAttempt[] = []
      const started = resolved.now()
      let streamed = false
      let lastError: ModelError | null = null
      for (const endpoint of endpoints) {
        if (streamed) options.onRestart?.()
        streamed = false
        const attemptStarted = resolved.now()
        try {
          const result = await attempt(
            endpoint,
            request,
            {
              ...options,
              onTextDelta: (text) => {
                streamed = true
                options.onTextDelta?.(text)
              },
            },
            resolved,
          )
          attempts.push({ model: endpoint.model, ok: true, latencyMs: resolved.now() - attemptStarted })
          return {
            ...result,
            usedFallback: endpoint !== target,
            attempts,
            latencyMs: resolved.now() - started,
          }
        } catch (error) {
          let modelError = error instanceof ModelError ? error : new ModelError('network', String(error))
          if (endpoint.guard && modelError.kind !== 'cancelled') {
            modelError = new ModelError('unavailable', 'the configured model endpoint could not be used')
            attempts.push({ model: endpoint.model, ok: false, errorKind: 'unavailable', status: null })
          } else {
            attempts.push({
              model: endpoint.model,
              ok: false,
              errorKind: modelError.kind,
              status: modelError.status,
              latencyMs: resolved.now() - attemptStarted,
            })
          }
          lastError = modelError
          if (modelError.kind === 'cancelled') break
        }
      }
      throw new ModelCallFailed(attempts, lastError!)
    },
  }
}
