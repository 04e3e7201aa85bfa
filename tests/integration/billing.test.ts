// Billing end to end on the local stack with a fake Stripe API: the billing function
// (Checkout, Billing Portal, one customer per tenant), the stripe-webhook function
// (signatures made by the stripe package's own generateTestHeaderString; duplicates,
// reordering, unknown customers) and the entitlements the database enforces from the
// subscription state (agents, monthly messages and tokens, grace period, pause, resume).
import type { SupabaseClient } from '@supabase/supabase-js'
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose'
import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startFakeStripe, type FakeStripe } from '../fakes/fake-stripe.ts'
import { signLegacyJwt } from '../../local/keys.ts'
import { startTestStack, type TestStack } from '../support/stack.ts'

const SECRET_KEY = 'sk_test_konstruct_billing'
const WEBHOOK_SECRET = 'whsec_konstruct_billing_test'
const PLAN_LIMIT_TEXT =
  "Sorry, I can't answer right now because this workspace has used everything its plan includes for this month. " +
  "I've let the team know, and someone will get back to you here."

let stack: TestStack
let fake: FakeStripe
let service: SupabaseClient
const stripe = new Stripe(SECRET_KEY)
let counter = 0
let clock = Math.floor(Date.now() / 1000) - 3600

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}

async function rpc<T>(client: SupabaseClient, fn: string, args: Record<string, unknown> = {}): Promise<T> {
  const { data, error } = await client.rpc(fn, args)
  if (error) throw Object.assign(new Error(`${fn}: ${error.message}`), { code: error.code })
  return data as T
}

interface Tenant {
  id: string
  slug: string
  owner: SupabaseClient
  operator: SupabaseClient
  webChat: string
  customer: string
  subscription: string
}

/** A tenant with an owner, an operator, one agent on a web chat; a Stripe customer unless told. */
async function newTenant(label: string, withCustomer = true): Promise<Tenant> {
  const owner = await stack.newUser(`${label}-owner`)
  const operator = await stack.newUser(`${label}-operator`)
  const tenant = await rpc<{ id: string; slug: string }>(owner.client, 'create_tenant', { name: `Billing ${label}` })
  await sql(`insert into app.memberships (tenant_id, user_id, role) values ($1, $2, 'operator')`, [
    tenant.id,
    operator.userId,
  ])
  const agent = await rpc<{ id: string }>(owner.client, 'deploy_agent_template', {
    tenant_id: tenant.id,
    template_key: 'customer_support_rep',
  })
  const channel = await rpc<{ id: string }>(owner.client, 'create_web_chat_channel', {
    tenant_id: tenant.id,
    name: 'Site',
    agent_id: agent.id,
  })
  const n = ++counter
  const customer = `cus_test${label.replace(/[^A-Za-z0-9]/g, '')}${n}`
  if (withCustomer) await rpc(service, 'save_stripe_customer', { tenant_id: tenant.id, customer_id: customer })
  return {
    id: tenant.id,
    slug: tenant.slug,
    owner: owner.client,
    operator: operator.client,
    webChat: channel.id,
    customer,
    subscription: `sub_test${n}`,
  }
}

async function ingest(tenant: Tenant, text = 'Hello, are you there?') {
  const n = ++counter
  return rpc<{
    message_id: string
    conversation_id: string
    enqueued: boolean
    billing_refusal: string | null
    notice_message_id: string | null
  }>(service, 'ingest_message', {
    connection_id: tenant.webChat,
    external_id: `billing-${n}`,
    thread_key: `visitor-${n}`,
    external_user_id: `visitor-${n}`,
    text,
  })
}

// Stripe events ----------------------------------------------------------------------------------

type Json = Record<string, unknown>

