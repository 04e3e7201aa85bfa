// The dashboard's figures (api.get_dashboard) and the periods it can be asked for.
import { z } from 'zod'

const count = z.coerce.number().int().nonnegative()
const figuresSchema = z.object({
  conversations: count,
  messages: count,
  messages_in: count,
  messages_agent: count,
  messages_member: count,
  answered: count,
  answered_without_human: z.coerce.number().int(),
  answered_without_human_share: z.coerce.number().nullable(),
  handed_off: count,
  median_first_response_seconds: z.coerce.number().nullable(),
  waiting: count,
  tokens: count,
  cost_usd: z.coerce.number(),
  ratings: count,
  average_rating: z.coerce.number().nullable(),
  good_rating_share: z.coerce.number().nullable(),
})
export type Figures = z.infer<typeof figuresSchema>

export const dashboardSchema = z.object({
  from_day: z.string(),
  to_day: z.string(),
  totals: figuresSchema,
  by_agent: z.array(figuresSchema.extend({ agent_id: z.string().nullable(), name: z.string() })),
  by_channel: z.array(figuresSchema.extend({ channel: z.string().nullable() })),
  by_day: z.array(z.object({ day: z.string(), conversations: count, messages: count, cost_usd: z.coerce.number() })),
})
export type Dashboard = z.infer<typeof dashboardSchema>

export const periods = {
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  '90d': 'Last 90 days',
  billing: 'This billing period',
} as const
export type Period = keyof typeof periods

export function isPeriod(value: string | null): value is Period {
  return value !== null && Object.hasOwn(periods, value)
}

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10)
}

/** The UTC days (inclusive) a period covers: days of the rollups, the billing period a UTC month. */
export function periodDays(period: Period, now = new Date()): { from_day: string; to_day: string } {
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
  if (period === 'billing')
    return { from_day: isoDay(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1))), to_day: isoDay(today) }
  const days = Number(period.slice(0, -1))
  return { from_day: isoDay(new Date(today.getTime() - (days - 1) * 86_400_000)), to_day: isoDay(today) }
}

/** A first-response time as people say it: "8 s", "2 min 5 s", "1 h 10 min". */
export function formatWait(seconds: number | null): string {
  if (seconds === null) return '—'
  const s = Math.round(seconds)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`
  const m = Math.round(s / 60)
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`
}

export const channelNames: Record<string, string> = { slack: 'Slack', whatsapp: 'WhatsApp', web_chat: 'Web chat' }
