// A delivery the channel refuses for good records the admins' alert in the same call as the
// message's undeliverable status (api.settle_delivery). When that call fails, the job is
// retried and the channel refuses again: the alert must still be recorded once, not once
// per attempt as when it was a call of its own before the status. The same holds for the
// audit entry of an answer withheld because a member took over.
import { describe, expect, test } from 'vitest'
import type { DeliveryLease } from '../../../shared/agent/store.ts'
import type { WorkerContext } from '../../../shared/agent/worker/context.ts'
import { DeliveryFailed } from '../../../shared/agent/worker/deliveries.ts'
import { deliverLeased } from '../../../shared/agent/worker/jobs/deliver.ts'

const TENANT = '00000000-0000-4000-8000-000000000001'
const CONVERSATION = '00000000-0000-4000-8000-000000000002'
const MESSAGE = '00000000-0000-4000-8000-000000000003'

const lease = {
  acquired: true,
  message: { id: MESSAGE, delivery_status: 'pending', author_kind: 'agent', text: 'Your invoice', metadata: {} },
  conversation: { id: CONVERSATION, status: 'open', assigned_member_id: null },
  connection: { connection_id: 'c1', kind: 'slack', status: 'active', settingsProblems: [] },
  recipient: null,
} as unknown as DeliveryLease

/** A store whose first settle call fails as a database hiccup would: nothing of it is stored. */
function hiccupStore() {
  const audits: unknown[] = []
  const stored: Array<{ status: string; alert: unknown }> = []
  let settleCalls = 0
  const store = {
    recordAudit: async (...args: unknown[]) => void audits.push(args),
    settleDelivery: async (input: { status: string; alert?: unknown }) => {
      if (++settleCalls === 1) throw new Error('connection reset')
      stored.push({ status: input.status, alert: input.alert })
      return { completed: false }
    },
  }
  return { store, audits, stored }
}

describe('a delivery the channel refuses for good', () => {
  test('records its alert once, with the status, however often a failed call is retried', async () => {
    const { store, audits, stored } = hiccupStore()
    const deliveries = {
      slack: {
        deliver: async () => {
          throw new DeliveryFailed('Slack refused the message: channel_not_found', true)
        },
      },
    }
    const ctx = { store, deliveries, config: {}, log: () => {} } as unknown as WorkerContext

    await expect(deliverLeased(ctx, TENANT, lease)).rejects.toThrow('connection reset')
    expect(await deliverLeased(ctx, TENANT, lease)).toMatchObject({ outcome: 'undeliverable' })

    expect(audits).toEqual([])
    expect(stored).toEqual([
      {
        status: 'undeliverable',
        alert: {
          action: 'alert.delivery_failed',
          entityType: 'conversation',
          entityId: CONVERSATION,
          details: { message_id: MESSAGE, reason: 'Slack refused the message: channel_not_found' },
        },
      },
    ])
  })

  test('a disabled connection: nothing is sent, and the status and its alert go in one call', async () => {
    const settled: unknown[] = []
    const store = {
      recordAudit: async () => {
        throw new Error('the alert goes with the status, not on its own')
      },
      settleDelivery: async (input: unknown) => {
        settled.push(input)
        return { completed: false }
      },
    }
    const deliveries = {
      slack: {
        deliver: async () => {
          throw new Error('a disabled connection must not send')
        },
      },
    }
    const ctx = { store, deliveries, config: {}, log: () => {} } as unknown as WorkerContext
    const disabled = { ...lease, connection: { ...lease.connection, status: 'disabled' } } as DeliveryLease
    expect(await deliverLeased(ctx, TENANT, disabled)).toMatchObject({ outcome: 'undeliverable' })
    expect(settled).toMatchObject([
      {
        status: 'undeliverable',
        alert: { action: 'alert.delivery_failed', details: { reason: 'the channel connection is disabled' } },
      },
    ])
  })

  test('an answer withheld after a takeover: its audit entry is recorded once, with the status', async () => {
    const { store, audits, stored } = hiccupStore()
    const deliveries = {
      slack: {
        deliver: async () => {
          throw new Error('a withheld answer must not be sent')
        },
      },
    }
    const ctx = { store, deliveries, config: {}, log: () => {} } as unknown as WorkerContext
    const takenOver = {
      ...lease,
      conversation: { ...lease.conversation, status: 'human', assigned_member_id: 'member-1' },
    } as DeliveryLease

    await expect(deliverLeased(ctx, TENANT, takenOver)).rejects.toThrow('connection reset')
    expect(await deliverLeased(ctx, TENANT, takenOver)).toMatchObject({ outcome: 'withheld' })

    expect(audits).toEqual([])
    expect(stored).toEqual([
      {
        status: 'undeliverable',
        alert: {
          action: 'agent.reply_withheld',
          entityType: 'conversation',
          entityId: CONVERSATION,
          details: { message_id: MESSAGE, author_kind: 'agent', assigned_member_id: 'member-1' },
        },
      },
    ])
  })
})
