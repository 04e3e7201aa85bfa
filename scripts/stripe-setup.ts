// npm run stripe:setup — creates, in your Stripe account, what Konstruct's plans need,
// from the plans in your database (app.plans), and writes the ids back:
//   * one billing meter, event name konstruct_tokens (sum of `value` per customer);
//   * a product per paid plan (id konstruct_<plan key>);
//   * a monthly per-agent price (licensed; quantity = agents) and, when the plan charges for
//     tokens, a monthly metered price on the meter (per 1,000 tokens, rounded up).
// Idempotent: products are found by their fixed id, prices by lookup key (which includes
// the amount, so a new amount makes a new price: Stripe prices never change), the meter by
// its event name. Run it again after changing a plan's prices; nothing is made twice.
//
//   STRIPE_SECRET_KEY          required (sk_test_… or sk_live_…)
//   SUPABASE_URL               your project (or the local stack: npm run env)
//   SUPABASE_SECRET_KEY        a secret key (sb_secret_…), to read the plans and store the ids
//   STRIPE_API_URL             optional: another Stripe API base URL (a mock, a proxy)
//   STRIPE_METER_EVENT_NAME    optional: default konstruct_tokens
//   --dry-run                  print what would be created, change nothing
import { pathToFileURL } from 'node:url'
import Stripe from 'stripe'
import type { Api } from '../shared/api/client.ts'
import { projectFromEnv, serviceApi } from '../shared/api/project.ts'
import { createStripeClient } from '../shared/billing/stripe-client.ts'

export interface PlanRow {
  key: string
  name: string
  description: string
  currency: string
  price_per_agent_cents: number
  price_per_1k_tokens_cents: number | string
  active: boolean
  stripe_product_id: string | null
  stripe_price_id: string | null
  stripe_metered_price_id: string | null
}

export interface SetupResult {
  meter: { id: string; event_name: string; created: boolean }
  plans: Array<{ key: string; product: string; price: string; metered_price: string | null; created: string[] }>
}

function isMissing(error: unknown): boolean {
  const e = error as { statusCode?: number; code?: string }
  return e?.statusCode === 404 || e?.code === 'resource_missing'
}

export async function setupStripe(options: {
  stripe: Stripe
  rpc: Api
  eventName?: string
  dryRun?: boolean
  log?: (line: string) => void
}): Promise<SetupResult> {
  const { stripe, rpc } = options
  const eventName = options.eventName ?? 'konstruct_tokens'
  const log = options.log ?? (() => {})
  const dry = options.dryRun ?? false

  // 1. The meter, by event name.
  const meters = await stripe.billing.meters.list({ status: 'active', limit: 100 })
  let meter = meters.data.find((m) => m.event_name === eventName)
  const meterCreated = !meter
  if (!meter) {
    log(`create meter ${eventName}`)
    meter = dry
      ? ({ id: 'mtr_dry_run', event_name: eventName } as Stripe.Billing.Meter)
      : await stripe.billing.meters.create(
          {
            display_name: 'Konstruct tokens',
            event_name: eventName,
            default_aggregation: { formula: 'sum' },
            customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
            value_settings: { event_payload_key: 'value' },
          },
          { idempotencyKey: `konstruct-meter-${eventName}` },
        )
  }

  // 2. Products and prices per paid plan.
  const plans = (await rpc<PlanRow[]>('list_plans', {})).filter((p) => p.active && p.price_per_agent_cents > 0)
  const result: SetupResult = { meter: { id: meter.id, event_name: eventName, created: meterCreated }, plans: [] }
  for (const plan of plans) {
    const created: string[] = []
    const productId = `konstruct_${plan.key}`
    const productName = `Konstruct ${plan.name}`
    try {
      const product = await stripe.products.retrieve(productId)
      if (product.name !== productName && !dry) await stripe.products.update(productId, { name: productName })
    } catch (error) {
      if (!isMissing(error)) throw error
      created.push(`product ${productId}`)
      if (!dry) {
        await stripe.products.create({
          id: productId,
          name: productName,
          description: plan.description || undefined,
          metadata: { konstruct_plan: plan.key },
        })
      }
    }

    const findOrCreatePrice = async (lookupKey: string, params: Stripe.PriceCreateParams): Promise<string> => {
      const found = await stripe.prices.list({ lookup_keys: [lookupKey], active: true, limit: 1 })
      if (found.data[0]) return found.data[0].id
      created.push(`price ${lookupKey}`)
      if (dry) return `price_dry_run_${lookupKey}`
      const price = await stripe.prices.create(
        { ...params, lookup_key: lookupKey, metadata: { konstruct_plan: plan.key } },
        { idempotencyKey: `konstruct-price-${lookupKey}` },
      )
      return price.id
    }

    const currency = plan.currency.toLowerCase()
    const agentPrice = await findOrCreatePrice(
      `konstruct_${plan.key}_agent_${currency}_${plan.price_per_agent_cents}`,
      {
        product: productId,
        currency,
        unit_amount: plan.price_per_agent_cents,
        recurring: { interval: 'month', usage_type: 'licensed' },
        nickname: `${plan.name} — per agent`,
      },
    )
    const perThousand = Number(plan.price_per_1k_tokens_cents)
    let meteredPrice: string | null = null
    if (perThousand > 0) {
      meteredPrice = await findOrCreatePrice(
        `konstruct_${plan.key}_tokens_${currency}_${String(perThousand).replace('.', '_')}`,
        {
          product: productId,
          currency,
          unit_amount_decimal: Stripe.Decimal.from(String(perThousand)),
          recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
          transform_quantity: { divide_by: 1000, round: 'up' },
          nickname: `${plan.name} — per 1,000 tokens`,
        },
      )
    }
    if (!dry) {
      await rpc('upsert_plan', {
        plan: {
          key: plan.key,
          stripe_product_id: productId,
          stripe_price_id: agentPrice,
          stripe_metered_price_id: meteredPrice,
        },
      })
    }
    for (const line of created) log(`create ${line}`)
    result.plans.push({ key: plan.key, product: productId, price: agentPrice, metered_price: meteredPrice, created })
  }
  return result
}

function required(name: string): string {
  const value = process.env[name]?.trim()
  if (!value) throw new Error(`${name} is not set`)
  return value
}

async function main() {
  const result = await setupStripe({
    stripe: createStripeClient({
      secretKey: required('STRIPE_SECRET_KEY'),
      apiUrl: process.env.STRIPE_API_URL?.trim() || undefined,
    }),
    // SUPABASE_URL and SUPABASE_SECRET_KEY, as `npm run env` (or the dashboard) gives them.
    rpc: serviceApi(projectFromEnv(process.env)),
    eventName: process.env.STRIPE_METER_EVENT_NAME?.trim() || undefined,
    dryRun: process.argv.includes('--dry-run'),
    log: (line) => console.error(line),
  })
  console.log(JSON.stringify(result, null, 2))
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exitCode = 1
  })
}
