// billing: Stripe Checkout (a plan and a number of agents) and the Billing Portal for a
// tenant's owners and admins.
//
//   POST /billing            {action: "checkout", tenant_id, plan_key, quantity}  → {url}
//   POST /billing            {action: "portal", tenant_id}                        → {url}
//   (or POST /billing/checkout, /billing/portal with the same bodies)
//
// verify_jwt = true: the gateway has checked the caller's JWT. Who may do this is asked
// of the database as the caller (api.prepare_checkout / api.prepare_billing_portal
// refuse anyone below admin with 42501), never decided here. The Stripe customer is
// created once per tenant: Stripe deduplicates by the idempotency key
// konstruct-customer-<tenant id>, and api.save_stripe_customer keeps the first one.
import { z } from 'zod'
import type Stripe from 'stripe'
import { ApiError, createRpc, type Rpc } from './rpc.ts'
import { readJsonBody } from '../net/request-body.ts'
import {
  CORS_HEADERS,
  bearerOf,
  consoleLog,
  describeError,
  json,
  jwtRole,
  optionalEnv,
  requireEnv,
  type Env,
  type Log,
} from './http.ts'

export interface BillingConfig {
  supabaseUrl: string
  anonKey: string
  serviceRoleKey: string
  portalUrl: string
}

export function billingConfigFromEnv(env: Env): BillingConfig {
  return {
    supabaseUrl: requireEnv(env, 'SUPABASE_URL'),
    anonKey: requireEnv(env, 'SUPABASE_ANON_KEY'),
    serviceRoleKey: requireEnv(env, 'SUPABASE_SERVICE_ROLE_KEY'),
    portalUrl: (optionalEnv(env, 'PORTAL_URL') ?? 'http://127.0.0.1:5173').replace(/\/+$/, ''),
  }
}

const uuid = z.string().uuid()
const requestSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('checkout'),
    tenant_id: uuid,
    plan_key: z.string().min(1).max(40),
    quantity: z.coerce.number().int().min(1).max(500).default(1),
  }),
  z.object({ action: z.literal('portal'), tenant_id: uuid }),
])

const checkoutContextSchema = z.object({
  tenant_id: uuid,
  tenant_name: z.string(),
  tenant_slug: z.string(),
  customer_id: z.string().nullable(),
  email: z.string().nullable(),
  plan_key: z.string(),
  price_id: z.string(),
  metered_price_id: z.string().nullable(),
  quantity: z.number().int(),
  trial_days: z.number().int(),
})
const portalContextSchema = z.object({ tenant_id: uuid, tenant_slug: z.string(), customer_id: z.string().nullable() })

export interface BillingDeps {
  stripe: Stripe
  /** The service api (save_stripe_customer). */
  serviceRpc: Rpc
  /** The api as the signed-in caller. */
  userRpc?: (accessToken: string) => Rpc
  log?: Log
}

/** The database's refusal as an HTTP answer the portal can show. */
function apiRefusal(error: ApiError): Response | null {
  if (error.code === '42501') return json(403, { error: 'Only owners and admins can manage billing.' }, CORS_HEADERS)
  if (error.code === 'P0002') return json(404, { error: 'Unknown plan.' }, CORS_HEADERS)
  if (error.code === '22023') return json(400, { error: 'This plan cannot be bought right now.' }, CORS_HEADERS)
  return null
}

