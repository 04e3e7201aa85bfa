import { callApi, loadFailure } from '$lib/server/api'
import type { AgentSummary, UsageRow } from '$lib/types'
import type { PageServerLoad } from './$types'

const periods = { month: 'This month', '7d': 'Last 7 days', '30d': 'Last 30 days', '90d': 'Last 90 days' } as const
type Period = keyof typeof periods

function periodStart(period: Period, now = new Date()): Date {
  if (period === 'month') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))
  const days = Number(period.replace('d', ''))
  return new Date(now.getTime() - days * 86_400_000)
}

export const load: PageServerLoad = async ({ locals, parent, url }) => {
  const { tenant } = await parent()
  const requested = url.searchParams.get('period') ?? 'month'
  const period: Period = requested in periods ? (requested as Period) : 'month'
  const from = periodStart(period).toISOString()
  const usage = (group_by: string) =>
    callApi<UsageRow[]>(locals, 'usage_summary', { tenant_id: tenant.id, group_by, from_time: from, to_time: null })
  try {
    const [byDay, byChannel, byAgent, byModel, agents] = await Promise.all([
      usage('day'),
      usage('channel'),
      usage('agent'),
      usage('model'),
      callApi<AgentSummary[]>(locals, 'list_agents', { tenant_id: tenant.id }),
    ])
    const num = (rows: UsageRow[]) =>
      rows.map((r) => ({
        ...r,
        total_tokens: Number(r.total_tokens),
        cost_usd: Number(r.cost_usd ?? 0),
        event_count: Number(r.event_count),
      }))
    return {
      period,
      periods,
      byDay: num(byDay),
      byChannel: num(byChannel),
      byAgent: num(byAgent),
      byModel: num(byModel),
      budgets: agents.map((a) => ({
        id: a.id,
        name: a.name,
        used: Number(a.tokens_used_this_month),
        budget: a.monthly_token_budget == null ? null : Number(a.monthly_token_budget),
      })),
    }
  } catch (e) {
    loadFailure(e)
  }
}
