// Merging live rows into loaded lists by id, so a reconnect or a repeated event never
// duplicates a row and an older event never overwrites a newer one.
import type { ConversationChangedEvent, ConversationRow, Message } from './types.ts'

export function activityOf(row: { last_message_at: string | null; created_at: string }): string {
  return row.last_message_at ?? row.created_at
}

/** Most recent activity first, then id descending (the api's order). */
export function compareConversations(a: ConversationRow, b: ConversationRow): number {
  const ta = Date.parse(a.activity_at)
  const tb = Date.parse(b.activity_at)
  if (ta !== tb) return tb - ta
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

export function mergeConversations(existing: ConversationRow[], incoming: ConversationRow[]): ConversationRow[] {
  const byId = new Map(existing.map((row) => [row.id, row]))
  for (const row of incoming) {
    const old = byId.get(row.id)
    // Keep the newer of two versions of the same conversation.
    if (old && Date.parse(old.activity_at) > Date.parse(row.activity_at)) {
      byId.set(row.id, { ...row, ...pickNewer(old) })
    } else {
      byId.set(row.id, old ? { ...old, ...row } : row)
    }
  }
  return [...byId.values()].sort(compareConversations)
}

function pickNewer(old: ConversationRow): Partial<ConversationRow> {
  return {
    last_message_at: old.last_message_at,
    last_message_preview: old.last_message_preview,
    activity_at: old.activity_at,
  }
}

/** A conversation_changed broadcast as a list row, with names looked up locally. */
export function rowFromEvent(
  event: ConversationChangedEvent,
  names: { channels: Map<string, string>; agents: Map<string, string> },
  previous?: ConversationRow,
): ConversationRow {
  return {
    ...previous,
    id: event.id,
    connection_id: event.connection_id,
    connection_name: names.channels.get(event.connection_id) ?? previous?.connection_name ?? null,
    channel: event.channel,
    contact_id: event.contact_id,
    contact_name: event.contact_name,
    agent_id: event.agent_id,
    agent_name: (event.agent_id && names.agents.get(event.agent_id)) || previous?.agent_name || null,
    status: event.status,
    assigned_member_id: event.assigned_member_id,
    escalation_reason: event.escalation_reason,
    last_message_at: event.last_message_at,
    last_message_preview: event.last_message_preview,
    activity_at: activityOf(event),
    created_at: event.created_at,
    is_test: event.is_test ?? previous?.is_test ?? false,
  }
}

/** Messages by id, in seq order. */
export function mergeMessages(existing: Message[], incoming: Message[]): Message[] {
  const byId = new Map(existing.map((m) => [m.id, m]))
  for (const m of incoming) byId.set(m.id, { ...byId.get(m.id), ...m })
  return [...byId.values()].sort((a, b) => a.seq - b.seq)
}
