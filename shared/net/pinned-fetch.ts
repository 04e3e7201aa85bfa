// One HTTP request sent to exactly the address the guard checked (guarded-fetch.ts).
//
// Web fetch resolves the host name again when it connects, so a name that answers a public
// address to the check and 127.0.0.1 to the connection (DNS rebinding) would get through.
// Here the connection never asks DNS: undici's connector is given a lookup that can only
// answer the checked address, while the URL, the Host header, TLS's server name and the
// certificate check all keep the host name as written. undici runs under Node and under
// Deno's node compatibility alike, so the edge functions and the tests share this path.

import { Agent, fetch as undiciFetch } from 'undici'

export interface PinnedFetchOptions {
  /** Extra PEM root certificates to trust (a test's own CA); the system roots stay trusted. */
  caCerts?: readonly string[]
}

type LookupCallback = (
  error: Error | null,
  address: string | Array<{ address: string; family: number }>,
  family?: number,
) => void

/** A DNS lookup that knows one answer: the address that was checked. */
function onlyAddress(address: string) {
  const family = address.includes(':') ? 6 : 4
  return (_hostname: string, options: { all?: boolean } | number | undefined, callback: LookupCallback) => {
    // Node's happy-eyeballs connect asks for every address at once ({ all: true }).
    if (typeof options === 'object' && options?.all) callback(null, [{ address, family }])
    else callback(null, address, family)
  }
}

/**
 * Sends `init` to `url`, connecting to `address` (an IP the caller checked) instead of
 * resolving `url`'s host. Redirects are not followed (the caller re-checks each hop).
 */
export async function pinnedFetch(
  url: URL,
  address: string,
  init: RequestInit,
  options: PinnedFetchOptions = {},
): Promise<Response> {
  const agent = new Agent({
    connect: {
      lookup: onlyAddress(address) as never,
      ...(options.caCerts?.length ? { ca: [...options.caCerts] } : {}),
    },
    // One request per agent: nothing is pooled across checks.
    connections: 1,
    pipelining: 0,
  })
  try {
    const response = await undiciFetch(url, {
      method: init.method,
      headers: init.headers as never,
      body: init.body as never,
      redirect: 'manual',
      signal: init.signal ?? undefined,
      dispatcher: agent,
    })
    // close() waits for the body to be read (or cancelled) before it ends the connection.
    void agent.close().catch(() => {})
    return response as unknown as Response
  } catch (error) {
    void agent.destroy().catch(() => {})
    throw error
  }
}
