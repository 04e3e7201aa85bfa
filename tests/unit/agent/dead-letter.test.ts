// A dead-lettered job tells the admins before it tells anyone else: the alert is recorded
// before the user's apology is queued for delivery, the message is marked failed, or the
// knowledge source is marked failed. Whoever sees the visible outcome (a portal, a test,
// the user in their channel while another worker delivers the apology) must find the alert
// already there; a native server delivered the apology before the alert existed. An alert
// that cannot be recorded is logged and the rest still happens (the deadLetter runs once).
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

/**
 * A worker context whose store only records which of its methods were called, in order;
 * with failAudit, recording an audit row (the alert) fails as a database hiccup would.
 */
function recordingContext(failAudit = false) {
  const calls: string[] = []
  const logged: string[] = []
  const store = new Proxy(
    {},
    {
      get: (_target, name) => async () => {
        calls.push(String(name))
        if (failAudit && name === 'recordAudit') throw new Error('connection reset')
        return name === 'recordReply' ? { message_id: 'apology', duplicate: false } : {}
      },
    },
  )
  const ctx = { store, config: {}, log: (line: string) => logged.push(line) } as unknown as WorkerContext
  return { ctx, calls, logged }
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

  test('an alert that cannot be recorded is logged, and the apology and failed statuses still follow', async () => {
    const reply = recordingContext(true)
    await replyJob(reply.ctx).deadLetter!(
      { kind: 'reply', tenant_id: TENANT, conversation_id: CONVERSATION, message_id: MESSAGE },
      letter,
    )
    expect(reply.calls).toEqual(['recordAudit', 'recordReply', 'enqueueJob'])
    expect(reply.logged).toEqual(['agent-worker: could not record the job_dead_lettered alert'])
    const delivery = recordingContext(true)
    await deliverJob(delivery.ctx).deadLetter!(
      { kind: 'deliver', tenant_id: TENANT, conversation_id: CONVERSATION, message_id: MESSAGE },
      letter,
    )
    expect(delivery.calls).toEqual(['recordAudit', 'setDeliveryStatus'])
    const source = recordingContext(true)
    await processSourceJob(source.ctx).deadLetter!(
      { kind: 'process_source', tenant_id: TENANT, source_id: SOURCE },
      letter,
    )
    expect(source.calls).toEqual(['recordAudit', 'setKnowledgeSourceStatus'])
  })
})
