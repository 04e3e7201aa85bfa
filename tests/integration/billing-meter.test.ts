// Usage-based charges on the local stack: every usage record of a billed tenant becomes
// exactly one Stripe meter event, sent by functions/stripe-meter in batches, retried until
// Stripe accepts it, never counted twice — even when Stripe fails, or accepts and the
// answer is lost. And pg_cron wakes the function on its own.
import type { SupabaseClient } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startFakeStripe, type FakeStripe } from '../fakes/fake-stripe.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'
import { DEV_WORKER_SECRET } from '../../local/dev-secrets.ts'
import { signWake } from '../../shared/wake/verify-wake.ts'

const SECRET_KEY = 'sk_test_konstruct_meter'
const METER_PATH = '/v1/billing/meter_events'

let stack: TestStack
let fake: FakeStripe
let service: SupabaseClient
let counter = 0

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}

async function rpc<T>(fn: string, args: Record<string, unknown> = {}): Promise<T> {
  const { data, error } = await service.rpc(fn, args)
  if (error) throw new Error(`${fn}: ${error.message}`)
  return data as T
}

/** A tenant with a Stripe customer, in the given subscription state. */
async function billedTenant(status: 'active' | 'none' = 'active') {
  const owner = await stack.newUser('meter-owner')
  const { data: tenant, error } = await owner.client.rpc('create_tenant', { name: `Meter ${++counter}` })
  if (error) throw error
  const customer = `cus_meter${counter}`
  await rpc('save_stripe_customer', { tenant_id: tenant.id, customer_id: customer })
  if (status !== 'none') {
    await sql(`update app.subscriptions set status = $2, plan_key = 'team', quantity = 3 where tenant_id = $1`, [
      tenant.id,
      status,
    ])
  }
  return { id: tenant.id as string, customer }
}

async function recordUsage(tenantId: string, input: number, output: number) {
  return rpc<{ usage_event_id: number }>('record_usage', {
    tenant_id: tenantId,
    model: 'gpt-4o-mini',
    input_tokens: input,
    output_tokens: output,
    idempotency_key: `meter-test-${++counter}`,
  })
}

