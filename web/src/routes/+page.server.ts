import { redirect } from '@sveltejs/kit'
import { callApi } from '$lib/server/api'
import type { TenantSummary } from '$lib/types'
import type { PageServerLoad } from './$types'

// The portal's front door: the first tenant's conversations, or onboarding when the
// signed-in user belongs to no tenant yet.
export const load: PageServerLoad = async ({ locals }) => {
  const tenants = await callApi<TenantSummary[]>(locals, 'list_my_tenants')
  if (tenants.length === 0) redirect(303, '/onboarding')
  redirect(303, `/t/${tenants[0].slug}/conversations`)
}
