// billing: Stripe Checkout and Billing Portal sessions for a tenant's owners and admins
// (see shared/billing/checkout.ts). verify_jwt = true. Configuration is read once at
// start; a missing secret stops the function with "<NAME> is not set".
import { billingConfigFromEnv, createBillingHandler } from '../../shared/billing/checkout.ts'
import { requireEnv, optionalEnv } from '../../shared/billing/http.ts'
import { createRpc } from '../../shared/billing/rpc.ts'
import { createStripeClient } from '../../shared/billing/stripe-client.ts'

const env = Deno.env.toObject()
const config = billingConfigFromEnv(env)
const stripe = createStripeClient({
  secretKey: requireEnv(env, 'STRIPE_SECRET_KEY'),
  apiUrl: optionalEnv(env, 'STRIPE_API_URL'),
})
const serviceRpc = createRpc({
  supabaseUrl: config.supabaseUrl,
  apiKey: config.serviceRoleKey,
  bearer: config.serviceRoleKey,
})

Deno.serve(createBillingHandler(config, { stripe, serviceRpc }))
