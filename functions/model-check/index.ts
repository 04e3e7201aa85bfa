// model-check: tests model settings before the settings page saves them (see
// shared/agent/model-check-function.ts). The handler verifies the caller's session itself (JWKS); owners and admins only.
import { createModelCheckHandler, modelCheckConfigFromEnv } from '../../shared/agent/model-check-function.ts'

async function resolveHost(hostname: string): Promise<string[]> {
  const lookups = await Promise.allSettled([Deno.resolveDns(hostname, 'A'), Deno.resolveDns(hostname, 'AAAA')])
  return lookups.flatMap((lookup) => (lookup.status === 'fulfilled' ? lookup.value : []))
}

Deno.serve(createModelCheckHandler(modelCheckConfigFromEnv(Deno.env.toObject()), { resolveHost }))
