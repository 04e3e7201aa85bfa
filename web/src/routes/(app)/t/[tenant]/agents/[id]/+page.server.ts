import { fail } from '@sveltejs/kit'
import { actionFailure, callApi, loadFailure } from '$lib/server/api'
import { parseAgentForm } from '$lib/server/agent-form'
import { checkAgentModel } from '$lib/server/model-settings'
import { webSearchAvailability } from '$lib/server/web-search'
import type { Agent, AgentWithSettings, Channel } from '$lib/types'
import { readAgentSettings } from '$shared/agent/settings.ts'
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
    // The designer shows the settings that fit the format; what does not is named on the page.
    const settings = readAgentSettings(agent)
    const shown: AgentWithSettings = {
      ...agent,
      model_settings: settings.model.settings,
      tools: settings.tools,
      escalation_rules: settings.escalationRules,
    }
    return {
      agent: shown,
      settingsProblems: settings.problems,
      testWidgetKey: webChat?.widget_key ?? null,
      webSearch: webSearchAvailability(),
    }
  } catch (e) {
    loadFailure(e)
  }
}

export const actions: Actions = {
  save: async ({ locals, request, params }) => {
    const form = await request.formData()
    let stored: Agent
    try {
      // The stored agent: the settings the designer does not show are kept (agent-form.ts).
      stored = await callApi<Agent>(locals, 'get_agent', { agent_id: params.id })
    } catch (e) {
      return actionFailure(e, 'form', { values: parseAgentForm(form).values })
    }
    const parsed = parseAgentForm(form, stored)
    if (!parsed.ok) return fail(400, { values: parsed.values, errors: parsed.errors })
    try {
      // A changed endpoint or model is tested with one tiny request first; a failure saves nothing.
      const before = readAgentSettings(stored).model.settings
      const refused = await checkAgentModel(locals, stored.tenant_id, parsed.payload.model_settings ?? {}, {
        ...before,
        has_own_llm_key: stored.has_own_llm_key,
      })
      if (refused) return fail(400, { values: parsed.values, errors: refused })
      await callApi(locals, 'update_agent', { agent_id: params.id, changes: parsed.payload })
      return { done: 'save' }
    } catch (e) {
      return actionFailure(e, 'form', { values: parsed.values })
    }
  },
}
