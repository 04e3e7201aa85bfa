// Typing indicators in the portal: the member's keystrokes become at most one `typing`
// event every few seconds on the conversation's private topic typing:<id> (web chat), or
// one api.signal_typing call (WhatsApp, whose typing indicator the worker sends); what the
// visitor sends shows "<name> is typing…" until a few seconds after their last event.

/** A sender sends at most one typing event this often while typing. */
export const TYPING_EVERY_MS = 3000
/** A receiver hides the indicator this long after the last event it got. */
export const TYPING_SHOWN_MS = 6000
/** WhatsApp shows its indicator for 25 s; asking again every 20 s keeps it up while the member types. */
export const WHATSAPP_TYPING_EVERY_MS = 20_000

export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/** Calls `send` on the first poke and then at most once every `everyMs`; returns whether it sent. */
export function throttled(send: () => void, everyMs: number, clock: Clock = realClock): () => boolean {
  let last = -Infinity
  return () => {
    const now = clock.now()
    if (now - last < everyMs) return false
    last = now
    send()
    return true
  }
}

/** Who is typing, shown until `shownMs` after the last `seen`, or until `clear`. */
export function expiring(
  onChange: (who: string | null) => void,
  shownMs: number = TYPING_SHOWN_MS,
  clock: Clock = realClock,
): { seen(who: string): void; clear(): void } {
  let timer: unknown
  let current: string | null = null
  const set = (who: string | null) => {
    if (who === current) return
    current = who
    onChange(who)
  }
  return {
    seen(who) {
      clock.clearTimeout(timer)
      timer = clock.setTimeout(() => set(null), shownMs)
      set(who)
    },
    clear() {
      clock.clearTimeout(timer)
      set(null)
    },
  }
}

/**
 * The name a visitor sees for a member: the name in their profile, else the part of their
 * email before the @ in words ("jane.doe@…" → "Jane Doe"); never the whole address.
 */
export function memberDisplayName(
  user: { email?: string | null; user_metadata?: Record<string, unknown> } | null,
): string {
  const meta = user?.user_metadata ?? {}
  for (const key of ['full_name', 'name', 'display_name']) {
    const value = meta[key]
    if (typeof value === 'string' && value.trim()) return value.trim().slice(0, 60)
  }
  const local = (user?.email ?? '').split('@')[0] ?? ''
  const words = local
    .split(/[._+-]+/)
    .filter(Boolean)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
  return words.join(' ').slice(0, 60) || 'A team member'
}