function event(type: string, object: Json, created: number): Json {
  return {
    id: `evt_test${++counter}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  }
}

function subscriptionObject(
  tenant: Tenant,
  status: string,
  options: { priceId?: string; quantity?: number; cancelAtPeriodEnd?: boolean; trialEnd?: number | null } = {},
): Json {
  const start = clock - 86400
  return {
    id: tenant.subscription,
    object: 'subscription',
    customer: tenant.customer,
    status,
    cancel_at_period_end: options.cancelAtPeriodEnd ?? false,
    canceled_at: status === 'canceled' ? clock : null,
    trial_end: options.trialEnd ?? null,
    metadata: { tenant_id: tenant.id, plan_key: 'team' },
    items: {
      object: 'list',
      data: [
        {
          id: `si_${tenant.subscription}_agents`,
          price: { id: options.priceId ?? 'price_team_agent', object: 'price' },
          quantity: options.quantity ?? 5,
          current_period_start: start,
          current_period_end: start + 30 * 86400,
        },
        {
          id: `si_${tenant.subscription}_tokens`,
          price: { id: 'price_team_tokens', object: 'price' },
          current_period_start: start,
          current_period_end: start + 30 * 86400,
        },
      ],
    },
  }
}

function invoiceObject(tenant: Tenant, id: string, status: string): Json {
  return {
    id,
    object: 'invoice',
    customer: tenant.customer,
    status,
    amount_due: 24500,
    currency: 'usd',
    hosted_invoice_url: `https://invoice.stripe.test/${id}`,
    parent: { type: 'subscription_details', subscription_details: { subscription: tenant.subscription } },
  }
}

