import { callApi, loadFailure } from '$lib/server/api'
import { dashboardSchema, isPeriod, periodDays, periods, type Period } from '$lib/dashboard'
import type { PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, parent, url, depends }) => {
  depends('app:dashboard')
  const { tenant } = await parent()
  const requested = url.searchParams.get('period')
  const period: Period = isPeriod(requested) ? requested : '30d'
  try {
    const raw = await callApi<unknown>(locals, 'get_dashboard', { tenant_id: tenant.id, ...periodDays(period) })
    return { period, periods, dashboard: dashboardSchema.parse(raw) }
  } catch (e) {
    loadFailure(e)
  }
}
