import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import type { AgentSummary, AgentTemplate } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, parent }) => {
  const { tenant } = await parent()
  try {
    const [agents, templates] = await Promise.all([
      callApi<AgentSummary[]>(locals, 'list_agents', { tenant_id: tenant.id }),
      callApi<AgentTemplate[]>(locals, 'list_agent_templates'),
    ])
    return { agents, templates }
  } catch (e) {
    loadFailure(e)
  }
}

const agentCall = (fn: string) =>
  (async ({ locals, request }) => {
    const form = await request.formData()
    try {
      await callApi(locals, fn, { agent_id: formString(form, 'agent_id') })
      return { done: fn }
    } catch (e) {
      return actionFailure(e)
    }
  }) satisfies Actions[string]

export const actions: Actions = {
  deploy: async ({ locals, request }) => {
    const form = await request.formData()
    const templateKey = formString(form, 'template_key')
    try {
      await callApi(locals, 'deploy_agent_template', {
        tenant_id: formString(form, 'tenant_id'),
        template_key: templateKey,
        name: formString(form, 'name') || null,
      })
      return { done: 'deploy' }
    } catch (e) {
      // The refusal (e.g. the plan's agent limit, KO010) is shown inside the card that was used.
      return actionFailure(e, 'template', { template_key: templateKey })
    }
  },
  pause: agentCall('pause_agent'),
  resume: agentCall('resume_agent'),
  delete: agentCall('delete_agent'),
}