async function deliver(evt: Json, secret = WEBHOOK_SECRET, tamper?: (payload: string) => string) {
  const payload = JSON.stringify(evt)
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret })
  const response = await fetch(`${stack.url}/functions/v1/stripe-webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    body: tamper ? tamper(payload) : payload,
  })
  return { status: response.status, body: (await response.json()) as { outcome?: string; error?: string } }
}

async function billingOf(tenant: Tenant, as: SupabaseClient = tenant.owner) {
  return rpc<{
    status: string
    paused: boolean
    pause_reason: string | null
    plan: { key: string }
    limits: { agents: number | null; monthly_messages: number | null }
    usage: { messages: number; tokens: number; agents: number }
    payment: { payment_failed_at: string | null; latest_invoice: { url: string } | null } | null
  }>(as, 'get_billing', { tenant_id: tenant.id })
}

const alerts = (tenantId: string, action: string) =>
  sql<{ details: Json }>(`select details from app.audit_log where tenant_id = $1 and action = $2 order by id`, [
    tenantId,
    action,
  ])

async function invokeBilling(client: SupabaseClient, body: Json) {
  const { data: session } = await client.auth.getSession()
  const response = await fetch(`${stack.url}/functions/v1/billing`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      apikey: stack.keys.publishableKey,
      authorization: `Bearer ${session.session?.access_token}`,
    },
    body: JSON.stringify(body),
  })
  return { status: response.status, body: (await response.json()) as { url?: string; error?: string } }
}

beforeAll(async () => {
  fake = await startFakeStripe({ secretKey: SECRET_KEY })
  stack = await startTestStack({
    functionEnv: {
      STRIPE_SECRET_KEY: SECRET_KEY,
      STRIPE_API_URL: fake.url,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PORTAL_URL: 'http://portal.test',
      WORKER_MEMORY_QUIET_SECONDS: '0',
    },
  })
  service = stack.serviceClient()
  // The worker stays asleep: the jobs a message leads to are asserted in the queue.
  await stack.db.asOwner(async (tx) => {
    await tx.query(`select cron.unschedule('konstruct-stripe-meter')`)
    await tx.query(`delete from vault.secrets where name = 'konstruct_functions_url'`)
  })
  await rpc(service, 'upsert_plan', {
    plan: { key: 'team', stripe_price_id: 'price_team_agent', stripe_metered_price_id: 'price_team_tokens' },
  })
}, 90_000)

afterAll(async () => {
  await stack?.close()
  await fake?.close()
})

describe('the billing function', () => {
  test('checkout for a plan and a number of agents; the Stripe customer is created once per tenant', async () => {
    const tenant = await newTenant('checkout', false)
    const [first, second] = await Promise.all([
      invokeBilling(tenant.owner, { action: 'checkout', tenant_id: tenant.id, plan_key: 'team', quantity: 4 }),
      invokeBilling(tenant.owner, { action: 'checkout', tenant_id: tenant.id, plan_key: 'team', quantity: 4 }),
    ])
    expect(first.status).toBe(200)
    expect(second.status).toBe(200)
    expect(first.body.url).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/pay\/cs_test_/)
    const third = await invokeBilling(tenant.owner, {
      action: 'checkout',
      tenant_id: tenant.id,
      plan_key: 'team',
      quantity: 4,
    })
    expect(third.status).toBe(200)

    // One customer in Stripe and in the database, whatever the concurrency.
    const customerCalls = fake
      .calls('/v1/customers')
      .filter((r) => (r.body as Json)['metadata[tenant_id]'] === tenant.id)
    expect(new Set(customerCalls.map((r) => r.headers['idempotency-key']))).toEqual(
      new Set([`konstruct-customer-${tenant.id}`]),
    )
    const created = fake.customers.filter((c) => (c['metadata'] as Json)['tenant_id'] === tenant.id)
    expect(created).toHaveLength(1)
    const [account] = await sql<{ stripe_customer_id: string }>(
      `select stripe_customer_id from app.billing_accounts where tenant_id = $1`,
      [tenant.id],
    )
    expect(account!.stripe_customer_id).toBe(created[0]!['id'])

    const session = fake.checkoutSessions.at(-1)!['params'] as Record<string, string>
    expect(session['customer']).toBe(created[0]!['id'])
    expect(session['mode']).toBe('subscription')
    expect(session['client_reference_id']).toBe(tenant.id)
    expect(session['line_items[0][price]']).toBe('price_team_agent')
    expect(session['line_items[0][quantity]']).toBe('4')
    expect(session['line_items[1][price]']).toBe('price_team_tokens')
    expect(session['subscription_data[trial_period_days]']).toBe('14')
    expect(session['subscription_data[metadata][tenant_id]']).toBe(tenant.id)
    expect(session['success_url']).toBe(
      `http://portal.test/t/${tenant.slug}/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
    )

    const portal = await invokeBilling(tenant.owner, { action: 'portal', tenant_id: tenant.id })
    expect(portal.status).toBe(200)
    expect(portal.body.url).toMatch(/^https:\/\/billing\.stripe\.test\/p\/session\//)
    expect((fake.portalSessions.at(-1)!['params'] as Json)['return_url']).toBe(
      `http://portal.test/t/${tenant.slug}/billing`,
    )
  })

  test('operators and strangers are refused; no customer before a checkout; unknown plans', async () => {
    const tenant = await newTenant('refusals', false)
    const before = fake.customers.length
    expect(
      (await invokeBilling(tenant.operator, { action: 'checkout', tenant_id: tenant.id, plan_key: 'team' })).status,
    ).toBe(403)
    expect((await invokeBilling(tenant.operator, { action: 'portal', tenant_id: tenant.id })).status).toBe(403)
    const stranger = await stack.newUser('stranger')
    expect(
      (await invokeBilling(stranger.client, { action: 'checkout', tenant_id: tenant.id, plan_key: 'team' })).status,
    ).toBe(403)
    expect(fake.customers.length).toBe(before)
    const portal = await invokeBilling(tenant.owner, { action: 'portal', tenant_id: tenant.id })
    expect(portal.status).toBe(409)
    expect(portal.body.error).toBe('There is no billing account yet: choose a plan first.')
    expect(
      (await invokeBilling(tenant.owner, { action: 'checkout', tenant_id: tenant.id, plan_key: 'nope' })).status,
    ).toBe(404)
    // The free plan has no price: nothing to buy.
    expect(
      (await invokeBilling(tenant.owner, { action: 'checkout', tenant_id: tenant.id, plan_key: 'free' })).status,
    ).toBe(400)
    // The function checks its caller itself: no session, a key, or a token not signed by
    // the project's signing key (a forged ES256 one, or HS256 even with the legacy secret)
    // is refused, and nothing reaches Stripe.
    const { data: session } = await tenant.owner.auth.getSession()
    const claims = decodeJwt(session.session!.access_token)
    const { privateKey: strangerKey } = await generateKeyPair('ES256')
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: decodeProtectedHeader(session.session!.access_token).kid })
      .sign(strangerKey)
    const legacySigned = await signLegacyJwt(stack.keys.jwtSecret, claims, 600)
    const customersBefore = fake.customers.length
    for (const bearer of [null, stack.keys.secretKey, stack.keys.serviceRoleKey, forged, legacySigned]) {
      const refused = await fetch(`${stack.url}/functions/v1/billing`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body: JSON.stringify({ action: 'checkout', tenant_id: tenant.id, plan_key: 'team', quantity: 1 }),
      })
      expect(refused.status, `bearer ${bearer?.slice(0, 12)}`).toBe(401)
    }
    expect(fake.customers.length).toBe(customersBefore)
  })
})

