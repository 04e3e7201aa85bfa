// The gap between loading a list and being subscribed to its changes. A page's data is
// loaded first, then the tenant channel is joined; whatever changed in between never
// arrives as an event. So every join (the first one too) starts a resync: listeners
// reload what they show and hand the reload to `wait`; events that arrive meanwhile are
// held back, then applied in the order they came, each once, on top of the reloaded
// data. A list is then correct whatever the order of load, join, events and reload.

/** `first`: the first join after the page loaded (its data is a moment old), not a reconnect. */
export type Resync = { event: 'resync'; first: boolean; wait(work: PromiseLike<unknown>): void }

export interface ResyncGate<E> {
  /** The channel is (re)joined: asks listeners to reload, holding events until they have. */
  joined(): void
  /** An event from the channel: passed on, or held back while a reload is under way. */
  received(event: E): void
  /** Events held back now (for tests and status). */
  readonly holding: number
}

/**
 * `emit` reaches the listeners; `keyOf` names an event so a repeat is delivered once (for
 * example event + id + seq); events without a key are never dropped.
 */
export function resyncGate<E>(emit: (event: E | Resync) => void, keyOf: (event: E) => string | null): ResyncGate<E> {
  let held: E[] | null = null
  let generation = 0

  function release(mine: number) {
    if (mine !== generation || !held) return
    const events = held
    held = null
    const seen = new Set<string>()
    for (const event of events) {
      const key = keyOf(event)
      if (key !== null) {
        if (seen.has(key)) continue
        seen.add(key)
      }
      emit(event)
    }
  }

  return {
    joined() {
      const mine = ++generation
      held ??= []
      const reloads: PromiseLike<unknown>[] = []
      emit({ event: 'resync', first: mine === 1, wait: (work) => void reloads.push(work) })
      // A reload that fails still releases the events: they are newer than anything loaded.
      void Promise.allSettled(reloads).then(() => release(mine))
    },
    received(event) {
      if (held) held.push(event)
      else emit(event)
    },
    get holding() {
      return held?.length ?? 0
    },
  }
}
