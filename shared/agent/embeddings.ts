// Embeddings through any OpenAI-compatible `/embeddings` endpoint, for
// knowledge chunks, memories and search queries. Same rules as the chat
// client: plain fetch, a timeout, failures as ModelError for the queue to
// retry; no fallback model, because vectors from two models don't mix.

import { ModelError, type ModelEndpoint } from './model.ts'
import { estimateTokens } from './tokens.ts'

export interface EmbedOptions {
  fetch?: typeof fetch
  timeoutMs?: number
  signal?: AbortSignal
  /** For models that can shorten their vectors (text-embedding-3-*), to fit the database column. */
  dimensions?: number
}

export interface EmbedResult {
  model: string
  embeddings: number[][]
  usage: { promptTokens: number; estimated: boolean }
}

export async function embedTexts(
  endpoint: ModelEndpoint,
  inputs: readonly string[],
  options: EmbedOptions = {},
): Promise<EmbedResult> {
  if (inputs.length === 0)
    return { model: endpoint.model, embeddings: [], usage: { promptTokens: 0, estimated: false } }
  const timeoutMs = options.timeoutMs ?? 30_000
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  const onOuterAbort = () => controller.abort()
  options.signal?.addEventListener('abort', onOuterAbort, { once: true })

  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (endpoint.apiKey) headers.authorization = `Bearer ${endpoint.apiKey}`
  const body: Record<string, unknown> = { model: endpoint.model, input: inputs, encoding_format: 'float' }
  if (options.dimensions) body.dimensions = options.dimensions

  let parsed: unknown
  try {
    const doFetch = options.fetch ?? fetch
    const response = await doFetch(`${endpoint.baseUrl.replace(/\/+$/, '')}/embeddings`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: controller.signal,
    })
    if (!response.ok) {
      await response.body?.cancel().catch(() => {})
      const kind = response.status === 429 ? 'rate_limited' : 'http'
      throw new ModelError(kind, `embedding server answered ${response.status}`, response.status)
    }
    try {
      parsed = await response.json()
    } catch (error) {
      if (timedOut || options.signal?.aborted) throw error
      throw new ModelError('malformed', 'embedding response is not JSON')
    }
  } catch (error) {
    if (error instanceof ModelError) throw error
    if (timedOut) throw new ModelError('timeout', `no embeddings within ${timeoutMs} ms`)
    if (options.signal?.aborted) throw new ModelError('cancelled', 'the call was cancelled')
    throw new ModelError('network', 'could not reach the embedding server')
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onOuterAbort)
  }

  const data = (parsed as { data?: unknown })?.data
  if (!Array.isArray(data) || data.length !== inputs.length) {
    throw new ModelError('malformed', 'embedding response has the wrong number of vectors')
  }
  const embeddings: number[][] = new Array(inputs.length)
  data.forEach((item, position) => {
    const index = typeof item?.index === 'number' ? item.index : position
    const vector = item?.embedding
    if (!Array.isArray(vector) || !vector.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new ModelError('malformed', 'embedding is not a list of numbers')
    }
    embeddings[index] = vector
  })
  if (embeddings.some((v) => !v) || new Set(embeddings.map((v) => v.length)).size !== 1) {
    throw new ModelError('malformed', 'embedding vectors are missing or of different sizes')
  }
  const reported = (parsed as { usage?: { prompt_tokens?: unknown } }).usage?.prompt_tokens
  const usage =
    typeof reported === 'number'
      ? { promptTokens: reported, estimated: false }
      : { promptTokens: inputs.reduce((n, text) => n + estimateTokens(text), 0), estimated: true }
  return { model: endpoint.model, embeddings, usage }
}