describe('the subscription lifecycle', () => {
  test('checkout → active → agents allowed; payment failed → past_due → grace → paused; paid → resumed; canceled → paused', async () => {
    const tenant = await newTenant('lifecycle')
    // Without a subscription: the free plan, two agents.
    await rpc(tenant.owner, 'deploy_agent_template', { tenant_id: tenant.id, template_key: 'sales_assistant' })
    const refused = await tenant.owner.rpc('create_agent', { tenant_id: tenant.id, name: 'Third' })
    expect(refused.error?.code).toBe('KO010')
    expect(refused.error?.message).toBe(
      'Your Free plan includes 2 agents. Upgrade your plan or add agents on the billing page to hire another.',
    )

    clock += 10
    expect(
      (
        await deliver(
          event(
            'checkout.session.completed',
            {
              id: 'cs_test_lifecycle',
              object: 'checkout.session',
              customer: tenant.customer,
              subscription: tenant.subscription,
              client_reference_id: tenant.id,
              metadata: { tenant_id: tenant.id, plan_key: 'team' },
              mode: 'subscription',
            },
            clock,
          ),
        )
      ).body.outcome,
    ).toBe('applied')
    expect(
      (await deliver(event('customer.subscription.created', subscriptionObject(tenant, 'active'), clock))).body.outcome,
    ).toBe('applied')
    let billing = await billingOf(tenant)
    expect(billing.status).toBe('active')
    expect(billing.plan.key).toBe('team')
    expect(billing.limits.agents).toBe(5)
    expect(billing.paused).toBe(false)
    // Agents allowed: the third one now, and the agents answer.
    await rpc(tenant.owner, 'create_agent', { tenant_id: tenant.id, name: 'Third' })
    expect((await ingest(tenant)).enqueued).toBe(true)

    clock += 10
    await deliver(event('invoice.payment_failed', invoiceObject(tenant, 'in_lifecycle_1', 'open'), clock))
    await deliver(event('customer.subscription.updated', subscriptionObject(tenant, 'past_due'), clock))
    billing = await billingOf(tenant)
    expect(billing.status).toBe('past_due')
    expect(billing.paused).toBe(false)
    expect(billing.payment?.payment_failed_at).not.toBeNull()
    expect(billing.payment?.latest_invoice?.url).toBe('https://invoice.stripe.test/in_lifecycle_1')
    expect(await alerts(tenant.id, 'alert.payment_failed')).toHaveLength(1)
    // The grace period: still answering.
    expect((await ingest(tenant)).enqueued).toBe(true)

    // Eight days later (the default grace period is seven): paused.
    await sql(`update app.subscriptions set past_due_since = now() - interval '8 days' where tenant_id = $1`, [
      tenant.id,
    ])
    billing = await billingOf(tenant)
    expect(billing.paused).toBe(true)
    expect(billing.pause_reason).toBe('payment_overdue')
    const paused = await ingest(tenant)
    expect(paused.enqueued).toBe(false)
    expect(paused.billing_refusal).toBe('paused')
    expect(await alerts(tenant.id, 'alert.agents_paused')).toHaveLength(1)

    clock += 10
    await deliver(event('invoice.paid', invoiceObject(tenant, 'in_lifecycle_1', 'paid'), clock))
    await deliver(event('customer.subscription.updated', subscriptionObject(tenant, 'active'), clock))
    billing = await billingOf(tenant)
    expect(billing.status).toBe('active')
    expect(billing.paused).toBe(false)
    expect(billing.payment?.payment_failed_at).toBeNull()
    expect((await ingest(tenant)).enqueued).toBe(true)

    clock += 10
    await deliver(event('customer.subscription.deleted', subscriptionObject(tenant, 'canceled'), clock))
    billing = await billingOf(tenant)
    expect(billing.status).toBe('canceled')
    expect(billing.paused).toBe(true)
    const afterCancel = await ingest(tenant)
    expect(afterCancel.enqueued).toBe(false)
    expect(afterCancel.billing_refusal).toBe('paused')
  })

  test('the invoice alone moves the state: paid resumes a past_due tenant even before the subscription update', async () => {
    const tenant = await newTenant('invoice-only')
    clock += 10
    await deliver(event('customer.subscription.created', subscriptionObject(tenant, 'active'), clock))
    clock += 10
    await deliver(event('invoice.payment_failed', invoiceObject(tenant, 'in_only_1', 'open'), clock))
    expect((await billingOf(tenant)).status).toBe('past_due')
    clock += 10
    await deliver(event('invoice.paid', invoiceObject(tenant, 'in_only_1', 'paid'), clock))
    expect((await billingOf(tenant)).status).toBe('active')
  })

  test('the same events twice, or in reverse order, end in the same state as in order', async () => {
    const tenants = await Promise.all(['in-order', 'twice', 'reversed'].map((label) => newTenant(label)))
    const t0 = (clock += 100)
    const script = (tenant: Tenant) => [
      event(
        'checkout.session.completed',
        {
          id: `cs_${tenant.subscription}`,
          object: 'checkout.session',
          customer: tenant.customer,
          subscription: tenant.subscription,
          client_reference_id: tenant.id,
          metadata: {},
        },
        t0,
      ),
      event(
        'customer.subscription.created',
        subscriptionObject(tenant, 'trialing', { quantity: 3, trialEnd: t0 + 14 * 86400 }),
        t0,
      ),
      event('customer.subscription.updated', subscriptionObject(tenant, 'active', { quantity: 3 }), t0 + 1),
      event('invoice.payment_failed', invoiceObject(tenant, `in_${tenant.subscription}_1`, 'open'), t0 + 2),
      event('customer.subscription.updated', subscriptionObject(tenant, 'past_due', { quantity: 3 }), t0 + 2),
      event('invoice.paid', invoiceObject(tenant, `in_${tenant.subscription}_1`, 'paid'), t0 + 3),
      event('customer.subscription.updated', subscriptionObject(tenant, 'active', { quantity: 4 }), t0 + 3),
      event(
        'customer.subscription.updated',
        subscriptionObject(tenant, 'active', { quantity: 6, cancelAtPeriodEnd: true }),
        t0 + 4,
      ),
    ]
    const [inOrder, twice, reversed] = tenants as [Tenant, Tenant, Tenant]
    for (const evt of script(inOrder)) expect((await deliver(evt)).status).toBe(200)
    const twiceEvents = script(twice)
    for (const evt of twiceEvents) {
      const [a, b] = await Promise.all([deliver(evt), deliver(evt)])
      expect([a.status, b.status]).toEqual([200, 200])
      expect([a.body.outcome, b.body.outcome]).toContain('duplicate')
    }
    for (const evt of twiceEvents) expect((await deliver(evt)).body.outcome).toBe('duplicate')
    const outcomes: string[] = []
    for (const evt of script(reversed).reverse()) outcomes.push((await deliver(evt)).body.outcome!)
    expect(outcomes).toContain('stale')

    const snapshot = async (tenant: Tenant) => {
      const [row] = await sql(
        `select s.status, s.plan_key, s.quantity, s.cancel_at_period_end, s.trial_ends_at is not null as has_trial_end,
           s.current_period_end, s.past_due_since, b.payment_failed_at, b.latest_invoice_status,
           b.stripe_subscription_id = $2 as subscription_linked,
           (select count(*) from app.stripe_events e where e.tenant_id = s.tenant_id)::int as events
         from app.subscriptions s join app.billing_accounts b using (tenant_id) where s.tenant_id = $1`,
        [tenant.id, tenant.subscription],
      )
      return row
    }
    const expected = await snapshot(inOrder)
    expect(expected).toMatchObject({
      status: 'active',
      plan_key: 'team',
      quantity: 6,
      cancel_at_period_end: true,
      past_due_since: null,
      payment_failed_at: null,
      latest_invoice_status: 'paid',
      subscription_linked: true,
      events: 8,
    })
    expect(await snapshot(twice)).toEqual(expected)
    expect(await snapshot(reversed)).toEqual(expected)
  })

  test('bad signatures are refused with 400 and store nothing; unknown customers change nothing', async () => {
    const tenant = await newTenant('signatures')
    const count = async () => Number((await sql<{ n: string }>(`select count(*) as n from app.stripe_events`))[0]!.n)
    const before = await count()
    const evt = event('customer.subscription.created', subscriptionObject(tenant, 'active'), (clock += 10))
    expect((await deliver(evt, 'whsec_someone_else')).status).toBe(400)
    expect((await deliver(evt, WEBHOOK_SECRET, (p) => p.replace('"active"', '"trialing"'))).status).toBe(400)
    const unsigned = await fetch(`${stack.url}/functions/v1/stripe-webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(evt),
    })
    expect(unsigned.status).toBe(400)
    const stale = Math.floor(Date.now() / 1000) - 3600
    const payload = JSON.stringify(evt)
    const old = await fetch(`${stack.url}/functions/v1/stripe-webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': stripe.webhooks.generateTestHeaderString({
          payload,
          secret: WEBHOOK_SECRET,
          timestamp: stale,
        }),
      },
      body: payload,
    })
    expect(old.status).toBe(400)
    expect(await count()).toBe(before)
    expect((await billingOf(tenant)).status).toBe('none')

    const stranger = { ...tenant, customer: 'cus_not_ours', subscription: 'sub_not_ours' }
    const unknown = await deliver(
      event('customer.subscription.deleted', subscriptionObject(stranger, 'canceled'), (clock += 10)),
    )
    expect(unknown.status).toBe(200)
    expect(unknown.body.outcome).toBe('unknown_customer')
    expect(await count()).toBe(before)

    // The genuine event still applies afterwards.
    expect((await deliver(evt)).body.outcome).toBe('applied')
    expect((await billingOf(tenant)).status).toBe('active')
  })
})

