// The agent worker: the queue consumer behind functions/agent-worker. pg_net wakes it
// right after a job is enqueued, pg_cron wakes it as a safety net; each wake-up drains
// agent_jobs (then knowledge_jobs) in batches for as long as its time budget allows.
//
// It is three parts: the executor (./executor.ts: claim, dispatch, complete, retry,
// dead-letter), one module per job kind (./jobs/), each given the same context
// (./context.ts), and the HTTP door (./door.ts).

import { createWorkerContext, type AgentWorkerDeps, type WorkerContext } from './context.ts'
import { createJobExecutor, type BatchReport, type JobKinds } from './executor.ts'
import { createWorkerDoor } from './door.ts'
import { contactProfileJob } from './jobs/contact-profile.ts'
import { deliverJob } from './jobs/deliver.ts'
import { distilMemoriesJob } from './jobs/distil-memories.ts'
import { notifyHandoffJob } from './jobs/notify-handoff.ts'
import { processSourceJob } from './jobs/process-source.ts'
import { replyContextLimits, replyJob } from './jobs/reply.ts'
import { verifyWhatsAppChannelJob } from './jobs/verify-whatsapp-channel.ts'
import { whatsAppTypingJob } from './jobs/whatsapp-typing.ts'
import type { QueueName } from '../store.ts'

export type { AgentWorkerDeps } from './context.ts'

/** Every kind of job the worker knows, by the `kind` the database enqueues it with. */
export function jobKinds(ctx: WorkerContext): JobKinds {
  return {
    reply: replyJob(ctx),
    deliver: deliverJob(ctx),
    distil_memories: distilMemoriesJob(ctx),
    notify_handoff: notifyHandoffJob(ctx),
    verify_whatsapp_channel: verifyWhatsAppChannelJob(ctx),
    process_source: processSourceJob(ctx),
    contact_profile: contactProfileJob(ctx),
    whatsapp_typing: whatsAppTypingJob(ctx),
  }
}

export function createAgentWorker(deps: AgentWorkerDeps) {
  const ctx = createWorkerContext(deps)
  const executor = createJobExecutor({
    queues: ctx.store,
    kinds: jobKinds(ctx),
    settings: ctx.config,
    replyContext: replyContextLimits(ctx.config),
    now: ctx.now,
    log: ctx.log,
  })
  const drains: readonly QueueName[] = deps.queues ?? ['agent_jobs', 'knowledge_jobs']
  const runOnce = (queues: readonly QueueName[] = drains): Promise<BatchReport> => executor.drain(queues)
  // A wake-up names its queue first; a worker drains only its own queues.
  const drainOwn = (order: readonly QueueName[]) => runOnce(order.filter((queue) => drains.includes(queue)))
  const handle = createWorkerDoor({ config: ctx.config, drain: drainOwn, now: ctx.now, log: ctx.log })
  return { handle, runOnce }
}
