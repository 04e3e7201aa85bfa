// The agent worker: woken by pg_net after a message is enqueued and by the pg_cron
// safety net; drains agent_jobs and knowledge_jobs (shared/agent/worker/).
// verify_jwt = false: the worker checks its callers itself (a wake-up signed with
// KONSTRUCT_WORKER_SECRET, or the service role key); waking it is not for anon callers.
// It calls the api with the project's secret key.
import { serviceApi } from '../../shared/api/project.ts'
import { createAgentStore } from '../../shared/agent/store.ts'
import { createAgentWorker } from '../../shared/agent/worker/agent-worker.ts'
import { readWorkerConfig } from '../../shared/agent/worker/config.ts'
import { createReplyDeliveries } from '../../shared/agent/worker/deliveries.ts'

const config = readWorkerConfig(Deno.env.toObject())
const store = createAgentStore(serviceApi(config.project))

async function resolveHost(hostname: string): Promise<string[]> {
  const lookups = await Promise.allSettled([Deno.resolveDns(hostname, 'A'), Deno.resolveDns(hostname, 'AAAA')])
  return lookups.flatMap((lookup) => (lookup.status === 'fulfilled' ? lookup.value : []))
}

const worker = createAgentWorker({
  store,
  config,
  resolveHost,
  deliveries: createReplyDeliveries({
    getChannelToken: (connectionId) => store.getChannelToken(connectionId),
    progressStore: (tenantId, messageId) => store.progressStore(tenantId, messageId),
    slackApiUrl: config.slackApiUrl,
    whatsappApiUrl: config.whatsappApiUrl,
    whatsappApiVersion: config.whatsappApiVersion,
  }),
})

Deno.serve(worker.handle)
