// An outbound HTTP client for requests whose target someone else chose (a
// model's tool call, a knowledge URL an admin pasted). It only goes to hosts
// on an explicit allow-list, never to private, loopback, link-local or other
// non-public addresses, and checks again on every redirect hop.
//
// Rules, in order, for every hop:
//   1. scheme is http or https; no user:password@ in the URL;
//   2. the host as written is not a percent-encoded or numeric-but-obscure IP
//      ("2130706433", "0x7f.1", "0177.0.0.1", "127.1");
//   3. the port is one of `allowPorts` (80/443 by default);
//   4. the host matches the allow-list (exact, or "*.suffix" for subdomains);
//   5. an IP-literal host, and every address the injected resolver returns for
//      a name, is public unicast (see ip-address.ts); one bad address refuses all;
//   6. redirects are followed by hand (redirect: 'manual'), at most
//      `maxRedirects`, each Location going through rules 1–5 again;
//   7. one deadline covers all hops and the body; the body is read up to
//      `maxResponseBytes` and refused beyond it.
//
// An origin the operator configured (a web search provider from the environment, never a
// tenant's or a model's choice) may be named as `trustedOrigin`: rule 5 is skipped for
// that exact origin (scheme, host and port), so a self-hosted service on localhost or a
// private network is reachable. Every other origin, a redirect target included, still
// passes every rule, so the trust never extends past what the operator wrote.
//
// Known limit: Web fetch re-resolves the name itself, so a DNS answer that
// changes between our check and its connect (rebinding with TTL 0) is not
// caught here. Closing that needs connecting to the checked address, which
// the Web fetch API cannot do; the allow-list is the main defence.

import { blockedAddressReason, looksLikeNumericIPv4, parseIpAddress, parseLegacyIPv4 } from './ip-address.ts'

export type GuardedFetchRefusal =
  | 'invalid_url'
  | 'scheme'
  | 'credentials'
  | 'obscure_ip'
  | 'port'
  | 'host_not_allowed'
  | 'blocked_address'
  | 'dns'
  | 'too_many_redirects'
  | 'too_large'
  | 'timeout'
  | 'network'

export class GuardedFetchError extends Error {
  constructor(
    readonly code: GuardedFetchRefusal,
    message: string,
  ) {
    super(message)
    this.name = 'GuardedFetchError'
  }
}

/** Resolves a host name to its IPv4/IPv6 addresses (Deno.resolveDns, node:dns lookup …). */
export type ResolveHost = (hostname: string) => Promise<readonly string[]>

export interface GuardedFetchOptions {
  /**
   * "api.example.com" matches only itself; "*.example.com" matches its subdomains, not the
   * apex; "*" alone matches any name (the address checks still apply).
   */
  allowHosts: readonly string[]
  resolveHost: ResolveHost
  fetch?: typeof fetch
  /** Ports that may be reached; 'any' for endpoints a tenant runs on its own port. */
  allowPorts?: readonly number[] | 'any'
  /** 'https:' alone for endpoints that carry credentials (a model's API key). */
  schemes?: readonly ('http:' | 'https:')[]
  /** An operator-configured origin ("http://localhost:8080") exempt from rule 5; see above. */
  trustedOrigin?: string
  maxRedirects?: number
  maxResponseBytes?: number
  timeoutMs?: number
  signal?: AbortSignal
}

export interface GuardedRequest {
  method?: string
  headers?: Record<string, string>
  body?: string
}

export interface GuardedResponse {
  status: number
  headers: Headers
  /** The URL that finally answered, after redirects. */
  url: string
  redirects: string[]
  body: Uint8Array
  text(): string
}

const DEFAULT_PORTS = [80, 443]
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
// Never carried to another origin on a redirect.
const ORIGIN_BOUND_HEADERS = ['authorization', 'cookie', 'proxy-authorization']

export function normalizeHostPattern(pattern: string): string {
  return pattern.trim().toLowerCase().replace(/\.$/, '')
}

/** Rule 4: exact match or "*.suffix" (subdomains only). */
export function hostMatchesAllowList(hostname: string, allowHosts: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '')
  return allowHosts.some((raw) => {
    const pattern = normalizeHostPattern(raw)
    if (!pattern) return false
    if (pattern === '*') return true
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(1) // ".example.com"
      return host.length > suffix.length && host.endsWith(suffix)
    }
    return host === pattern
  })
}

/** The host exactly as written in the URL text, before any normalisation. */
function rawHostOf(url: string): string | null {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#\\]*)/i.exec(url.trim())
  if (!match) return null
  const authority = match[1]!
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1)
  if (hostPort.startsWith('[')) return hostPort.slice(0, hostPort.indexOf(']') + 1)
  const colon = hostPort.lastIndexOf(':')
  return colon >= 0 ? hostPort.slice(0, colon) : hostPort
}

function hostWithoutBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
}

