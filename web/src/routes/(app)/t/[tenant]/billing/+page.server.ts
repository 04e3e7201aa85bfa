// Billing: the tenant's plan and state, usage against the plan's limits, the plans on
// offer, and the two ways to Stripe (Checkout to subscribe or change plan, the Billing
// Portal for payment methods, invoices and cancelling), both opened by the `billing`
// edge function as the signed-in user — the database decides who may (owners, admins).
import { fail, redirect } from '@sveltejs/kit'
import { callApi, formString, loadFailure } from '$lib/server/api'
import { resolveTenant } from '$lib/server/tenant'
import type { Actions, PageServerLoad } from './$types'

export interface BillingOverview {
  status: 'none' | 'trialing' | 'active' | 'past_due' | 'canceled' | 'unpaid'
  plan: {
    key: string
    name: string
    description: string
    included_agents: number | null
    monthly_messages: number | null
    monthly_tokens: number | null
    channels: string[]
    currency: string
    price_per_agent_cents: number
    price_per_1k_tokens_cents: number
  } | null
  paused: boolean
  pause_reason: 'payment_overdue' | 'canceled' | 'unpaid' | null
  trial_ends_at: string | null
  trial_days_left: number | null
  current_period_end: string | null
  cancel_at_period_end: boolean
  past_due_since: string | null
  grace_ends_at: string | null
  quantity: number
  limits: { agents: number | null; monthly_messages: number | null; monthly_tokens: number | null; channels: string[] }
  usage: { period_start: string; agents: number; messages: number; tokens: number }
  can_manage: boolean
  payment: {
    has_customer: boolean
    billing_email: string | null
    payment_failed_at: string | null
    latest_invoice: {
      id: string
      status: string | null
      url: string | null
      amount_due: number | null
      currency: string | null
    } | null
  } | null
}

export interface PlanOffer {
  key: string
  name: string
  description: string
  included_agents: number | null
  monthly_messages: number | null
  monthly_tokens: number | null
  channels: string[]
  trial_days: number
  currency: string
  price_per_agent_cents: number
  price_per_1k_tokens_cents: number
  purchasable: boolean
}

export const load: PageServerLoad = async ({ locals, parent, url }) => {
  const { tenant } = await parent()
  try {
    const [billing, plans] = await Promise.all([
      callApi<BillingOverview>(locals, 'get_billing', { tenant_id: tenant.id }),
      callApi<PlanOffer[]>(locals, 'list_plans'),
    ])
    return {
      billing: {
        ...billing,
        usage: {
          ...billing.usage,
          agents: Number(billing.usage.agents),
          messages: Number(billing.usage.messages),
          tokens: Number(billing.usage.tokens),
        },
      },
      plans: plans.map((p) => ({
        ...p,
        monthly_messages: p.monthly_messages == null ? null : Number(p.monthly_messages),
        monthly_tokens: p.monthly_tokens == null ? null : Number(p.monthly_tokens),
        price_per_1k_tokens_cents: Number(p.price_per_1k_tokens_cents),
      })),
      checkout: url.searchParams.get('checkout'),
    }
  } catch (e) {
    loadFailure(e)
  }
}

/** The billing function's answer: a Stripe URL, or a sentence to show. */
async function openStripe(
  locals: App.Locals,
  body: Record<string, unknown>,
): Promise<{ url?: string; message?: string; status: number }> {
  const { data, error } = await locals.supabase.functions.invoke('billing', { body })
  if (!error) {
    const url = (data as { url?: unknown } | null)?.url
    return typeof url === 'string' && url.startsWith('http')
      ? { url, status: 200 }
      : { message: 'Stripe did not answer. Try again.', status: 502 }
  }
  // FunctionsHttpError carries the response: the function's { error } is written for people.
  const response = (error as { context?: Response }).context
  let message = 'Billing is unavailable right now. Try again in a moment.'
  let status = 502
  if (response && typeof response.json === 'function') {
    status = response.status
    const payload = (await response.json().catch(() => null)) as { error?: unknown } | null
    if (typeof payload?.error === 'string') message = payload.error
  }
  return { message, status: status >= 400 && status < 600 ? status : 502 }
}

/** One shape for every action's errors, so the page reads any of them. */
type BillingErrors = { plan?: string; quantity?: string; portal?: string }
const failWith = (status: number, errors: BillingErrors, extra: Record<string, unknown> = {}) =>
  fail(status, { ...extra, errors })

export const actions: Actions = {
  checkout: async ({ locals, request, params }) => {
    const { tenant } = await resolveTenant(locals, params.tenant)
    const form = await request.formData()
    const plan_key = formString(form, 'plan_key')
    const quantity = Number(formString(form, 'quantity') || '1')
    if (!plan_key) return failWith(400, { plan: 'Choose a plan.' })
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > 500) {
      return failWith(400, { quantity: 'Agents must be a whole number between 1 and 500.' }, { plan_key })
    }
    const result = await openStripe(locals, { action: 'checkout', tenant_id: tenant.id, plan_key, quantity })
    if (!result.url) return failWith(result.status === 403 ? 403 : 400, { plan: result.message }, { plan_key })
    redirect(303, result.url)
  },
  portal: async ({ locals, params }) => {
    const { tenant } = await resolveTenant(locals, params.tenant)
    const result = await openStripe(locals, { action: 'portal', tenant_id: tenant.id })
    if (!result.url) return failWith(result.status === 403 ? 403 : 400, { portal: result.message })
    redirect(303, result.url)
  },
}
