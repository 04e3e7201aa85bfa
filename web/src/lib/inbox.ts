// The inbox list's filters, read from the URL (zod: a bad value is dropped, never sent),
// and the api arguments they become. Views: all, mine, unassigned, waiting, closed.
import { z } from 'zod'

export const VIEWS = [
  { key: 'all', label: 'All' },
  { key: 'mine', label: 'Mine' },
  { key: 'unassigned', label: 'Unassigned' },
  { key: 'waiting', label: 'Waiting for a human' },
  { key: 'closed', label: 'Closed' },
] as const
export type View = (typeof VIEWS)[number]['key']

const uuid = z.string().uuid()
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/)
const filterSchema = z.object({
  view: z.enum(['all', 'mine', 'unassigned', 'waiting', 'closed']).catch('all'),
  q: z.string().trim().max(200).catch(''),
  channel: z.enum(['web_chat', 'slack', 'whatsapp']).nullable().catch(null),
  status: z.enum(['open', 'waiting_for_human', 'human', 'closed']).nullable().catch(null),
  agent: uuid.nullable().catch(null),
  assignee: uuid.nullable().catch(null),
  from: day.nullable().catch(null),
  to: day.nullable().catch(null),
})
export type InboxFilters = z.infer<typeof filterSchema>

export function filtersFrom(params: URLSearchParams): InboxFilters {
  const get = (k: string) => params.get(k) || null
  // The old "Waiting for a human" checkbox (?waiting=1) is the waiting view.
  const view = params.get('waiting') ? 'waiting' : get('view')
  return filterSchema.parse({
    view: view ?? 'all',
    q: params.get('q') ?? '',
    channel: get('channel'),
    status: get('status'),
    agent: get('agent'),
    assignee: get('assignee'),
    from: get('from'),
    to: get('to'),
  })
}

/** The list_conversations arguments of a filter set (dates are whole days, UTC). */
export function listArgs(f: InboxFilters): Record<string, unknown> {
  const next = (d: string) => new Date(Date.parse(`${d}T00:00:00Z`) + 86_400_000).toISOString()
  return {
    view: f.view,
    search: f.q || null,
    channel: f.channel,
    status: f.status,
    agent_id: f.agent,
    assignee_id: f.assignee,
    from_time: f.from ? `${f.from}T00:00:00Z` : null,
    to_time: f.to ? next(f.to) : null,
  }
}

/** The query string of a filter set, without defaults. */
export function queryOf(f: InboxFilters): string {
  const params = new URLSearchParams()
  if (f.view !== 'all') params.set('view', f.view)
  if (f.q) params.set('q', f.q)
  for (const key of ['channel', 'status', 'agent', 'assignee', 'from', 'to'] as const) {
    const value = f[key]
    if (value) params.set(key, value)
  }
  const text = params.toString()
  return text ? `?${text}` : ''
}

export const PAGE_SIZE = 50
