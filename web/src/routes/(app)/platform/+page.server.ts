import { z } from 'zod'
import { callApi, loadFailure } from '$lib/server/api'
import type { PageServerLoad } from './$types'

export interface PlatformTenantRow {
  id: string
  name: string
  slug: string
  created_at: string
  suspended_at: string | null
  plan_key: string | null
  plan_name: string | null
  billing_status: string
  member_count: number
  channel_count: number
  agent_count: number
  messages_this_period: number
  tokens_this_period: number
  cost_this_period: number
}

const PAGE = 50
const querySchema = z.object({
  q: z.string().trim().max(120).catch(''),
  after_name: z.string().max(200).nullable().catch(null),
  after_id: z.string().uuid().nullable().catch(null),
})

export const load: PageServerLoad = async ({ locals, url }) => {
  const query = querySchema.parse({
    q: url.searchParams.get('q') ?? '',
    after_name: url.searchParams.get('after_name'),
    after_id: url.searchParams.get('after_id'),
  })
  try {
    const tenants = await callApi<PlatformTenantRow[]>(locals, 'platform_list_tenants', {
      search: query.q || null,
      after_name: query.after_name,
      after_id: query.after_id,
      page_size: PAGE,
    })
    const last = tenants.at(-1)
    const next =
      tenants.length === PAGE && last
        ? `?${new URLSearchParams({ ...(query.q ? { q: query.q } : {}), after_name: last.name, after_id: last.id })}`
        : null
    return { tenants, q: query.q, next, paged: !!query.after_id }
  } catch (e) {
    loadFailure(e)
  }
}
