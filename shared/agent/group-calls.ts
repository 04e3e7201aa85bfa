// Group commit for api calls: items that become ready while a call is under way wait for it
// and then go together in the next call; an item that finds no call under way goes at once
// (with those of the same turn of the event loop), so grouping never delays a lone item. A
// call takes at most `maxItems`; each item learns its own outcome, and a call that fails as
// a whole fails each of its items.

export type ItemOutcome<O> = { ok: true; value: O } | { ok: false; error: unknown }

export function groupCalls<I, O>(
  send: (items: I[]) => Promise<ItemOutcome<O>[]>,
  maxItems: number,
): (item: I) => Promise<O> {
  const waiting: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = []
  let sending = false

  async function drain() {
    try {
      while (waiting.length) {
        const group = waiting.splice(0, Math.max(1, maxItems))
        let outcomes: ItemOutcome<O>[]
        try {
          outcomes = await send(group.map((g) => g.item))
          if (outcomes.length !== group.length) {
            throw new Error(`expected ${group.length} outcomes, got ${outcomes.length}`)
          }
        } catch (error) {
          for (const g of group) g.reject(error)
          continue
        }
        group.forEach((g, i) => {
          const outcome = outcomes[i]!
          if (outcome.ok) g.resolve(outcome.value)
          else g.reject(outcome.error)
        })
      }
    } finally {
      sending = false
    }
  }

  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, resolve, reject })
      if (!sending) {
        sending = true
        queueMicrotask(() => void drain())
      }
    })
}
