// A dead-lettered job tells the admins before it tells anyone else: the alert is recorded
// before the user's apology is queued for delivery, the message is marked failed, or the
// knowledge source is marked failed. Whoever sees the visible outcome (a portal, a test,
// the user in their channel while another worker delivers the apology) must find the alert
// already there; a native server delivered the apology before the alert existed.
import { describe, expect, test } from 'vitest'
import type { WorkerContext } from '../../../shared/agent/worker/context.ts'
import type { DeadLetter } from '../../../shared/agent/worker/executor.ts'
import { deliverJob } from '../../../shared/agent/worker/jobs/deliver.ts'
import { processSourceJob } from '../../../shared/agent/worker/jobs/process-source.ts'
import { replyJob } from '../../../shared/agent/worker/jobs/reply.ts'

const TENANT = '00000000-0000-4000-8000-000000000001'
const CONVERSATION = '00000000-0000-4000-8000-000000000002'
const MESSAGE = '00000000-0000-4000-8000-000000000003'
const SOURCE = '00000000-0000-4000-8000-000000000004'
const letter: DeadLetter = { queue: 'agent_jobs', error: new Error('model down'), reason: 'model down', attempts: 3 }

/** A worker context whose store only records which of its methods were called, in order. */
function recordingContext() {
  const calls: string[] = []
  const store = new Proxy(
    {},
    {
      get: (_target, name) => async () => {
        calls.push(String(name))
        return name === 'recordReply' ? { message_id: 'apology', duplicate: false } : {}
      },
    },
  )
  const ctx = { store, config: {}, log: () => {} } as unknown as WorkerContext
  return { ctx, calls }
}

describe('a dead-lettered job', () => {
  test('a reply: the alert is recorded before the apology is recorded and queued for delivery', async () => {
    const { ctx, calls } = recordingContext()
    await replyJob(ctx).deadLetter!(
      { kind: 'reply', tenant_id: TENANT, conversation_id: CONVERSATION, message_id: MESSAGE },
      letter,
    )
    expect(calls).toEqual(['recordAudit', 'recordReply', 'enqueueJob'])
  })

  test('a delivery: the alert is recorded before the message is marked failed', async () => {
    const { ctx, calls } = recordingContext()
    await deliverJob(ctx).deadLetter!(
      { kind: 'deliver', tenant_id: TENANT, conversation_id: CONVERSATION, message_id: MESSAGE },
      letter,
    )
    expect(calls).toEqual(['recordAudit', 'setDeliveryStatus'])
  })

  test('a knowledge source: the alert is recorded before the source is marked failed', async () => {
    const { ctx, calls } = recordingContext()
    await processSourceJob(ctx).deadLetter!({ kind: 'process_source', tenant_id: TENANT, source_id: SOURCE }, letter)
    expect(calls).toEqual(['recordAudit', 'setKnowledgeSourceStatus'])
  })
})
