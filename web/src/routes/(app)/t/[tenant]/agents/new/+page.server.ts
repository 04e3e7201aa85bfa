import { error, fail, redirect } from '@sveltejs/kit'
import { actionFailure, callApi } from '$lib/server/api'
import { parseAgentForm } from '$lib/server/agent-form'
import { checkAgentModel } from '$lib/server/model-settings'
import { webSearchAvailability } from '$lib/server/web-search'
import { resolveTenant } from '$lib/server/tenant'
import { canEdit, type Agent } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ parent }) => {
  const { tenant } = await parent()
  if (!canEdit(tenant.role)) error(403, { message: 'Only owners and admins can create agents.' })
  return { webSearch: webSearchAvailability() }
}

export const actions: Actions = {
  default: async ({ locals, request, params }) => {
    const parsed = parseAgentForm(await request.formData())
    if (!parsed.ok) return fail(400, { values: parsed.values, errors: parsed.errors })
    const { tenant } = await resolveTenant(locals, params.tenant)
    let agent: Agent
    try {
      // An endpoint or model of its own is tested with one tiny request first; a failure creates nothing.
      const refused = await checkAgentModel(locals, tenant.id, parsed.payload.model_settings ?? {})
      if (refused) return fail(400, { values: parsed.values, errors: refused })
      agent = await callApi<Agent>(locals, 'create_agent', { tenant_id: tenant.id, ...parsed.payload })
    } catch (e) {
      return actionFailure(e, 'form', { values: parsed.values })
    }
    redirect(303, `/t/${params.tenant}/agents/${agent.id}?created=1`)
  },
}
