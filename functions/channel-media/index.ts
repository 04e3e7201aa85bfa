// channel-media: the bytes of a customer's attachment for a member who may read the message
// (see shared/channels/handlers/channel-media.ts). The handler verifies the caller's session itself (JWKS).
import { channelMediaConfigFromEnv, createChannelMediaHandler } from '../../shared/channels/handlers/channel-media.ts'

async function resolveHost(hostname: string): Promise<string[]> {
  const lookups = await Promise.allSettled([Deno.resolveDns(hostname, 'A'), Deno.resolveDns(hostname, 'AAAA')])
  return lookups.flatMap((lookup) => (lookup.status === 'fulfilled' ? lookup.value : []))
}

Deno.serve(createChannelMediaHandler(channelMediaConfigFromEnv(Deno.env.toObject()), { resolveHost }))
