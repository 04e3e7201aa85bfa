import { error } from '@sveltejs/kit'
import { callApi } from './api'
import type { TenantSummary } from '$lib/types'

/** The caller's tenant named in the URL by slug or id; 404 when they are not a member. */
export async function resolveTenant(locals: App.Locals, ref: string): Promise<{ tenant: TenantSummary; tenants: TenantSummary[] }> {
  const tenants = await callApi<TenantSummary[]>(locals, 'list_my_tenants')
  const tenant = tenants.find((t) => t.slug === ref || t.id === ref)
  if (!tenant) error(404, { message: 'This workspace does not exist or you are not a member of it.' })
  return { tenant, tenants }
}