async function runMeter() {
  const response = await fetch(`${stack.url}/functions/v1/stripe-meter`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.keys.serviceRoleKey}`, 'content-type': 'application/json' },
    body: '{}',
  })
  return { status: response.status, body: (await response.json()) as { sent: number; failed: number } }
}

const reportsOf = (tenantId: string) =>
  sql<{ identifier: string; status: string; attempts: number; value: string; usage_event_id: string }>(
    `select identifier, status, attempts, value, usage_event_id from app.meter_reports where tenant_id = $1 order by id`,
    [tenantId],
  )

beforeAll(async () => {
  fake = await startFakeStripe({ secretKey: SECRET_KEY })
  stack = await startTestStack({
    functionEnv: {
      STRIPE_SECRET_KEY: SECRET_KEY,
      STRIPE_API_URL: fake.url,
      STRIPE_METER_RETRY_BASE_SECONDS: '0',
      STRIPE_METER_BATCH_SIZE: '2',
    },
  })
  service = stack.serviceClient()
  // The test runs the function itself until the last test hands over to pg_cron.
  await stack.db.asOwner(async (tx) => {
    await tx.query(`select cron.unschedule('konstruct-stripe-meter')`)
  })
}, 90_000)

afterAll(async () => {
  await stack?.close()
  await fake?.close()
})

describe('stripe-meter', () => {
  test('one meter event per usage record, even when the Stripe API fails twice', async () => {
    const tenant = await billedTenant()
    const usage = [
      await recordUsage(tenant.id, 1200, 300),
      await recordUsage(tenant.id, 50, 25),
      await recordUsage(tenant.id, 7, 3),
    ]
    expect((await reportsOf(tenant.id)).map((r) => r.status)).toEqual(['pending', 'pending', 'pending'])

    const before = fake.calls(METER_PATH).length
    fake.failNext({ kind: 'http_500' }, { times: 2, path: METER_PATH })
    const runs = []
    for (let i = 0; i < 5 && (await reportsOf(tenant.id)).some((r) => r.status === 'pending'); i++)
      runs.push(await runMeter())
    expect(runs[0]!.status).toBe(207)
    expect(runs.at(-1)!.status).toBe(200)

    const reports = await reportsOf(tenant.id)
    expect(reports.map((r) => r.status)).toEqual(['sent', 'sent', 'sent'])
    expect(reports.map((r) => r.identifier)).toEqual(usage.map((u) => `konstruct-usage-${u.usage_event_id}`))
    // Stripe counted each record once, with its tokens, for this customer, on the meter.
    const counted = fake.meterEvents.filter((e) => e.customer === tenant.customer)
    expect(counted.map((e) => [e.identifier, e.value, e.event_name]).sort()).toEqual(
      usage.map((u, i) => [`konstruct-usage-${u.usage_event_id}`, [1500, 75, 10][i], 'konstruct_tokens']).sort(),
    )
    // Three accepted calls and the two that failed, each with its identifier as the Idempotency-Key.
    const calls = fake.calls(METER_PATH).slice(before)
    expect(calls).toHaveLength(5)
    for (const call of calls)
      expect(call.headers['idempotency-key']).toBe((call.body as Record<string, string>)['identifier'])

    // Nothing is sent again.
    const again = await runMeter()
    expect(again.body).toMatchObject({ sent: 0, failed: 0 })
    expect(fake.calls(METER_PATH).length).toBe(before + 5)
  })

  test('accepted but the answer lost: the retry is counted by Stripe once', async () => {
    const tenant = await billedTenant()
    const { usage_event_id } = await recordUsage(tenant.id, 400, 100)
    fake.failNext({ kind: 'accept_then_500' }, { times: 1, path: METER_PATH })
    const first = await runMeter()
    expect(first.body).toMatchObject({ sent: 0, failed: 1 })
    expect((await reportsOf(tenant.id))[0]!.status).toBe('pending')
    const second = await runMeter()
    expect(second.body).toMatchObject({ sent: 1, failed: 0 })
    expect((await reportsOf(tenant.id))[0]).toMatchObject({ status: 'sent', attempts: 2 })
    expect(fake.meterEvents.filter((e) => e.identifier === `konstruct-usage-${usage_event_id}`)).toHaveLength(1)
  })

  test('only tenants with a live subscription are metered; a replayed usage record adds nothing', async () => {
    const free = await billedTenant('none')
    await recordUsage(free.id, 500, 500)
    expect(await reportsOf(free.id)).toEqual([])

    const tenant = await billedTenant()
    const { data, error } = await service.rpc('record_usage', {
      tenant_id: tenant.id,
      model: 'gpt-4o-mini',
      input_tokens: 10,
      output_tokens: 10,
      idempotency_key: 'replayed-usage',
    })
    expect(error).toBeNull()
    const replay = await service.rpc('record_usage', {
      tenant_id: tenant.id,
      model: 'gpt-4o-mini',
      input_tokens: 10,
      output_tokens: 10,
      idempotency_key: 'replayed-usage',
    })
    expect(replay.data.duplicate).toBe(true)
    expect(data.duplicate).toBe(false)
    expect(await reportsOf(tenant.id)).toHaveLength(1)
  })

  test('the function refuses anyone without a secret key or a valid wake-up signature', async () => {
    const user = await stack.newUser('meter-user')
    const { data: session } = await user.client.auth.getSession()
    const body = '{"reason": "cron"}'
    const attempts: Record<string, string>[] = [
      { authorization: `Bearer ${session.session?.access_token}` },
      { 'x-konstruct-signature': await signWake('not-the-worker-secret-but-long-enough', body, new Date()) },
      { 'x-konstruct-signature': await signWake(DEV_WORKER_SECRET, body, new Date(Date.now() - 10 * 60_000)) },
    ]
    for (const headers of attempts) {
      const response = await fetch(`${stack.url}/functions/v1/stripe-meter`, { method: 'POST', headers, body })
      expect(response.status).toBe(401)
    }
  })

  test('pg_cron wakes stripe-meter when reports are due', async () => {
    const tenant = await billedTenant()
    const { usage_event_id } = await recordUsage(tenant.id, 30, 12)
    await stack.db.asOwner(async (tx) => {
      await tx.query(`select app.schedule_stripe_meter('1 seconds')`)
    })
    const started = Date.now()
    for (;;) {
      if ((await reportsOf(tenant.id))[0]?.status === 'sent') break
      if (Date.now() - started > 20_000) throw new Error('pg_cron never got the report sent')
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(fake.meterEvents.filter((e) => e.identifier === `konstruct-usage-${usage_event_id}`)).toHaveLength(1)
  })
})
