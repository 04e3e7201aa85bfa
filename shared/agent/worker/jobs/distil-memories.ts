// The distil_memories job: once a conversation has gone quiet (the reply job schedules it
// with a delay), the model picks what is worth remembering about the contact, and each
// memory is saved with its embedding when an embeddings model is configured.

import { z } from 'zod'
import type { ConversationMessage } from '../../context.ts'
import { embedTexts } from '../../embeddings.ts'
import { distilContactMemories } from '../../memory.ts'
import { costOfCall } from '../../pricing.ts'
import type { WorkerContext } from '../context.ts'
import type { JobKind, JobRun } from '../executor.ts'
import { describeFailure } from '../failures.ts'
import { meterModelCalls } from '../records.ts'
import { toConversationMessage } from '../transcript.ts'
import { resolveModel } from '../turn-model.ts'

export const distilMemoriesJobSchema = z.object({
  kind: z.literal('distil_memories'),
  tenant_id: z.string().uuid(),
  conversation_id: z.string().uuid(),
  after_seq: z.number().int(),
})
export type DistilMemoriesJob = z.infer<typeof distilMemoriesJobSchema>

async function distil(ctx: WorkerContext, job: DistilMemoriesJob, run: JobRun): Promise<string> {
  const { store, config } = ctx
  const context = await store.getAgentContext(job.tenant_id, job.conversation_id, {
    messageLimit: config.historyMessages,
    memoryLimit: 50,
  })
  const agent = context.agent
  const contact = context.contact
  if (!agent || !contact) return 'skipped:no_agent_or_contact'
  // Not quiet after all: the reply to a later message scheduled a later distillation.
  if (context.messages.some((m) => m.seq > job.after_seq && m.author_kind === 'contact')) return 'skipped:not_quiet'
  const model = await resolveModel(ctx, context, agent)
  if (!model) return 'skipped:offline'
  // What this person learned about is what they said: in a thread with several people,
  // another person's words are never filed as this contact's memories.
  const transcript: ConversationMessage[] = context.messages
    .filter((m) => m.text && m.author_kind !== 'system')
    .filter((m) => m.author_kind !== 'contact' || !m.author_contact_id || m.author_contact_id === contact.id)
    .map(toConversationMessage)
  const result = await distilContactMemories({
    model: { client: ctx.modelClient, target: model.target },
    transcript,
    existingMemories: context.memories.map((m) => m.content),
    contactName: contact.display_name,
    timeoutMs: config.modelTimeoutMs,
  })
  if (result.completion) {
    const c = result.completion
    await meterModelCalls(
      ctx,
      [
        {
          model: c.model,
          usage: c.usage,
          costUsd: costOfCall(c.model, c.usage, model.prices),
          latencyMs: c.latencyMs,
          finishReason: c.finishReason,
          usedFallback: c.usedFallback,
          attempts: c.attempts,
        },
      ],
      {
        tenantId: job.tenant_id,
        agentId: agent.id,
        conversationId: job.conversation_id,
        keyPrefix: `memory:${run.jobId}:a${run.attempt}`,
      },
    )
  }
  let vectors: number[][] = []
  if (config.embeddings && result.memories.length) {
    try {
      vectors = (
        await embedTexts(
          config.embeddings,
          result.memories.map((m) => m.text),
          { fetch: ctx.fetch, dimensions: 1536 },
        )
      ).embeddings
    } catch (error) {
      ctx.log('agent-worker: memory embeddings failed; saving without', describeFailure(error))
    }
  }
  for (const [i, memory] of result.memories.entries()) {
    await store.saveMemory({
      tenantId: job.tenant_id,
      contactId: contact.id,
      agentId: agent.id,
      content: memory.text,
      embedding: vectors[i]?.length === 1536 ? vectors[i] : null,
      sourceConversationId: job.conversation_id,
    })
  }
  return `remembered:${result.memories.length}`
}

export function distilMemoriesJob(ctx: WorkerContext): JobKind<DistilMemoriesJob> {
  return { schema: distilMemoriesJobSchema, run: (job, run) => distil(ctx, job, run) }
}
