// Group commit for api calls: items that become ready while calls are under way wait and go
// together in the next call; an item that finds a free call goes at once (with those of the
// same turn of the event loop), so grouping never delays a lone item. A call takes at most
// `maxItems` items and, when `size` is given, about `maxSize` of them (a larger lone item
// goes alone); at most `maxInFlight` calls are under way at once. Each item learns its own
// outcome. A call that fails as a whole (the request, or an answer without one outcome per
// item) says nothing about any one item: each fails with GroupCallFailed, never with the
// call's own error, so no item reads the call's SQLSTATE as its own and gives up for good.

import { ApiError } from './client.ts'

export type ItemOutcome<O> = { ok: true; value: O } | { ok: false; error: unknown }

export interface GroupLimits<I> {
  maxItems: number
  /** Calls under way at once (1 by default). */
  maxInFlight?: number
  /** An item's size (e.g. the bytes of its JSON), counted against maxSize. */
  size?: (item: I) => number
  maxSize?: number
}

/** The call carrying this item failed as a whole; the item itself may be fine, so try again. */
export class GroupCallFailed extends Error {
  override readonly name = 'GroupCallFailed'
  constructor(
    readonly items: number,
    override readonly cause: unknown,
  ) {
    const detail = cause instanceof ApiError && cause.detail ? `: ${cause.detail}` : ''
    super(`a call of ${items} failed as a whole: ${cause instanceof Error ? cause.message : String(cause)}${detail}`)
  }
}

interface Waiting<I, O> {
  item: I
  size: number
  resolve: (value: O) => void
  reject: (error: unknown) => void
}

export function groupCalls<I, O>(
  send: (items: I[]) => Promise<ItemOutcome<O>[]>,
  limits: GroupLimits<I>,
): (item: I) => Promise<O> {
  const maxItems = Math.max(1, limits.maxItems)
  const maxInFlight = Math.max(1, limits.maxInFlight ?? 1)
  const maxSize = limits.maxSize ?? Infinity
  const waiting: Waiting<I, O>[] = []
  let inFlight = 0
  let scheduled = false

  function nextGroup(): Waiting<I, O>[] {
    let count = 0
    let size = 0
    while (count < waiting.length && count < maxItems && (count === 0 || size + waiting[count]!.size <= maxSize)) {
      size += waiting[count]!.size
      count++
    }
    return waiting.splice(0, count)
  }

  async function sendGroup(group: Waiting<I, O>[]) {
    let outcomes: ItemOutcome<O>[]
    try {
      outcomes = await send(group.map((g) => g.item))
      if (outcomes.length !== group.length) {
        throw new Error(`expected ${group.length} outcomes, got ${outcomes.length}`)
      }
    } catch (error) {
      const failed = new GroupCallFailed(group.length, error)
      for (const g of group) g.reject(failed)
      return
    }
    group.forEach((g, i) => {
      const outcome = outcomes[i]!
      if (outcome.ok) g.resolve(outcome.value)
      else g.reject(outcome.error)
    })
  }

  function pump() {
    scheduled = false
    while (inFlight < maxInFlight && waiting.length) {
      inFlight++
      void sendGroup(nextGroup()).finally(() => {
        inFlight--
        pump()
      })
    }
  }

  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, size: limits.size ? limits.size(item) : 0, resolve, reject })
      if (!scheduled && inFlight < maxInFlight) {
        scheduled = true
        queueMicrotask(pump)
      }
    })
}
