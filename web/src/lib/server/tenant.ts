import { error } from '@sveltejs/kit'
import { callApi } from './api'
import type { Tenant, TenantSummary } from '$lib/types'

/**
 * The caller's tenant named in the URL by slug or id; 404 when they are not a member.
 * A platform admin who is not a member gets it read-only for support (role operator,
 * support: true): the api lets platform admins read every tenant and change none, and the
 * platform console recorded the access in the tenant's audit log before sending them here.
 */
export async function resolveTenant(
  locals: App.Locals,
  ref: string,
): Promise<{ tenant: TenantSummary; tenants: TenantSummary[]; isPlatformAdmin: boolean }> {
  const [tenants, me] = await Promise.all([
    callApi<TenantSummary[]>(locals, 'list_my_tenants'),
    callApi<{ is_platform_admin: boolean }>(locals, 'whoami'),
  ])
  const tenant = tenants.find((t) => t.slug === ref || t.id === ref)
  if (tenant) return { tenant, tenants, isPlatformAdmin: me.is_platform_admin }
  if (me.is_platform_admin && /^[0-9a-f-]{36}$/.test(ref)) {
    const full = await callApi<Tenant>(locals, 'get_tenant', { tenant_id: ref }).catch(() => null)
    if (full) {
      const support: TenantSummary = {
        id: full.id,
        name: full.name,
        slug: full.id,
        role: 'operator',
        created_at: full.created_at,
        support: true,
      }
      return { tenant: support, tenants: [...tenants, support], isPlatformAdmin: true }
    }
  }
  error(404, { message: 'This workspace does not exist or you are not a member of it.' })
}
