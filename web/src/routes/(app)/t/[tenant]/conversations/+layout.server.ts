// The inbox list beside every conversation: the filters come from the URL, so a view or a
// search survives a reload and moving from one conversation to the next.
import { callApi, loadFailure } from '$lib/server/api'
import { filtersFrom, listArgs, PAGE_SIZE } from '$lib/inbox'
import type { AgentSummary, Assignee, Channel, ConversationRow } from '$lib/types'
import type { LayoutServerLoad } from './$types'

export const load: LayoutServerLoad = async ({ locals, parent, url }) => {
  const { tenant } = await parent()
  const filters = filtersFrom(url.searchParams)
  try {
    const [conversations, agents, channels, assignees] = await Promise.all([
      callApi<ConversationRow[]>(locals, 'list_conversations', {
        tenant_id: tenant.id,
        ...listArgs(filters),
        page_size: PAGE_SIZE,
      }),
      callApi<AgentSummary[]>(locals, 'list_agents', { tenant_id: tenant.id }),
      callApi<Channel[]>(locals, 'list_channels', { tenant_id: tenant.id }),
      callApi<Assignee[]>(locals, 'list_assignees', { tenant_id: tenant.id }),
    ])
    return {
      conversations,
      filters,
      agents: agents.map((a) => ({ id: a.id, name: a.name })),
      channels: channels.map((c) => ({ id: c.id, name: c.name, kind: c.kind })),
      assignees,
    }
  } catch (e) {
    loadFailure(e)
  }
}
