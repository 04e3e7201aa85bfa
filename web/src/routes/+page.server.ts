import { redirect } from '@sveltejs/kit'
import { callApi } from '$lib/server/api'
import type { TenantSummary } from '$lib/types'
import type { PageServerLoad } from './$types'

// The portal's front door: the first tenant's conversations, the platform console for a
// platform admin in no tenant, or onboarding when the signed-in user belongs to no tenant yet.
export const load: PageServerLoad = async ({ locals }) => {
  const [tenants, me] = await Promise.all([
    callApi<TenantSummary[]>(locals, 'list_my_tenants'),
    callApi<{ is_platform_admin: boolean }>(locals, 'whoami'),
  ])
  // A platform admin who is a member of no tenant runs the platform console.
  if (tenants.length === 0 && me.is_platform_admin) redirect(303, '/platform')
  if (tenants.length === 0) redirect(303, '/onboarding')
  redirect(303, `/t/${tenants[0].slug}/conversations`)
}
