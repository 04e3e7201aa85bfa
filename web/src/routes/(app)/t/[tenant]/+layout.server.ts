import { callApi } from '$lib/server/api'
import { resolveTenant } from '$lib/server/tenant'
import type { ConversationRow, ModelHealth, Suspension } from '$lib/types'
import type { LayoutServerLoad } from './$types'

export const load: LayoutServerLoad = async ({ locals, params, depends }) => {
  depends('app:tenant')
  const { tenant, tenants, isPlatformAdmin } = await resolveTenant(locals, params.tenant)
  // Conversations waiting for a human drive the alert on every page.
  const [waiting, modelHealth, suspension] = await Promise.all([
    callApi<ConversationRow[]>(locals, 'list_conversations', {
      tenant_id: tenant.id,
      status: 'waiting_for_human',
      page_size: 200,
    }),
    // A model that keeps failing is shown on every page until it answers again.
    callApi<ModelHealth>(locals, 'get_model_health', { tenant_id: tenant.id }),
    callApi<Suspension | null>(locals, 'get_tenant_suspension', { tenant_id: tenant.id }),
  ])
  return {
    tenant,
    tenants,
    modelHealth,
    isPlatformAdmin,
    suspension: suspension?.suspended ? suspension : null,
    waiting: waiting.map((c) => ({ id: c.id, contact_name: c.contact_name, escalation_reason: c.escalation_reason })),
  }
}
