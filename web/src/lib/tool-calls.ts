// Tool calls shown inline in a conversation: each one under the message it answered
// (message_id), else under the last message written before it.
import type { Message, ToolCall, ToolCallStatus } from './types'

/** Tool calls by the id of the message they follow; '' = before the first loaded message. */
export function anchorToolCalls(messages: Message[], toolCalls: ToolCall[]): Map<string, ToolCall[]> {
  const ids = new Set(messages.map((m) => m.id))
  const byAnchor = new Map<string, ToolCall[]>()
  for (const call of toolCalls) {
    let anchor = call.message_id && ids.has(call.message_id) ? call.message_id : ''
    if (!anchor) {
      const at = Date.parse(call.created_at)
      for (const m of messages) {
        if (Date.parse(m.created_at) <= at) anchor = m.id
        else break
      }
    }
    const list = byAnchor.get(anchor) ?? []
    list.push(call)
    byAnchor.set(anchor, list)
  }
  for (const list of byAnchor.values())
    list.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : 1))
  return byAnchor
}

/** Newer versions of the same tool call replace older ones. */
export function mergeToolCalls(existing: ToolCall[], incoming: ToolCall[]): ToolCall[] {
  const byId = new Map(existing.map((c) => [c.id, c]))
  for (const c of incoming) byId.set(c.id, c)
  return [...byId.values()].sort(
    (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : 1),
  )
}

const toolLabels: Record<string, string> = {
  knowledge_search: 'Searched the knowledge base',
  http_request: 'Called a web API',
  web_search: 'Searched the web',
  escalate_to_human: 'Asked for a human',
}

export const toolLabel = (name: string): string => toolLabels[name] ?? `Used ${name.replace(/_/g, ' ')}`

export const toolStatusLabel: Record<ToolCallStatus, string> = {
  requested: 'running',
  awaiting_confirmation: 'waiting for the user to confirm',
  confirmed: 'confirmed',
  cancelled: 'cancelled by the user',
  succeeded: 'succeeded',
  failed: 'failed',
  refused: 'refused',
}

/** JSON for a <pre>, cut short so a large result cannot flood the page. */
export function showJson(value: unknown, max = 4000): string {
  if (value == null) return '—'
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2)
  return text.length > max ? `${text.slice(0, max)}\n… (${text.length - max} more characters)` : text
}
