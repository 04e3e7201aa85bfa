// The check a tenant-chosen model endpoint (model_settings.base_url of a tenant or an
// agent) passes before every call. The platform's own OPENAI_BASE_URL is the
// operator's choice and is not checked.
//
// A tenant's endpoint must be https (it receives the tenant's key), on any port, at a
// name that resolves only to public unicast addresses (shared/net/ip-address.ts):
// never loopback, private ranges or the cloud metadata address. An operator who runs
// models next to the platform (the local stack, tests, an Ollama on the same host)
// sets MODEL_ALLOW_LOCAL_ENDPOINTS=true, and then any http(s) endpoint is called.

import { checkOutboundUrl, type ResolveHost } from '../net/guarded-fetch.ts'
import type { EndpointGuard } from './model.ts'

export function tenantModelEndpointGuard(options: {
  allowLocalEndpoints: boolean
  resolveHost?: ResolveHost
}): EndpointGuard | null {
  if (options.allowLocalEndpoints) return null
  const resolveHost: ResolveHost =
    options.resolveHost ??
    (async () => {
      throw new Error('no resolver: a tenant endpoint cannot be checked')
    })
  return async (url) => {
    await checkOutboundUrl(url, { allowHosts: ['*'], allowPorts: 'any', schemes: ['https:'], resolveHost })
  }
}
