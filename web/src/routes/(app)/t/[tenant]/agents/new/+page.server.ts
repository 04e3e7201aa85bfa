import { error, fail, redirect } from '@sveltejs/kit'
import { actionFailure, callApi } from '$lib/server/api'
import { parseAgentForm } from '$lib/server/agent-form'
import { resolveTenant } from '$lib/server/tenant'
import { canEdit, type Agent } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ parent }) => {
  const { tenant } = await parent()
  if (!canEdit(tenant.role)) error(403, { message: 'Only owners and admins can create agents.' })
}

export const actions: Actions = {
  default: async ({ locals, request, params }) => {
    const { values, errors, payload } = parseAgentForm(await request.formData())
    if (Object.keys(errors).length) return fail(400, { values, errors })
    const { tenant } = await resolveTenant(locals, params.tenant)
    let agent: Agent
    try {
      agent = await callApi<Agent>(locals, 'create_agent', { tenant_id: tenant.id, ...payload })
    } catch (e) {
      return actionFailure(e, 'form', { values })
    }
    redirect(303, `/t/${params.tenant}/agents/${agent.id}?created=1`)
  },
}
