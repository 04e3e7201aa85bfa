// One Realtime subscription per open tenant (private topic tenant:<id>), fanned out to
// every component that listens. Pages listen in onMount and stop in its cleanup.
// After every join, the first one included (the page's data was loaded before it), the
// hub emits 'resync' so lists reload what they may have missed, and holds the events
// that arrive meanwhile until the reloads handed to `wait` are done (./resync.ts);
// merging by id keeps that from duplicating rows.
import type { RealtimeChannel } from '@supabase/supabase-js'
import { resyncGate, type Resync } from './resync'
import { browserSupabase } from './supabase'
import type {
  AlertEvent,
  ChannelChangedEvent,
  ConversationChangedEvent,
  KnowledgeSourceChangedEvent,
  MessageEvent,
  Note,
} from './types'

export type TenantEvent =
  | { event: 'message_created' | 'message_updated'; payload: MessageEvent }
  | { event: 'conversation_changed'; payload: ConversationChangedEvent }
  | { event: 'knowledge_source_changed'; payload: KnowledgeSourceChangedEvent }
  | { event: 'alert'; payload: AlertEvent }
  | { event: 'note_created'; payload: Note & { conversation_id: string } }
  | { event: 'channel_changed'; payload: ChannelChangedEvent }
  | Resync

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'offline'

type Listener = (event: TenantEvent) => void
const listeners = new Set<Listener>()
const statusListeners = new Set<(status: LiveStatus) => void>()
let currentStatus: LiveStatus = 'connecting'

export function onTenantEvent(listener: Listener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export function onLiveStatus(listener: (status: LiveStatus) => void): () => void {
  statusListeners.add(listener)
  listener(currentStatus)
  return () => statusListeners.delete(listener)
}

function emit(event: TenantEvent) {
  for (const listener of listeners) {
    try {
      listener(event)
    } catch (e) {
      console.error('live listener failed', e)
    }
  }
}

function setStatus(status: LiveStatus) {
  currentStatus = status
  for (const listener of statusListeners) listener(status)
}

/** Joins tenant:<id>; returns the cleanup that leaves it. */
export function connectTenant(tenantId: string): () => void {
  const supabase = browserSupabase()
  let channel: RealtimeChannel | undefined
  let stopped = false
  const gate = resyncGate<Exclude<TenantEvent, Resync>>(emit, (e) => `${e.event}:${JSON.stringify(e.payload)}`)
  setStatus('connecting')

  void (async () => {
    const {
      data: { session },
    } = await supabase.auth.getSession()
    if (stopped) return
    if (session?.access_token) await supabase.realtime.setAuth(session.access_token)
    if (stopped) return
    channel = supabase.channel(`tenant:${tenantId}`, { config: { private: true } })
    for (const name of [
      'message_created',
      'message_updated',
      'conversation_changed',
      'knowledge_source_changed',
      'alert',
      'note_created',
      'channel_changed',
    ] as const) {
      channel.on('broadcast', { event: name }, (message) => {
        if (!stopped) gate.received({ event: name, payload: message.payload } as Exclude<TenantEvent, Resync>)
      })
    }
    channel.subscribe((status) => {
      if (stopped) return
      if (status === 'SUBSCRIBED') {
        setStatus('live')
        gate.joined()
      } else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') {
        setStatus('reconnecting')
      } else if (status === 'CLOSED') {
        setStatus('offline')
      }
    })
  })()

  return () => {
    stopped = true
    setStatus('offline')
    if (channel) void supabase.removeChannel(channel)
  }
}

/** Calls fn once things have been quiet for `ms` after the last poke: a cheap reconcile
 *  with the server after a burst, which also heals a broadcast lost on the way. */
export function debounced(fn: () => void, ms = 1500): { poke(): void; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined
  return {
    poke() {
      clearTimeout(timer)
      timer = setTimeout(fn, ms)
    },
    cancel() {
      clearTimeout(timer)
    },
  }
}
