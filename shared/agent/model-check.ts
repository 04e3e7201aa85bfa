// Tests a model endpoint and key the moment an admin saves them: one tiny
// `/chat/completions` request (one output token) through the guarded client, and a
// result a person can act on ("the endpoint refused the key"), so a mistyped key or
// URL is caught at the settings page instead of by a customer waiting for a reply.
//
// The URL is someone else's choice, so it goes through shared/net's guarded client:
// public addresses only, the URL's own host and port, no redirect to a private
// address. Hosts the platform operator runs itself (a local Ollama, the platform's
// own endpoint) are named in `trustedHosts` and may be private.
//
// Provider error text is logged by the caller, never returned: the result carries our
// own sentence and the HTTP status.

import { guardedFetch, GuardedFetchError, type ResolveHost } from '../net/guarded-fetch.ts'

export type ModelCheckOutcome =
  | 'ok'
  | 'offline'
  | 'key_refused'
  | 'not_found'
  | 'rate_limited'
  | 'rejected'
  | 'server_error'
  | 'not_openai_compatible'
  | 'refused_address'
  | 'invalid_url'
  | 'unreachable'
  | 'timeout'

export interface ModelCheckResult {
  ok: boolean
  outcome: ModelCheckOutcome
  /** A sentence for the settings page. */
  message: string
  status: number | null
  model: string | null
}

export interface ModelCheckTarget {
  baseUrl: string
  apiKey: string | null
  model: string
}

export interface ModelCheckDeps {
  resolveHost: ResolveHost
  /** Hosts (as in the URL) that may resolve to private or loopback addresses. */
  trustedHosts?: readonly string[]
  fetch?: typeof fetch
  timeoutMs?: number
}

function result(outcome: ModelCheckOutcome, message: string, status: number | null, model: string | null) {
  return { ok: outcome === 'ok' || outcome === 'offline', outcome, message, status, model }
}

export const OFFLINE_RESULT: ModelCheckResult = result(
  'offline',
  'No model is configured: agents answer in offline mode, quoting your knowledge.',
  null,
  null,
)

export async function checkModelEndpoint(target: ModelCheckTarget, deps: ModelCheckDeps): Promise<ModelCheckResult> {
  const model = target.model
  let url: URL
  try {
    url = new URL(`${target.baseUrl.replace(/\/+$/, '')}/chat/completions`)
  } catch {
    return result('invalid_url', 'The base URL is not a valid URL.', null, model)
  }
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  const trusted = (deps.trustedHosts ?? []).some(
    (h) => h === '*' || h.trim().toLowerCase() === url.hostname.toLowerCase(),
  )
  const timeoutMs = deps.timeoutMs ?? 15_000
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`
  const body = JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'Reply with the word OK.' }],
    max_tokens: 1,
    stream: false,
  })
  let response
  try {
    response = trusted
      ? await trustedFetch(url, headers, body, deps.fetch ?? fetch, timeoutMs)
      : await guardedFetch(
          url.href,
          { method: 'POST', headers, body },
          {
            allowHosts: [url.hostname],
            allowPorts: [port],
            // As the worker calls a tenant's endpoint: https only (it carries the key).
            schemes: ['https:'],
            resolveHost: deps.resolveHost,
            fetch: deps.fetch,
            maxRedirects: 0,
            maxResponseBytes: 256 * 1024,
            timeoutMs,
          },
        )
  } catch (error) {
    if (!(error instanceof GuardedFetchError))
      return result('unreachable', 'The endpoint could not be reached.', null, model)
    switch (error.code) {
      case 'timeout':
        return result(
          'timeout',
          `The endpoint did not answer within ${Math.round(timeoutMs / 1000)} seconds.`,
          null,
          model,
        )
      case 'blocked_address':
        return result(
          'refused_address',
          'The base URL points to a private or local address, which agents may not call. Use a public address, or ask the platform operator to trust this host.',
          null,
          model,
        )
      case 'scheme':
        return result('invalid_url', 'A model endpoint must use https (it receives your key).', null, model)
      case 'invalid_url':
      case 'credentials':
      case 'obscure_ip':
        return result('invalid_url', 'The base URL is not a usable http(s) URL.', null, model)
      case 'too_many_redirects':
        return result('not_openai_compatible', 'The endpoint redirected elsewhere; enter the final URL.', null, model)
      case 'dns':
        return result('unreachable', `The host ${url.hostname} could not be found.`, null, model)
      default:
        return result('unreachable', 'The endpoint could not be reached.', null, model)
    }
  }
  const status = response.status
  if (status === 401 || status === 403) {
    return result('key_refused', `The endpoint refused the API key (HTTP ${status}). Check the key.`, status, model)
  }
  if (status === 404) {
    return result(
      'not_found',
      `The endpoint answered 404: check the base URL (it usually ends in /v1) and that the model “${model}” exists.`,
      status,
      model,
    )
  }
  if (status === 429) {
    return result(
      'rate_limited',
      'The endpoint is rate limiting this key or its quota is used up (HTTP 429).',
      status,
      model,
    )
  }
  if (status >= 500)
    return result('server_error', `The endpoint failed (HTTP ${status}). Try again later.`, status, model)
  if (status >= 400) {
    return result(
      'rejected',
      `The endpoint refused the request (HTTP ${status}): check the model name “${model}”.`,
      status,
      model,
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(response.text())
  } catch {
    parsed = null
  }
  const choices = (parsed as { choices?: unknown } | null)?.choices
  if (status < 200 || status >= 300 || !Array.isArray(choices)) {
    return result(
      'not_openai_compatible',
      'The endpoint answered, but not like an OpenAI-compatible API.',
      status,
      model,
    )
  }
  return result('ok', `The model “${model}” answered.`, status, model)
}

/** For hosts the operator trusts: plain fetch, same deadline and size limit, no redirects. */
async function trustedFetch(
  url: URL,
  headers: Record<string, string>,
  body: string,
  doFetch: typeof fetch,
  timeoutMs: number,
) {
  const signal = AbortSignal.timeout(timeoutMs)
  let response: Response
  try {
    response = await doFetch(url.href, { method: 'POST', headers, body, redirect: 'manual', signal })
  } catch {
    throw new GuardedFetchError(signal.aborted ? 'timeout' : 'network', 'the request failed')
  }
  let text: string
  try {
    text = (await response.text()).slice(0, 256 * 1024)
  } catch {
    throw new GuardedFetchError(signal.aborted ? 'timeout' : 'network', 'reading the response failed')
  }
  return { status: response.status, text: () => text }
}
