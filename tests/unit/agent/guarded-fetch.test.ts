import { describe, expect, it } from 'vitest'
import {
  GuardedFetchError,
  guardedFetch,
  hostMatchesAllowList,
  type GuardedFetchOptions,
} from '../../../shared/net/guarded-fetch.ts'
import { blockedAddressReason, parseIPv6, parseLegacyIPv4 } from '../../../shared/net/ip-address.ts'

interface SeenRequest {
  url: string
  method: string
  headers: Record<string, string>
  body: string | null
}

/** A fetch that answers from a table of URL → handler and records what it was asked. */
function fakeFetch(routes: Record<string, (req: SeenRequest, signal: AbortSignal) => Response | Promise<Response>>) {
  const seen: SeenRequest[] = []
  const impl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input)
    const headers = Object.fromEntries(new Headers(init?.headers).entries())
    const req = { url, method: init?.method ?? 'GET', headers, body: (init?.body as string | undefined) ?? null }
    seen.push(req)
    expect(init?.redirect).toBe('manual')
    const handler = routes[url]
    if (!handler) return new Response('not found', { status: 404 })
    return handler(req, init!.signal!)
  }) as typeof fetch
  return { impl, seen }
}

const publicDns: Record<string, string[]> = {
  'api.example.com': ['93.184.216.34'],
  'docs.example.com': ['93.184.216.35', '2606:2800:220:1::1'],
  'evil.example.com': ['10.0.0.5'],
  'mixed.example.com': ['93.184.216.36', '127.0.0.1'],
  'mapped.example.com': ['::ffff:169.254.169.254'],
  'other.test': ['93.184.216.40'],
}

function options(overrides: Partial<GuardedFetchOptions> = {}): GuardedFetchOptions {
  return {
    allowHosts: ['api.example.com', '*.example.com'],
    resolveHost: async (host) => {
      const found = publicDns[host]
      if (!found) throw new Error('NXDOMAIN')
      return found
    },
    timeoutMs: 1_000,
    ...overrides,
  }
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (error) {
    if (error instanceof GuardedFetchError) return error.code
    throw error
  }
  throw new Error('expected a refusal')
}

describe('IP classification', () => {
  it.each([
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['0.0.0.0', 'this network'],
    ['0.1.2.3', 'this network'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped link-local'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'IPv4-mapped link-local'],
    ['[::ffff:10.0.0.1]', 'IPv4-mapped private'],
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 link-local'],
    ['2002:7f00:1::1', '6to4 loopback'],
    // The IANA special-purpose registries, beyond the obvious ranges:
    ['::ffff:0:127.0.0.1', 'IPv4-translated'],
    ['::ffff:0:a9fe:a9fe', 'IPv4-translated'],
    ['::ffff:0:8.8.8.8', 'IPv4-translated'],
    ['64:ff9b:1::a9fe:a9fe', 'local-use NAT64'],
    ['64:ff9b:1:ffff::7f00:1', 'local-use NAT64'],
    ['100::1', 'discard-only'],
    ['100:0:0:1::1', 'not global unicast'],
    ['5f00::1', 'segment routing'],
    ['4000::1', 'not global unicast'],
    ['2001::1', 'IETF protocol assignments'],
    ['2001:2::1', 'IETF protocol assignments'],
    ['2001:20::1', 'IETF protocol assignments'],
    ['3fff::1', 'documentation'],
    ['192.31.196.1', 'AS112'],
    ['192.52.193.1', 'AMT'],
    ['192.88.99.1', '6to4 relay anycast'],
    ['192.175.48.1', 'AS112'],
    ['fe80::1%eth0', 'not an IP address'],
    ['not-an-ip', 'not an IP address'],
    ['127.1', 'not an IP address'],
  ])('refuses %s (%s)', (address, reason) => {
    expect(blockedAddressReason(address)).toBe(reason)
  })

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '172.32.0.1',
    '100.128.0.1',
    '2606:2800:220:1::1',
    '2a00:1450:4001:80b::200e',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ])('allows public %s', (address) => {
    expect(blockedAddressReason(address)).toBeNull()
  })

  it('parses legacy numeric IPv4 spellings to the address they mean', () => {
    expect(parseLegacyIPv4('2130706433')?.join('.')).toBe('127.0.0.1')
    expect(parseLegacyIPv4('0x7f.1')?.join('.')).toBe('127.0.0.1')
    expect(parseLegacyIPv4('0177.0.0.1')?.join('.')).toBe('127.0.0.1')
    expect(parseLegacyIPv4('0xa9.0376.43518')?.join('.')).toBe('169.254.169.254')
    expect(parseLegacyIPv4('1.2.3.256')).toBeNull()
  })

  it('parses IPv6 forms and rejects malformed ones', () => {
    expect(parseIPv6('::1')?.[15]).toBe(1)
    expect(parseIPv6('1::2::3')).toBeNull()
    expect(parseIPv6('1:2:3:4:5:6:7:8:9')).toBeNull()
    expect(parseIPv6('12345::')).toBeNull()
  })
})