describe('entitlements', () => {
  test('the monthly message limit: a polite answer in the channel and one alert, no reply job', async () => {
    const tenant = await newTenant('messages')
    await rpc(service, 'upsert_plan', {
      plan: {
        key: `tiny_${counter}`,
        tenant_id: tenant.id,
        name: 'Tiny',
        monthly_messages: 2,
        included_agents: 1,
        stripe_price_id: `price_tiny_${counter}`,
        is_public: false,
      },
    })
    const priceId = `price_tiny_${counter}`
    await deliver(
      event(
        'customer.subscription.created',
        subscriptionObject(tenant, 'active', { priceId, quantity: 1 }),
        (clock += 10),
      ),
    )
    expect((await billingOf(tenant)).limits.monthly_messages).toBe(2)
    // Agents stay under the private plan's limit too.
    const agentRefused = await tenant.owner.rpc('deploy_agent_template', {
      tenant_id: tenant.id,
      template_key: 'office_manager',
    })
    expect(agentRefused.error?.code).toBe('KO010')
    expect(agentRefused.error?.message).toBe(
      'Your Tiny plan includes 1 agent. Upgrade your plan or add agents on the billing page to hire another.',
    )

    expect((await ingest(tenant, 'one')).enqueued).toBe(true)
    expect((await ingest(tenant, 'two')).enqueued).toBe(true)
    const third = await ingest(tenant, 'three')
    expect(third.enqueued).toBe(false)
    expect(third.billing_refusal).toBe('monthly_messages')
    const [notice] = await sql<{ text: string; author_kind: string; delivery_status: string }>(
      `select text, author_kind, delivery_status from app.messages where id = $1`,
      [third.notice_message_id],
    )
    expect(notice).toMatchObject({ text: PLAN_LIMIT_TEXT, author_kind: 'system' })
    // Delivered to the channel by a deliver job of the agent worker (no model call).
    const jobs = await sql<{ message: Json }>(
      `select message from pgmq.q_agent_jobs where message->>'tenant_id' = $1`,
      [tenant.id],
    )
    expect(jobs.map((j) => j.message['kind']).sort()).toEqual(['deliver', 'reply', 'reply'])
    expect(jobs.find((j) => j.message['kind'] === 'deliver')!.message['message_id']).toBe(third.notice_message_id)

    const fourth = await ingest(tenant, 'four')
    expect(fourth.billing_refusal).toBe('monthly_messages')
    const limitAlerts = await alerts(tenant.id, 'alert.plan_limit_reached')
    expect(limitAlerts).toHaveLength(1)
    expect(limitAlerts[0]!.details).toMatchObject({ limit: 'monthly_messages', allowed: 2, used: 3 })
    // The portal sees usage against the limit.
    const billing = await billingOf(tenant, tenant.operator)
    expect(billing.usage.messages).toBe(4)
    expect(billing.payment).toBeNull()
  })

  test('the monthly token limit: the next message gets the polite answer instead of a model call', async () => {
    const tenant = await newTenant('tokens')
    const key = `tokens_${counter}`
    await rpc(service, 'upsert_plan', {
      plan: {
        key,
        tenant_id: tenant.id,
        name: 'Few tokens',
        monthly_tokens: 1000,
        monthly_messages: null,
        included_agents: 3,
        stripe_price_id: `price_${key}`,
        is_public: false,
      },
    })
    await deliver(
      event(
        'customer.subscription.created',
        subscriptionObject(tenant, 'active', { priceId: `price_${key}`, quantity: 1 }),
        (clock += 10),
      ),
    )
    expect((await ingest(tenant)).enqueued).toBe(true)
    await rpc(service, 'record_usage', {
      tenant_id: tenant.id,
      model: 'gpt-4o-mini',
      input_tokens: 900,
      output_tokens: 150,
    })
    const refused = await ingest(tenant)
    expect(refused.billing_refusal).toBe('monthly_tokens')
    const [notice] = await sql<{ text: string }>(`select text from app.messages where id = $1`, [
      refused.notice_message_id,
    ])
    expect(notice!.text).toBe(PLAN_LIMIT_TEXT)
    const entitlement = await rpc<{ allowed: boolean; reason: string; message: string }>(service, 'check_entitlement', {
      tenant_id: tenant.id,
    })
    expect(entitlement).toMatchObject({ allowed: false, reason: 'monthly_tokens', message: PLAN_LIMIT_TEXT })
  })

  test('a plan without WhatsApp refuses a WhatsApp channel with a clear message', async () => {
    const tenant = await newTenant('channels')
    await rpc(service, 'upsert_plan', { plan: { key: 'starter', stripe_price_id: 'price_starter_agent' } })
    await deliver(
      event(
        'customer.subscription.created',
        subscriptionObject(tenant, 'active', { priceId: 'price_starter_agent', quantity: 1 }),
        (clock += 10),
      ),
    )
    const refused = await tenant.owner.rpc('create_whatsapp_channel', {
      tenant_id: tenant.id,
      name: 'WA',
      phone_number_id: `55500${counter}`,
      business_account_id: 'waba',
      access_token: 'tok',
    })
    expect(refused.error?.code).toBe('KO011')
    expect(refused.error?.message).toBe(
      'Your Starter plan does not include WhatsApp channels. Upgrade your plan on the billing page to connect one.',
    )
  })
})
