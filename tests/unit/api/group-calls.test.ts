import { describe, expect, it } from 'vitest'
import { GroupCallFailed, groupCalls, type ItemOutcome } from '../../../shared/api/group-calls.ts'

/** A send whose calls are recorded and answered only when the test says so. */
function heldSend() {
  const calls: { items: string[]; answer: (outcomes: ItemOutcome<string>[] | Error) => void }[] = []
  const send = (items: string[]) =>
    new Promise<ItemOutcome<string>[]>((resolve, reject) => {
      calls.push({ items, answer: (o) => (o instanceof Error ? reject(o) : resolve(o)) })
    })
  const echo = (items: string[]) => items.map((item) => ({ ok: true as const, value: `done:${item}` }))
  return { calls, send, echo }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

describe('groupCalls', () => {
  it('sends a lone item at once, and the items that come meanwhile together in the next call', async () => {
    const { calls, send, echo } = heldSend()
    const finish = groupCalls(send, { maxItems: 10 })
    const first = finish('a')
    await settle()
    expect(calls.map((c) => c.items)).toEqual([['a']])
    const later = [finish('b'), finish('c'), finish('d')]
    await settle()
    expect(calls).toHaveLength(1)
    calls[0]!.answer(echo(calls[0]!.items))
    expect(await first).toBe('done:a')
    await settle()
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c', 'd']])
    calls[1]!.answer(echo(calls[1]!.items))
    expect(await Promise.all(later)).toEqual(['done:b', 'done:c', 'done:d'])
  })

  it('never puts more than maxItems in one call', async () => {
    const { calls, send, echo } = heldSend()
    const finish = groupCalls(send, { maxItems: 2 })
    const all = [finish('a'), finish('b'), finish('c'), finish('d'), finish('e')]
    for (let i = 0; i < 3; i++) {
      await settle()
      calls[i]!.answer(echo(calls[i]!.items))
    }
    expect(await Promise.all(all)).toEqual(['done:a', 'done:b', 'done:c', 'done:d', 'done:e'])
    expect(calls.map((c) => c.items)).toEqual([['a', 'b'], ['c', 'd'], ['e']])
  })

  it('fails only the item whose outcome is a failure', async () => {
    const { calls, send } = heldSend()
    const finish = groupCalls(send, { maxItems: 10 })
    const results = Promise.allSettled([finish('a'), finish('b')])
    await settle()
    calls[0]!.answer([
      { ok: false, error: new Error('refused: b is not yours') },
      { ok: true, value: 'done:b' },
    ])
    const [a, b] = await results
    expect(a).toMatchObject({ status: 'rejected', reason: { message: 'refused: b is not yours' } })
    expect(b).toEqual({ status: 'fulfilled', value: 'done:b' })
  })

  it('fails every item of a call that fails, and goes on with the next ones', async () => {
    const { calls, send, echo } = heldSend()
    const finish = groupCalls(send, { maxItems: 1 })
    const results = Promise.allSettled([finish('a'), finish('b')])
    await settle()
    calls[0]!.answer(new Error('connection reset'))
    await settle()
    calls[1]!.answer(echo(calls[1]!.items))
    const [a, b] = await results
    expect(a.status === 'rejected' && a.reason).toBeInstanceOf(GroupCallFailed)
    expect(a).toMatchObject({ reason: { items: 1, cause: new Error('connection reset') } })
    expect(b).toEqual({ status: 'fulfilled', value: 'done:b' })
  })

  it('refuses an answer that does not have one outcome per item', async () => {
    const { calls, send } = heldSend()
    const finish = groupCalls(send, { maxItems: 10 })
    const results = Promise.allSettled([finish('a'), finish('b')])
    await settle()
    calls[0]!.answer([{ ok: true, value: 'done:a' }])
    const settled = await results
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    for (const r of settled) expect(r.status === 'rejected' && r.reason).toBeInstanceOf(GroupCallFailed)
  })

  it('keeps up to maxInFlight calls under way; the next items wait for one of them', async () => {
    const { calls, send, echo } = heldSend()
    const finish = groupCalls(send, { maxItems: 10, maxInFlight: 2 })
    const first = finish('a')
    await settle()
    const second = finish('b')
    await settle()
    const later = [finish('c'), finish('d')]
    await settle()
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b']])
    calls[1]!.answer(echo(calls[1]!.items))
    expect(await second).toBe('done:b')
    await settle()
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b'], ['c', 'd']])
    calls[0]!.answer(echo(calls[0]!.items))
    calls[2]!.answer(echo(calls[2]!.items))
    expect(await first).toBe('done:a')
    expect(await Promise.all(later)).toEqual(['done:c', 'done:d'])
  })

  it('puts about maxSize of items in one call, and a larger lone item alone', async () => {
    const { calls, send, echo } = heldSend()
    const finish = groupCalls(send, { maxItems: 10, size: (item) => item.length, maxSize: 10 })
    const all = ['aaaa', 'bbbb', 'cc', 'dddddddddddd', 'e'].map((item) => finish(item))
    for (let i = 0; i < 3; i++) {
      await settle()
      calls[i]!.answer(echo(calls[i]!.items))
    }
    expect(calls.map((c) => c.items)).toEqual([['aaaa', 'bbbb', 'cc'], ['dddddddddddd'], ['e']])
    expect(await Promise.all(all)).toHaveLength(5)
  })
})