describe('allow-list matching', () => {
  it('matches exact hosts and *.suffix subdomains, not the apex or look-alikes', () => {
    const allow = ['api.example.com', '*.partner.org']
    expect(hostMatchesAllowList('api.example.com', allow)).toBe(true)
    expect(hostMatchesAllowList('API.Example.com.', allow)).toBe(true)
    expect(hostMatchesAllowList('example.com', allow)).toBe(false)
    expect(hostMatchesAllowList('evilapi.example.com', allow)).toBe(false)
    expect(hostMatchesAllowList('a.b.partner.org', allow)).toBe(true)
    expect(hostMatchesAllowList('partner.org', allow)).toBe(false)
    expect(hostMatchesAllowList('evilpartner.org', allow)).toBe(false)
    expect(hostMatchesAllowList('api.example.com.evil.net', allow)).toBe(false)
    expect(hostMatchesAllowList('anything', [])).toBe(false)
  })
})

describe('guardedFetch', () => {
  it('fetches an allowed public host and returns the body', async () => {
    const { impl, seen } = fakeFetch({ 'https://api.example.com/status': () => new Response('ok', { status: 200 }) })
    const response = await guardedFetch('https://api.example.com/status', {}, options({ fetch: impl }))
    expect(response.status).toBe(200)
    expect(response.text()).toBe('ok')
    expect(seen).toHaveLength(1)
  })

  it.each([
    ['file:///etc/passwd', 'scheme'],
    ['ftp://api.example.com/', 'scheme'],
    ['gopher://api.example.com/', 'scheme'],
    ['javascript:alert(1)', 'scheme'],
    ['https://user:pw@api.example.com/', 'credentials'],
    ['https://api.example.com@evil.test/', 'credentials'],
    ['not a url', 'invalid_url'],
    ['https://api.example.com:22/', 'port'],
    ['https://elsewhere.test/', 'host_not_allowed'],
    ['https://example.com.evil.test/', 'host_not_allowed'],
    ['http://127.0.0.1/', 'host_not_allowed'],
    ['http://169.254.169.254/latest/meta-data/', 'host_not_allowed'],
    ['http://2130706433/', 'obscure_ip'],
    ['http://0x7f000001/', 'obscure_ip'],
    ['http://0x7f.1/', 'obscure_ip'],
    ['http://0177.0.0.1/', 'obscure_ip'],
    ['http://127.1/', 'obscure_ip'],
    ['http://%31%32%37.0.0.1/', 'obscure_ip'],
    ['https://evil.example.com/', 'blocked_address'],
    ['https://mixed.example.com/', 'blocked_address'],
    ['https://mapped.example.com/', 'blocked_address'],
    ['https://missing.example.com/', 'dns'],
  ])('refuses %s (%s) without sending anything', async (url, code) => {
    const { impl, seen } = fakeFetch({})
    expect(await refusal(guardedFetch(url, {}, options({ fetch: impl })))).toBe(code)
    expect(seen).toHaveLength(0)
  })

  it('refuses private and loopback IP literals even when an admin allow-listed them', async () => {
    const { impl, seen } = fakeFetch({})
    const allowHosts = ['127.0.0.1', '169.254.169.254', '10.0.0.1', '[::1]', '[::ffff:7f00:1]', '[fe80::1]']
    for (const url of [
      'http://127.0.0.1/',
      'http://169.254.169.254/',
      'http://10.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[fe80::1]/',
    ]) {
      expect(await refusal(guardedFetch(url, {}, options({ fetch: impl, allowHosts })))).toBe('blocked_address')
    }
    expect(seen).toHaveLength(0)
  })

  it('follows an allowed redirect and re-checks each hop', async () => {
    const { impl, seen } = fakeFetch({
      'https://api.example.com/a': () => new Response(null, { status: 302, headers: { location: '/b' } }),
      'https://api.example.com/b': () =>
        new Response(null, { status: 301, headers: { location: 'https://docs.example.com/c' } }),
      'https://docs.example.com/c': () => new Response('done'),
    })
    const response = await guardedFetch('https://api.example.com/a', {}, options({ fetch: impl }))
    expect(response.text()).toBe('done')
    expect(response.url).toBe('https://docs.example.com/c')
    expect(response.redirects).toEqual(['https://api.example.com/b', 'https://docs.example.com/c'])
    expect(seen.map((r) => r.url)).toHaveLength(3)
  })

  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'host_not_allowed'],
    ['https://evil.example.com/', 'blocked_address'],
    ['http://[::ffff:a9fe:a9fe]/', 'host_not_allowed'],
    ['http://0x7f.1/', 'obscure_ip'],
    ['file:///etc/passwd', 'scheme'],
  ])('refuses a redirect to %s', async (location, code) => {
    const { impl, seen } = fakeFetch({
      'https://api.example.com/r': () => new Response(null, { status: 307, headers: { location } }),
    })
    expect(await refusal(guardedFetch('https://api.example.com/r', {}, options({ fetch: impl })))).toBe(code)
    expect(seen).toHaveLength(1)
  })

  it('bounds the number of redirects', async () => {
    const { impl, seen } = fakeFetch({
      'https://api.example.com/loop': () => new Response(null, { status: 302, headers: { location: '/loop' } }),
    })
    expect(
      await refusal(guardedFetch('https://api.example.com/loop', {}, options({ fetch: impl, maxRedirects: 2 }))),
    ).toBe('too_many_redirects')
    expect(seen).toHaveLength(3)
  })

  it('turns POST into GET on 303 and drops credentials when the origin changes', async () => {
    const { impl, seen } = fakeFetch({
      'https://api.example.com/form': () =>
        new Response(null, { status: 303, headers: { location: 'https://docs.example.com/done' } }),
      'https://docs.example.com/done': () => new Response('ok'),
    })
    await guardedFetch(
      'https://api.example.com/form',
      { method: 'POST', body: 'x=1', headers: { authorization: 'Bearer secret', 'x-trace': '1' } },
      options({ fetch: impl }),
    )
    expect(seen[0]).toMatchObject({ method: 'POST', body: 'x=1' })
    expect(seen[1]).toMatchObject({ method: 'GET', body: null })
    expect(seen[1]!.headers.authorization).toBeUndefined()
    expect(seen[1]!.headers['x-trace']).toBe('1')
  })

  it('refuses a response declared or streamed beyond the size limit', async () => {
    const big = 'x'.repeat(2048)
    const declared = fakeFetch({ 'https://api.example.com/big': () => new Response(big) })
    expect(
      await refusal(
        guardedFetch('https://api.example.com/big', {}, options({ fetch: declared.impl, maxResponseBytes: 1024 })),
      ),
    ).toBe('too_large')

    const streamed = fakeFetch({
      'https://api.example.com/stream': () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              controller.enqueue(new TextEncoder().encode(big))
            },
          }),
        ),
    })
    expect(
      await refusal(
        guardedFetch('https://api.example.com/stream', {}, options({ fetch: streamed.impl, maxResponseBytes: 1024 })),
      ),
    ).toBe('too_large')
  })

  it('times out a server that never answers, and a body that never ends', async () => {
    const hang = (_req: SeenRequest, signal: AbortSignal) =>
      new Promise<Response>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    const headersOnly = fakeFetch({ 'https://api.example.com/hang': hang })
    expect(
      await refusal(
        guardedFetch('https://api.example.com/hang', {}, options({ fetch: headersOnly.impl, timeoutMs: 30 })),
      ),
    ).toBe('timeout')

    const slowBody = fakeFetch({
      'https://api.example.com/slow': (_req, signal) =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('partial'))
              signal.addEventListener('abort', () => controller.error(signal.reason))
            },
          }),
        ),
    })
    expect(
      await refusal(guardedFetch('https://api.example.com/slow', {}, options({ fetch: slowBody.impl, timeoutMs: 30 }))),
    ).toBe('timeout')
  })

  it('times out a resolver that hangs', async () => {
    const { impl } = fakeFetch({})
    const resolveHost = () => new Promise<string[]>(() => {})
    expect(
      await refusal(guardedFetch('https://api.example.com/', {}, options({ fetch: impl, resolveHost, timeoutMs: 30 }))),
    ).toBe('timeout')
  })
})
