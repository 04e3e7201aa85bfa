// The check a tenant-chosen model endpoint (model_settings.base_url of a tenant or an
// agent) passes before every call. The platform's own OPENAI_BASE_URL is the
// operator's choice and is not checked.
//
// A tenant's endpoint must be https (it receives the tenant's key), on any port, at a
// name that resolves only to public unicast addresses (shared/net/ip-address.ts):
// never loopback, private ranges or the cloud metadata address. An operator who runs
// models next to the platform (the local stack, tests, an Ollama on the same host)
// sets MODEL_ALLOW_LOCAL_ENDPOINTS=true, and then any http(s) endpoint is called.

//
// The call then connects to the address that was checked, not to a second DNS answer
// (guarded-fetch.ts rule 8), so a rebinding name cannot turn it toward the platform.

import { checkOutboundUrl, fetchAtCheckedAddress, type ResolveHost } from '../net/guarded-fetch.ts'
import type { EndpointGuard } from './model.ts'

export function tenantModelEndpointGuard(options: {
  allowLocalEndpoints: boolean
  resolveHost?: ResolveHost
  /** Replaces the connection (tests that serve a named endpoint locally); see GuardedFetchOptions. */
  fetch?: typeof fetch
  caCerts?: readonly string[]
  blockedAddress?: (address: string) => string | null
}): EndpointGuard | null {
  if (options.allowLocalEndpoints) return null
  const resolveHost: ResolveHost =
    options.resolveHost ??
    (async () => {
      throw new Error('no resolver: a tenant endpoint cannot be checked')
    })
  return async (url) => {
    const target = await checkOutboundUrl(url, {
      allowHosts: ['*'],
      allowPorts: 'any',
      schemes: ['https:'],
      resolveHost,
      blockedAddress: options.blockedAddress,
    })
    return fetchAtCheckedAddress(target, options)
  }
}
