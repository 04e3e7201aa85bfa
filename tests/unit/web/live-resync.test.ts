// The live conversation list and the gap between loading it and joining the tenant channel:
// events in that gap never arrive, and events that arrive while the list reloads must not
// be lost or undone by the reload. The race is played step by step with a reload the test
// finishes when it chooses; the list is the inbox's own merge (lib/merge.ts).
import { describe, expect, it } from 'vitest'
import { resyncGate, type Resync } from '../../../web/src/lib/resync.ts'
import { mergeConversations, rowFromEvent } from '../../../web/src/lib/merge.ts'
import type { ConversationChangedEvent, ConversationRow } from '../../../web/src/lib/types.ts'

type Changed = { event: 'conversation_changed'; payload: ConversationChangedEvent }
const names = { channels: new Map<string, string>(), agents: new Map<string, string>() }

function change(id: string, status: ConversationChangedEvent['status'], at: string, preview: string): Changed {
  return {
    event: 'conversation_changed',
    payload: {
      id,
      tenant_id: 't',
      connection_id: 'c',
      channel: 'web_chat',
      contact_id: null,
      contact_name: `Contact ${id}`,
      agent_id: null,
      status,
      assigned_member_id: null,
      escalation_reason: null,
      last_message_at: at,
      last_message_preview: preview,
      created_at: '2026-12-06T10:00:00Z',
      operation: 'update',
    },
  }
}
const row = (e: Changed): ConversationRow => rowFromEvent(e.payload, names)

function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

/** The inbox list as conversations/+layout.svelte keeps it, fed by the gate. */
function inbox(loaded: ConversationRow[]) {
  let rows = loaded
  const reloads: Array<ReturnType<typeof deferred<ConversationRow[]>>> = []
  const emitted: string[] = []
  const gate = resyncGate<Changed>(
    (e: Changed | Resync) => {
      emitted.push(e.event)
      if (e.event === 'resync') {
        const reload = deferred<ConversationRow[]>()
        reloads.push(reload)
        e.wait(reload.promise.then((fresh) => (rows = mergeConversations(rows, fresh))))
      } else {
        const previous = rows.find((r) => r.id === e.payload.id)
        rows = mergeConversations(rows, [rowFromEvent(e.payload, names, previous)])
      }
    },
    (e) => `${e.event}:${JSON.stringify(e.payload)}`,
  )
  const view = () => rows.map((r) => `${r.id}:${r.status}:${r.last_message_preview}`)
  return { gate, reloads, emitted, view }
}

const a1 = change('a', 'open', '2026-12-06T10:01:00Z', 'Hello')
const b1 = change('b', 'open', '2026-12-06T10:02:00Z', 'Is anyone there?')
const a2 = change('a', 'waiting_for_human', '2026-12-06T10:03:00Z', 'I want a human')
const c1 = change('c', 'open', '2026-12-06T10:04:00Z', 'New here')

describe('the live list across its first join', () => {
  it('shows a conversation created between the load and the join, and keeps events that arrive during the reload', async () => {
    // Loaded with A; B is created before the channel is joined (its event is never received).
    const list = inbox([row(a1)])
    list.gate.joined()
    expect(list.emitted).toEqual(['resync'])
    // While the reload runs, A changes and C is created: held back, not yet shown.
    list.gate.received(a2)
    list.gate.received(c1)
    expect(list.gate.holding).toBe(2)
    expect(list.view()).toEqual(['a:open:Hello'])
    // The reload's snapshot was read before a2 and c1 committed: it has B, and A as it was.
    list.reloads[0]!.resolve([row(b1), row(a1)])
    await settle()
    expect(list.view()).toEqual(['c:open:New here', 'a:waiting_for_human:I want a human', 'b:open:Is anyone there?'])
    expect(list.gate.holding).toBe(0)
  })

  it('is the same when the reload already saw the held events, and a repeated event is applied once', async () => {
    const list = inbox([row(a1)])
    list.gate.joined()
    list.gate.received(a2)
    list.gate.received(a2)
    list.gate.received(c1)
    list.reloads[0]!.resolve([row(c1), row(a2), row(b1)])
    await settle()
    expect(list.view()).toEqual(['c:open:New here', 'a:waiting_for_human:I want a human', 'b:open:Is anyone there?'])
    expect(list.emitted.filter((e) => e === 'conversation_changed')).toHaveLength(2)
  })

  it('applies held events in the order they came (a later status wins)', async () => {
    const list = inbox([])
    list.gate.joined()
    const closed = change('a', 'closed', '2026-12-06T10:03:00Z', 'I want a human')
    list.gate.received(a2)
    list.gate.received(closed)
    list.reloads[0]!.resolve([row(a1)])
    await settle()
    expect(list.view()).toEqual(['a:closed:I want a human'])
  })

  it('a rejoin during the reload holds events until the newest reload is done', async () => {
    const list = inbox([row(a1)])
    list.gate.joined()
    list.gate.received(a2)
    list.gate.joined()
    list.gate.received(c1)
    list.reloads[0]!.resolve([row(a1)])
    await settle()
    expect(list.gate.holding).toBe(2)
    expect(list.view()).toEqual(['a:open:Hello'])
    list.reloads[1]!.resolve([row(b1), row(a1)])
    await settle()
    expect(list.view()).toEqual(['c:open:New here', 'a:waiting_for_human:I want a human', 'b:open:Is anyone there?'])
  })

  it('a failed reload still releases the held events', async () => {
    const list = inbox([row(a1)])
    list.gate.joined()
    list.gate.received(c1)
    list.reloads[0]!.reject(new Error('network'))
    await settle()
    expect(list.view()).toEqual(['c:open:New here', 'a:open:Hello'])
  })

  it('passes events straight on once no reload is under way', async () => {
    const list = inbox([row(a1)])
    list.gate.joined()
    list.reloads[0]!.resolve([row(a1)])
    await settle()
    list.gate.received(c1)
    expect(list.view()).toEqual(['c:open:New here', 'a:open:Hello'])
  })
})
