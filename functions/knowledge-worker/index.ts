// The knowledge worker: reads uploaded and fetched documents into knowledge chunks
// (knowledge_jobs), woken by pg_net when a source is queued and by the pg_cron safety net.
// It runs apart from agent-worker, which answers customers: Supabase gives each function its
// own isolate and memory, so a hostile document (a decompression bomb, a huge page) can at
// worst take this function down, never the replies. The readers keep their own budgets on
// inflated bytes and pages (shared/agent/pdf-text.ts, office-zip.ts).
// verify_jwt = false: like agent-worker, it checks its callers itself (a wake-up signed with
// KONSTRUCT_WORKER_SECRET, or the service role key).
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
  queues: ['knowledge_jobs'],
  deliveries: createReplyDeliveries({
    getChannelToken: (connectionId) => store.getChannelToken(connectionId),
    progressStore: (tenantId, messageId) => store.progressStore(tenantId, messageId),
    slackApiUrl: config.slackApiUrl,
    whatsappApiUrl: config.whatsappApiUrl,
    whatsappApiVersion: config.whatsappApiVersion,
  }),
})

Deno.serve(worker.handle)
