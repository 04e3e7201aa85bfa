// billing: Stripe Checkout (a plan and a number of agents) and the Billing Portal for a
// tenant's owners and admins.
//
//   POST /billing            {action: "checkout", tenant_id, plan_key, quantity}  → {url}
//   POST /billing            {action: "portal", tenant_id}                        → {url}
//   (or POST /billing/checkout, /billing/portal with the same bodies)
//
// The function checks its caller itself (verify_jwt = false): a signed-in person's access
// token, verified against the project's JWKS; a key or an anonymous visitor is refused.
// Who may do this is asked of the database as the caller (api.prepare_checkout / api.prepare_billing_portal
// refuse anyone below admin with 42501), never decided here. The Stripe customer is
// created once per tenant: Stripe deduplicates by the idempotency key
// konstruct-customer-<tenant id>, and api.save_stripe_customer keeps the first one.
import { z } from 'zod'
import type Stripe from 'stripe'
import { bearerOf, userVerifier, type UserCheck } from '../api/callers.ts'
import { ApiError, type Api } from '../api/client.ts'
import { projectFromEnv, requirePublishableKey, serviceApi, userApi, type Project } from '../api/project.ts'
import { optionalEnv, type Env } from '../runtime/env.ts'
import { BROWSER_CORS, consoleLog, describeError, json, type Log } from '../runtime/http.ts'
import { readJsonBody } from '../net/request-body.ts'

export interface BillingConfig {
  project: Project
  portalUrl: string
}

export function billingConfigFromEnv(env: Env): BillingConfig {
  const project = projectFromEnv(env)
  requirePublishableKey(project)
  return {
    project,
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
  /** The service api (save_stripe_customer); the project's secret key by default. */
  serviceRpc?: Api
  /** The api as the signed-in caller. */
  userRpc?: (accessToken: string) => Api
  /** Verifies the caller's access token; the project's JWKS by default. */
  verifyUser?: UserCheck
  log?: Log
}

/** The database's refusal as an HTTP answer the portal can show. */
function apiRefusal(error: ApiError): Response | null {
  if (error.code === '42501') return json(403, { error: 'Only owners and admins can manage billing.' }, BROWSER_CORS)
  if (error.code === 'P0002') return json(404, { error: 'Unknown plan.' }, BROWSER_CORS)
  if (error.code === '22023') return json(400, { error: 'This plan cannot be bought right now.' }, BROWSER_CORS)
  return null
}

export function createBillingHandler(config: BillingConfig, deps: BillingDeps) {
  const log = deps.log ?? consoleLog
  const userRpc = deps.userRpc ?? ((accessToken: string) => userApi(config.project, accessToken))
  const serviceRpc = deps.serviceRpc ?? serviceApi(config.project)
  const verifyUser = deps.verifyUser ?? userVerifier(config.project)
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
    return await serviceRpc<string>('save_stripe_customer', {
      tenant_id: context.tenant_id,
      customer_id: customer.id,
      billing_email: context.email,
    })
  }

  return async function handleBilling(req: Request): Promise<Response> {
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: BROWSER_CORS })
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' }, BROWSER_CORS)
    const token = bearerOf(req)
    // Billing is a person's decision: a key or an anonymous visitor is not a signed-in owner.
    const caller = await verifyUser(token)
    if (!token || !caller || caller.is_anonymous) return json(401, { error: 'sign in first' }, BROWSER_CORS)

    let input: z.infer<typeof requestSchema>
    try {
      const body = await readJsonBody(req)
      if (!body.ok && body.reason === 'too_large') return json(413, { error: 'request too large' }, BROWSER_CORS)
      if (!body.ok || typeof body.value !== 'object' || body.value === null) throw new Error('not an object')
      const raw = body.value as Record<string, unknown>
      const path = new URL(req.url).pathname.replace(/\/+$/, '')
      const fromPath = path.endsWith('/checkout') ? 'checkout' : path.endsWith('/portal') ? 'portal' : undefined
      input = requestSchema.parse({ ...raw, action: raw['action'] ?? fromPath })
    } catch {
      return json(
        400,
        { error: 'expected {action: "checkout", tenant_id, plan_key, quantity} or {action: "portal", tenant_id}' },
        BROWSER_CORS,
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
        return json(200, { url: session.url, id: session.id }, BROWSER_CORS)
      }
      const context = portalContextSchema.parse(
        await asCaller('prepare_billing_portal', { tenant_id: input.tenant_id }),
      )
      if (!context.customer_id) {
        return json(409, { error: 'There is no billing account yet: choose a plan first.' }, BROWSER_CORS)
      }
      const session = await deps.stripe.billingPortal.sessions.create({
        customer: context.customer_id,
        return_url: billingUrl(context.tenant_slug),
      })
      return json(200, { url: session.url }, BROWSER_CORS)
    } catch (error) {
      const refusal = error instanceof ApiError ? apiRefusal(error) : null
      if (refusal) return refusal
      log('billing.failed', { action: input.action, tenant_id: input.tenant_id, error: describeError(error) })
      return json(502, { error: 'Billing is unavailable right now; please try again.' }, BROWSER_CORS)
    }
  }
}
