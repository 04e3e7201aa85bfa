// Replies finished together in one api.finish_replies call: a failure of the whole call says
// nothing about any one reply, so none of them is given up for good because of it; a reply the
// database refused for itself still is.
import { describe, expect, it } from 'vitest'
import { ApiError, type Api } from '../../../shared/api/client.ts'
import { createAgentStore, type FinishReplyInput } from '../../../shared/agent/store.ts'
import { isPermanent } from '../../../shared/agent/worker/failures.ts'

const reply = (key: string): FinishReplyInput => ({
  tenantId: '10000000-0000-4000-8000-000000000001',
  conversationId: '20000000-0000-4000-8000-000000000001',
  reply: { text: `answer ${key}`, idempotencyKey: key },
  leaseSeconds: 30,
})

describe('finishing replies in one call', () => {
  it('retries every reply of a call that fails as a whole, even with a data-exception code', async () => {
    const calls: unknown[] = []
    const api = (async (fn: string, args?: Record<string, unknown>) => {
      calls.push({ fn, args })
      throw new ApiError(fn, 400, '22023', 'at most 50 replies in one call')
    }) as Api
    const store = createAgentStore(api)
    const settled = await Promise.allSettled([store.finishReply(reply('a')), store.finishReply(reply('b'))])
    expect(calls).toHaveLength(1)
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected'])
    for (const s of settled) expect(isPermanent(s.status === 'rejected' && s.reason)).toBe(false)
    // What the database said stays in the message the worker logs and records.
    expect(settled[0]).toMatchObject({ reason: { message: expect.stringContaining('at most 50 replies in one call') } })
  })

  it("gives up a reply the database refused for itself, and keeps its neighbour's result", async () => {
    const api = (async (fn: string, args?: Record<string, unknown>) => {
      const replies = (args as { replies: { reply: { idempotency_key: string } }[] }).replies
      return replies.map((r) =>
        r.reply.idempotency_key === 'bad'
          ? { ok: false, code: '22023', message: 'reply text is empty' }
          : { ok: true, finished: 'not a finished reply' },
      )
    }) as Api
    const store = createAgentStore(api)
    const [bad, good] = await Promise.allSettled([store.finishReply(reply('bad')), store.finishReply(reply('good'))])
    expect(bad.status === 'rejected' && isPermanent(bad.reason)).toBe(true)
    expect(bad).toMatchObject({ reason: { code: '22023' } })
    // The neighbour's own answer is read for itself (here a malformed one, a 'shape' failure).
    expect(good).toMatchObject({ status: 'rejected', reason: { code: 'shape' } })
  })
})
