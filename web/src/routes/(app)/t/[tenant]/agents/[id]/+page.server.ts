import { fail } from '@sveltejs/kit'
import { actionFailure, callApi, loadFailure } from '$lib/server/api'
import { parseAgentForm } from '$lib/server/agent-form'
import type { Agent, Channel } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, params, parent }) => {
  const { tenant } = await parent()
  try {
    const [agent, channels] = await Promise.all([
      callApi<Agent>(locals, 'get_agent', { agent_id: params.id }),
      callApi<Channel[]>(locals, 'list_channels', { tenant_id: tenant.id }),
    ])
    if (agent.tenant_id !== tenant.id) loadFailure(new Error('wrong tenant'))
    const webChat =
      channels.find((c) => c.kind === 'web_chat' && c.status === 'active' && c.agent_id === agent.id) ?? null
    return { agent, testWidgetKey: webChat?.widget_key ?? null }
  } catch (e) {
    loadFailure(e)
  }
}

export const actions: Actions = {
  save: async ({ locals, request, params }) => {
    const { values, errors, payload } = parseAgentForm(await request.formData())
    if (Object.keys(errors).length) return fail(400, { values, errors })
    try {
      await callApi(locals, 'update_agent', { agent_id: params.id, changes: payload })
      return { done: 'save' }
    } catch (e) {
      return actionFailure(e, 'form', { values })
    }
  },
}
