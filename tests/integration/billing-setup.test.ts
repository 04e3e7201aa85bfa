// scripts/stripe-setup.ts against the fake Stripe API and the local stack: it creates the
// meter, a product per paid plan and their prices, stores the ids on the plans, and a
// second run creates nothing.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { setupStripe } from '../../scripts/stripe-setup.ts'
import { createApi } from '../../shared/api/client.ts'
import { createStripeClient } from '../../shared/billing/stripe-client.ts'
import { startFakeStripe, type FakeStripe } from '../fakes/fake-stripe.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'

let stack: TestStack
let fake: FakeStripe

beforeAll(async () => {
  fake = await startFakeStripe({ secretKey: 'sk_test_setup' })
  stack = await startTestStack()
}, 90_000)

afterAll(async () => {
  await stack?.close()
  await fake?.close()
})

test('creates the meter, products and prices once, from the plan data, and stores the ids', async () => {
  const stripe = createStripeClient({ secretKey: 'sk_test_setup', apiUrl: fake.url, maxNetworkRetries: 0 })
  const rpc = createApi({ url: stack.url, key: stack.keys.secretKey })
  const first = await setupStripe({ stripe, rpc })
  expect(first.meter.created).toBe(true)
  expect(fake.meters).toHaveLength(1)
  expect(fake.meters[0]).toMatchObject({ event_name: 'konstruct_tokens', default_aggregation: { formula: 'sum' } })
  expect([...fake.products.keys()].sort()).toEqual(['konstruct_starter', 'konstruct_team'])
  expect(fake.prices).toHaveLength(4)
  const team = fake.prices.filter((p) => p['product'] === 'konstruct_team')
  expect(team.find((p) => (p['recurring'] as Record<string, unknown>)['usage_type'] === 'licensed')).toMatchObject({
    unit_amount: 4900,
    currency: 'usd',
    lookup_key: 'konstruct_team_agent_usd_4900',
  })
  const metered = team.find((p) => (p['recurring'] as Record<string, unknown>)['usage_type'] === 'metered')!
  expect(metered['recurring']).toMatchObject({ meter: fake.meters[0]!['id'] })
  expect(metered['params']).toMatchObject({ 'transform_quantity[divide_by]': '1000', unit_amount_decimal: '0.15' })

  const plans = (
    await stack.db.pg.query<{ key: string; stripe_price_id: string; stripe_metered_price_id: string }>(
      `select key, stripe_price_id, stripe_metered_price_id from app.plans where key in ('starter', 'team') order by key`,
    )
  ).rows
  expect(plans.map((p) => p.stripe_price_id)).toEqual(first.plans.map((p) => p.price))
  expect(plans.every((p) => p.stripe_metered_price_id?.startsWith('price_'))).toBe(true)

  const second = await setupStripe({ stripe, rpc })
  expect(second.meter.created).toBe(false)
  expect(second.plans.flatMap((p) => p.created)).toEqual([])
  expect(second.plans.map((p) => p.price)).toEqual(first.plans.map((p) => p.price))
  expect(fake.meters).toHaveLength(1)
  expect(fake.prices).toHaveLength(4)
})