/** Rules 1–5 for one URL; returns the parsed URL when it may be fetched. */
export async function checkOutboundUrl(
  rawUrl: string,
  options: Pick<GuardedFetchOptions, 'allowHosts' | 'resolveHost' | 'allowPorts' | 'schemes' | 'trustedOrigin'>,
): Promise<URL> {
  let url: URL
  try {
    url = new URL(rawUrl)
  } catch {
    throw new GuardedFetchError('invalid_url', 'not a valid URL')
  }
  if (!(options.schemes ?? ['http:', 'https:']).includes(url.protocol as 'http:' | 'https:')) {
    throw new GuardedFetchError('scheme', `scheme ${url.protocol} is not allowed`)
  }
  if (url.username || url.password) throw new GuardedFetchError('credentials', 'credentials in URLs are not allowed')

  const rawHost = rawHostOf(rawUrl) ?? url.hostname
  if (rawHost.includes('%')) throw new GuardedFetchError('obscure_ip', 'percent-encoded hosts are not allowed')
  if (!rawHost.startsWith('[') && looksLikeNumericIPv4(rawHost) && rawHost.replace(/\.$/, '') !== url.hostname) {
    const target = parseLegacyIPv4(rawHost)
    const where = target ? ` (it means ${target.join('.')})` : ''
    throw new GuardedFetchError('obscure_ip', `numeric host ${rawHost} is not in dotted-decimal form${where}`)
  }

  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
  const ports = options.allowPorts ?? DEFAULT_PORTS
  if (ports !== 'any' && !ports.includes(port)) {
    throw new GuardedFetchError('port', `port ${port} is not allowed`)
  }

  const hostname = url.hostname.replace(/\.$/, '')
  if (!hostMatchesAllowList(hostname, options.allowHosts)) {
    throw new GuardedFetchError('host_not_allowed', `host ${hostname} is not on the allow-list`)
  }

  if (options.trustedOrigin !== undefined && url.origin === options.trustedOrigin) return url

  const literal = parseIpAddress(hostWithoutBrackets(hostname))
  let addresses: readonly string[]
  if (literal) {
    addresses = [hostWithoutBrackets(hostname)]
  } else {
    try {
      addresses = await options.resolveHost(hostname)
    } catch {
      throw new GuardedFetchError('dns', `could not resolve ${hostname}`)
    }
    if (addresses.length === 0) throw new GuardedFetchError('dns', `${hostname} has no addresses`)
  }
  for (const address of addresses) {
    const reason = blockedAddressReason(address)
    if (reason) throw new GuardedFetchError('blocked_address', `${hostname} resolves to a ${reason} address`)
  }
  return url
}

async function readLimited(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw new GuardedFetchError('too_large', `response is larger than ${maxBytes} bytes`)
  }
  if (!response.body) return new Uint8Array(0)
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new GuardedFetchError('too_large', `response is larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  const body = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.byteLength
  }
  return body
}

// A hanging DNS resolver must not outlive the deadline.
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, reason: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(reason())
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason())
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** Fetches `rawUrl` under rules 1–7; throws GuardedFetchError on any refusal. */
export async function guardedFetch(
  rawUrl: string,
  request: GuardedRequest,
  options: GuardedFetchOptions,
): Promise<GuardedResponse> {
  const doFetch = options.fetch ?? fetch
  const maxRedirects = options.maxRedirects ?? 3
  const maxBytes = options.maxResponseBytes ?? 1024 * 1024
  const timeoutMs = options.timeoutMs ?? 10_000

  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, timeoutMs)
  const onOuterAbort = () => controller.abort()
  options.signal?.addEventListener('abort', onOuterAbort, { once: true })

  let method = (request.method ?? 'GET').toUpperCase()
  let body = request.body
  let headers = { ...(request.headers ?? {}) }
  const redirects: string[] = []
  let current = rawUrl

  try {
    for (;;) {
      const url = await untilAborted(checkOutboundUrl(current, options), controller.signal, () =>
        timedOut
          ? new GuardedFetchError('timeout', `no complete response within ${timeoutMs} ms`)
          : new GuardedFetchError('network', 'the request was cancelled'),
      )
      let response: Response
      try {
        response = await doFetch(url.href, {
          method,
          headers,
          body: method === 'GET' || method === 'HEAD' ? undefined : body,
          redirect: 'manual',
          signal: controller.signal,
        })
      } catch (error) {
        if (timedOut) throw new GuardedFetchError('timeout', `no complete response within ${timeoutMs} ms`)
        if (error instanceof GuardedFetchError) throw error
        throw new GuardedFetchError('network', 'the request failed')
      }

      // A browser-style opaque redirect hides Location, so it cannot be checked.
      if (response.type === 'opaqueredirect') {
        throw new GuardedFetchError('too_many_redirects', 'redirect target cannot be inspected')
      }
      const location = response.headers.get('location')
      if (REDIRECT_STATUSES.has(response.status) && location) {
        await response.body?.cancel().catch(() => {})
        if (redirects.length >= maxRedirects) {
          throw new GuardedFetchError('too_many_redirects', `more than ${maxRedirects} redirects`)
        }
        const next = new URL(location, url)
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
          if (method !== 'HEAD') method = 'GET'
          body = undefined
        }
        if (next.origin !== url.origin) {
          headers = Object.fromEntries(
            Object.entries(headers).filter(([name]) => !ORIGIN_BOUND_HEADERS.includes(name.toLowerCase())),
          )
        }
        redirects.push(next.href)
        // Keep the Location as written when it names a host, so rule 2 sees its raw spelling.
        current = /^[a-z][a-z0-9+.-]*:/i.test(location)
          ? location
          : location.startsWith('//')
            ? `${url.protocol}${location}`
            : next.href
        continue
      }

      let bytes: Uint8Array
      try {
        bytes = await readLimited(response, maxBytes)
      } catch (error) {
        if (error instanceof GuardedFetchError) throw error
        if (timedOut) throw new GuardedFetchError('timeout', `no complete response within ${timeoutMs} ms`)
        throw new GuardedFetchError('network', 'reading the response failed')
      }
      return {
        status: response.status,
        headers: response.headers,
        url: url.href,
        redirects,
        body: bytes,
        text: () => new TextDecoder().decode(bytes),
      }
    }
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onOuterAbort)
  }
}
