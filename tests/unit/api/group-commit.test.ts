// Group commit: what each caller gets back, and which calls travel together.
import { describe, expect, test } from 'vitest'
import { type Api, ApiError } from '../../../shared/api/client.ts'
import { groupCommit, type GroupCommitOptions } from '../../../shared/api/group-commit.ts'

const options: GroupCommitOptions = { fn: 'store_many', arg: 'items', maxBatch: 3, maxBytes: 1000, maxInFlight: 1 }

/** A batch function whose calls are answered only when the test says so. */
function heldApi(answer: (items: Array<Record<string, unknown>>) => unknown) {
  const batches: Array<Array<Record<string, unknown>>> = []
  const pending: Array<() => void> = []
  const rpc = (async (fn: string, args: Record<string, unknown> = {}) => {
    expect(fn).toBe('store_many')
    const items = args['items'] as Array<Record<string, unknown>>
    batches.push(items)
    await new Promise<void>((resolve) => pending.push(resolve))
    const answered = answer(items)
    if (answered instanceof Error) throw answered
    return answered
  }) as Api
  const answerNext = async () => {
    pending.shift()?.()
    await new Promise((resolve) => setTimeout(resolve, 0))
  }
  return { rpc, batches, answerNext }
}

const echo = (items: Array<Record<string, unknown>>) => items.map((item) => ({ result: `stored ${item['n']}` }))

describe('groupCommit', () => {
  test('a lone call goes at once; calls made while it is in flight go together next, each with its own answer', async () => {
    const api = heldApi(echo)
    const call = groupCommit<string>(api.rpc, options)
    const first = call({ n: 1 })
    expect(api.batches).toEqual([[{ n: 1 }]])
    const later = [call({ n: 2 }), call({ n: 3 })]
    expect(api.batches).toHaveLength(1)
    await api.answerNext()
    expect(api.batches).toEqual([[{ n: 1 }], [{ n: 2 }, { n: 3 }]])
    await api.answerNext()
    expect(await first).toBe('stored 1')
    expect(await Promise.all(later)).toEqual(['stored 2', 'stored 3'])
  })

  test('a batch holds at most maxBatch calls and about maxBytes of arguments', async () => {
    const api = heldApi(echo)
    const call = groupCommit<string>(api.rpc, options)
    const big = 'x'.repeat(600)
    const calls = [call({ n: 0 }), ...[1, 2, 3, 4].map((n) => call({ n })), call({ n: 5, big }), call({ n: 6, big })]
    for (let i = 0; i < 5; i++) await api.answerNext()
    expect(api.batches.map((batch) => batch.map((item) => item['n']))).toEqual([[0], [1, 2, 3], [4, 5], [6]])
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => `stored ${n}`))
  })

  test('an error answer fails only its own call, with its own code', async () => {
    const api = heldApi((items) =>
      items.map((item) =>
        item['n'] === 2
          ? { error: { code: '22P02', message: 'invalid input syntax for type boolean' } }
          : echo([item])[0],
      ),
    )
    const call = groupCommit<string>(api.rpc, { ...options, maxInFlight: 1 })
    const first = call({ n: 0 })
    const batch = [1, 2, 3].map((n) => call({ n }).catch((error: unknown) => error))
    await api.answerNext()
    await api.answerNext()
    expect(await first).toBe('stored 0')
    const [one, two, three] = await Promise.all(batch)
    expect([one, three]).toEqual(['stored 1', 'stored 3'])
    expect(two).toBeInstanceOf(ApiError)
    expect(two).toMatchObject({ fn: 'store_many', code: '22P02', detail: 'invalid input syntax for type boolean' })
  })

  test('a batch that fails as a whole fails every call in it, and the next batch goes on', async () => {
    let failing = true
    const api = heldApi((items) => (failing ? new ApiError('store_many', 503, null, 'unavailable') : echo(items)))
    const call = groupCommit<string>(api.rpc, options)
    const lost = [call({ n: 1 }).catch((error: unknown) => error)]
    const next = call({ n: 2 })
    await api.answerNext()
    failing = false
    await api.answerNext()
    expect(await Promise.all(lost)).toEqual([expect.objectContaining({ status: 503 })])
    expect(await next).toBe('stored 2')
  })

  test('an answer of the wrong length fails the batch instead of handing out answers to the wrong calls', async () => {
    const api = heldApi((items) => echo(items).slice(1))
    const call = groupCommit<string>(api.rpc, options)
    const answered = call({ n: 1 }).catch((error: unknown) => error)
    await api.answerNext()
    expect(await answered).toMatchObject({ code: 'shape' })
  })

  test('up to maxInFlight batches are sent at once', async () => {
    const api = heldApi(echo)
    const call = groupCommit<string>(api.rpc, { ...options, maxInFlight: 2 })
    const calls = [1, 2, 3].map((n) => call({ n }))
    expect(api.batches).toEqual([[{ n: 1 }], [{ n: 2 }]])
    for (let i = 0; i < 3; i++) await api.answerNext()
    expect(api.batches).toEqual([[{ n: 1 }], [{ n: 2 }], [{ n: 3 }]])
    expect(await Promise.all(calls)).toEqual(['stored 1', 'stored 2', 'stored 3'])
  })
})
