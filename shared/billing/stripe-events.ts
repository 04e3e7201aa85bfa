// Reduces a verified Stripe event to what api.apply_stripe_event needs. Only the fields
// Konstruct reads are kept, and both shapes Stripe has used are accepted: the billing
// period on the subscription (before 2025-03-31.basil) or on its items (after), and an
// invoice's subscription as `subscription` or `parent.subscription_details.subscription`.
import { z } from 'zod'

export const HANDLED_EVENT_TYPES = [
  'checkout.session.completed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
] as const
export type HandledEventType = (typeof HANDLED_EVENT_TYPES)[number]

const idOf = z
  .union([z.string(), z.object({ id: z.string() }).passthrough()])
  .nullish()
  .transform((v) => (v == null ? null : typeof v === 'string' ? v : v.id))
const unix = z
  .number()
  .int()
  .nullish()
  .transform((v) => v ?? null)
const metadata = z
  .record(z.string(), z.string())
  .nullish()
  .transform((v) => v ?? {})

const subscriptionSchema = z.object({
  id: z.string(),
  customer: idOf,
  status: z.string(),
  metadata,
  trial_end: unix,
  current_period_start: unix,
  current_period_end: unix,
  cancel_at_period_end: z.boolean().nullish(),
  canceled_at: unix,
  items: z
    .object({
      data: z.array(
        z.object({
          price: z.object({ id: z.string() }).passthrough().nullish(),
          quantity: z.number().int().nullish(),
          current_period_start: unix,
          current_period_end: unix,
        }),
      ),
    })
    .nullish(),
})

const invoiceSchema = z.object({
  id: z.string(),
  customer: idOf,
  subscription: idOf,
  parent: z
    .object({ subscription_details: z.object({ subscription: idOf }).passthrough().nullish() })
    .passthrough()
    .nullish(),
  status: z.string().nullish(),
  hosted_invoice_url: z.string().nullish(),
  amount_due: z.number().int().nullish(),
  currency: z.string().nullish(),
})

const checkoutSchema = z.object({
  id: z.string(),
  customer: idOf,
  subscription: idOf,
  client_reference_id: z.string().nullish(),
  metadata,
})

const eventSchema = z.object({
  id: z.string(),
  type: z.string(),
  created: z.number().int(),
  data: z.object({ object: z.unknown() }),
})

export interface NormalizedStripeEvent {
  id: string
  type: HandledEventType
  created: number
  customer: string | null
  subscription?: {
    id: string
    status: string
    plan_key: string | null
    items: Array<{ price_id: string | null; quantity: number }>
    trial_end: number | null
    current_period_start: number | null
    current_period_end: number | null
    cancel_at_period_end: boolean
    canceled_at: number | null
  }
  invoice?: {
    id: string
    subscription_id: string | null
    status: string | null
    hosted_invoice_url: string | null
    amount_due: number | null
    currency: string | null
  }
  checkout?: { subscription_id: string | null; tenant_id: string | null; plan_key: string | null }
}

const minOf = (values: Array<number | null>) => {
  const present = values.filter((v): v is number => v !== null)
  return present.length ? Math.min(...present) : null
}
const maxOf = (values: Array<number | null>) => {
  const present = values.filter((v): v is number => v !== null)
  return present.length ? Math.max(...present) : null
}

export function isHandledEventType(type: string): type is HandledEventType {
  return (HANDLED_EVENT_TYPES as readonly string[]).includes(type)
}

/** The event as apply_stripe_event takes it, or null for a type Konstruct does not handle. Throws on a malformed object. */
export function normalizeStripeEvent(raw: unknown): NormalizedStripeEvent | null {
  const event = eventSchema.parse(raw)
  if (!isHandledEventType(event.type)) return null
  const base = { id: event.id, type: event.type, created: event.created }
  if (event.type === 'checkout.session.completed') {
    const session = checkoutSchema.parse(event.data.object)
    return {
      ...base,
      customer: session.customer,
      checkout: {
        subscription_id: session.subscription,
        tenant_id: session.client_reference_id ?? session.metadata['tenant_id'] ?? null,
        plan_key: session.metadata['plan_key'] ?? null,
      },
    }
  }
  if (event.type.startsWith('customer.subscription.')) {
    const sub = subscriptionSchema.parse(event.data.object)
    const items = sub.items?.data ?? []
    return {
      ...base,
      customer: sub.customer,
      subscription: {
        id: sub.id,
        status: sub.status,
        plan_key: sub.metadata['plan_key'] ?? null,
        items: items.map((item) => ({ price_id: item.price?.id ?? null, quantity: item.quantity ?? 1 })),
        trial_end: sub.trial_end,
        current_period_start: sub.current_period_start ?? minOf(items.map((i) => i.current_period_start)),
        current_period_end: sub.current_period_end ?? maxOf(items.map((i) => i.current_period_end)),
        cancel_at_period_end: sub.cancel_at_period_end ?? false,
        canceled_at: sub.canceled_at,
      },
    }
  }
  const invoice = invoiceSchema.parse(event.data.object)
  return {
    ...base,
    customer: invoice.customer,
    invoice: {
      id: invoice.id,
      subscription_id: invoice.subscription ?? invoice.parent?.subscription_details?.subscription ?? null,
      status: invoice.status ?? null,
      hosted_invoice_url: invoice.hosted_invoice_url ?? null,
      amount_due: invoice.amount_due ?? null,
      currency: invoice.currency ?? null,
    },
  }
}
