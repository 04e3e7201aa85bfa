import { callApi, loadFailure } from '$lib/server/api'
import type { AgentSummary, Channel, ConversationRow } from '$lib/types'
import type { PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, parent, url }) => {
  const { tenant } = await parent()
  const filters = {
    channel: url.searchParams.get('channel') || null,
    status: url.searchParams.get('waiting') ? 'waiting_for_human' : url.searchParams.get('status') || null,
    agent_id: url.searchParams.get('agent') || null,
    search: url.searchParams.get('q')?.trim() || null,
  }
  try {
    const [conversations, agents, channels] = await Promise.all([
      callApi<ConversationRow[]>(locals, 'list_conversations', { tenant_id: tenant.id, ...filters, page_size: 50 }),
      callApi<AgentSummary[]>(locals, 'list_agents', { tenant_id: tenant.id }),
      callApi<Channel[]>(locals, 'list_channels', { tenant_id: tenant.id }),
    ])
    return {
      conversations,
      filters,
      agents: agents.map((a) => ({ id: a.id, name: a.name })),
      channels: channels.map((c) => ({ id: c.id, name: c.name, kind: c.kind })),
    }
  } catch (e) {
    loadFailure(e)
  }
}
