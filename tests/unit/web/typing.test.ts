// The portal's typing indicator: a sender sends at most one event every few seconds, the
// shown "<name> is typing…" goes by itself, and the name a visitor sees is never an email.
import { describe, expect, it } from 'vitest'
import {
  expiring,
  memberDisplayName,
  throttled,
  TYPING_EVERY_MS,
  TYPING_SHOWN_MS,
  type Clock,
} from '../../../web/src/lib/typing.ts'

function manualClock() {
  let now = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  let next = 1
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.set(next, { at: now + ms, fn })
      return next++
    },
    clearTimeout: (handle) => void timers.delete(handle as number),
  }
  return {
    clock,
    advance(ms: number) {
      now += ms
      for (const [id, timer] of [...timers]) {
        if (timer.at <= now) {
          timers.delete(id)
          timer.fn()
        }
      }
    },
  }
}

describe('typing', () => {
  it('sends on the first keystroke, then at most once per interval however fast one types', () => {
    const { clock, advance } = manualClock()
    let sent = 0
    const typed = throttled(() => sent++, TYPING_EVERY_MS, clock)
    typed()
    for (let i = 0; i < 20; i++) {
      advance(100)
      typed()
    }
    expect(sent).toBe(1)
    advance(TYPING_EVERY_MS)
    typed()
    expect(sent).toBe(2)
  })

  it('shows who is typing and hides it by itself after the last event', () => {
    const { clock, advance } = manualClock()
    const shown: Array<string | null> = []
    const indicator = expiring((who) => shown.push(who), TYPING_SHOWN_MS, clock)
    indicator.seen('Mia')
    advance(TYPING_SHOWN_MS - 1000)
    indicator.seen('Mia')
    advance(TYPING_SHOWN_MS - 1000)
    expect(shown).toEqual(['Mia'])
    advance(1000)
    expect(shown).toEqual(['Mia', null])
  })

  it('hides at once when the message arrives', () => {
    const { clock } = manualClock()
    const shown: Array<string | null> = []
    const indicator = expiring((who) => shown.push(who), TYPING_SHOWN_MS, clock)
    indicator.seen('Mia')
    indicator.clear()
    expect(shown).toEqual(['Mia', null])
  })

  it('names a member by their profile, else by words from their email, never the address', () => {
    expect(memberDisplayName({ email: 'jane.doe@example.com', user_metadata: { full_name: 'Jane Doe' } })).toBe(
      'Jane Doe',
    )
    expect(memberDisplayName({ email: 'jane.doe@example.com' })).toBe('Jane Doe')
    expect(memberDisplayName({ email: 'admin@konstruct.local' })).toBe('Admin')
    expect(memberDisplayName({ email: '' })).toBe('A team member')
    expect(memberDisplayName(null)).toBe('A team member')
  })
})
