// Simulates inbound channel messages the way a channel function records them.
import type { SupabaseClient } from '@supabase/supabase-js'

export interface Inbound {
  connectionId: string
  externalId: string
  thread: string
  user?: string
  name?: string
  text: string
}

export async function ingest(
  service: SupabaseClient,
  m: Inbound,
): Promise<{ conversation_id: string; message_id: string; contact_id: string }> {
  const { data, error } = await service.rpc('ingest_message', {
    connection_id: m.connectionId,
    external_id: m.externalId,
    thread_key: m.thread,
    external_user_id: m.user ?? m.thread,
    text: m.text,
    user_display_name: m.name ?? null,
  })
  if (error) throw new Error(`ingest_message failed: ${error.message}`)
  return data as { conversation_id: string; message_id: string; contact_id: string }
}

/** Ingests many messages with a few in flight at a time. */
export async function ingestAll(service: SupabaseClient, messages: Inbound[], concurrency = 10): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < messages.length) await ingest(service, messages[next++])
    }),
  )
}
