// billing: Stripe Checkout and Billing Portal sessions for a tenant's owners and admins
// (see shared/billing/checkout.ts). The handler verifies the caller's session itself
// (JWKS); configuration is read once at start: a missing secret stops the function
// with "<NAME> is not set".
import { billingConfigFromEnv, createBillingHandler } from '../../shared/billing/checkout.ts'
import { optionalEnv, requireEnv } from '../../shared/runtime/env.ts'
import { createStripeClient } from '../../shared/billing/stripe-client.ts'

const env = Deno.env.toObject()
const stripe = createStripeClient({
  secretKey: requireEnv(env, 'STRIPE_SECRET_KEY'),
  apiUrl: optionalEnv(env, 'STRIPE_API_URL'),
})

Deno.serve(createBillingHandler(billingConfigFromEnv(env), { stripe }))