export function createBillingHandler(config: BillingConfig, deps: BillingDeps) {
  const log = deps.log ?? consoleLog
  const userRpc =
    deps.userRpc ??
    ((accessToken: string) =>
      createRpc({ supabaseUrl: config.supabaseUrl, apiKey: config.anonKey, bearer: accessToken }))
  const billingUrl = (slug: string) => `${config.portalUrl}/t/${encodeURIComponent(slug)}/billing`

  async function ensureCustomer(context: z.infer<typeof checkoutContextSchema>): Promise<string> {
    if (context.customer_id) return context.customer_id
    const customer = await deps.stripe.customers.create(
      {
        name: context.tenant_name,
        ...(context.email ? { email: context.email } : {}),
        metadata: { tenant_id: context.tenant_id, tenant_slug: context.tenant_slug },
      },
      { idempotencyKey: `konstruct-customer-${context.tenant_id}` },
    )
    return await deps.serviceRpc<string>('save_stripe_customer', {
      tenant_id: context.tenant_id,
      customer_id: customer.id,
      billing_email: context.email,
    })
  }

  return async function handleBilling(req: Request): Promise<Response> {
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' }, CORS_HEADERS)
    const token = bearerOf(req)
    // Billing is a person's decision: a service key is not a signed-in owner.
    if (!token || jwtRole(token) !== 'authenticated') return json(401, { error: 'sign in first' }, CORS_HEADERS)

    let input: z.infer<typeof requestSchema>
    try {
      const body = await readJsonBody(req)
      if (!body.ok && body.reason === 'too_large') return json(413, { error: 'request too large' }, CORS_HEADERS)
      if (!body.ok || typeof body.value !== 'object' || body.value === null) throw new Error('not an object')
      const raw = body.value as Record<string, unknown>
      const path = new URL(req.url).pathname.replace(/\/+$/, '')
      const fromPath = path.endsWith('/checkout') ? 'checkout' : path.endsWith('/portal') ? 'portal' : undefined
      input = requestSchema.parse({ ...raw, action: raw['action'] ?? fromPath })
    } catch {
      return json(
        400,
        { error: 'expected {action: "checkout", tenant_id, plan_key, quantity} or {action: "portal", tenant_id}' },
        CORS_HEADERS,
      )
    }

    const asCaller = userRpc(token)
    try {
      if (input.action === 'checkout') {
        const context = checkoutContextSchema.parse(
          await asCaller('prepare_checkout', {
            tenant_id: input.tenant_id,
            plan_key: input.plan_key,
            quantity: input.quantity,
          }),
        )
        const customer = await ensureCustomer(context)
        const metadata = { tenant_id: context.tenant_id, plan_key: context.plan_key }
        const session = await deps.stripe.checkout.sessions.create({
          mode: 'subscription',
          customer,
          client_reference_id: context.tenant_id,
          line_items: [
            { price: context.price_id, quantity: context.quantity },
            ...(context.metered_price_id ? [{ price: context.metered_price_id }] : []),
          ],
          subscription_data: {
            metadata,
            ...(context.trial_days > 0 ? { trial_period_days: context.trial_days } : {}),
          },
          metadata,
          allow_promotion_codes: true,
          success_url: `${billingUrl(context.tenant_slug)}?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
          cancel_url: `${billingUrl(context.tenant_slug)}?checkout=cancelled`,
        })
        log('billing.checkout_created', {
          tenant_id: context.tenant_id,
          plan_key: context.plan_key,
          session: session.id,
        })
        return json(200, { url: session.url, id: session.id }, CORS_HEADERS)
      }
      const context = portalContextSchema.parse(
        await asCaller('prepare_billing_portal', { tenant_id: input.tenant_id }),
      )
      if (!context.customer_id) {
        return json(409, { error: 'There is no billing account yet: choose a plan first.' }, CORS_HEADERS)
      }
      const session = await deps.stripe.billingPortal.sessions.create({
        customer: context.customer_id,
        return_url: billingUrl(context.tenant_slug),
      })
      return json(200, { url: session.url }, CORS_HEADERS)
    } catch (error) {
      const refusal = error instanceof ApiError ? apiRefusal(error) : null
      if (refusal) return refusal
      log('billing.failed', { action: input.action, tenant_id: input.tenant_id, error: describeError(error) })
      return json(502, { error: 'Billing is unavailable right now; please try again.' }, CORS_HEADERS)
    }
  }
}
