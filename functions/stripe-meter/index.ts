// stripe-meter: token usage to Stripe meter events, batched, idempotent, retried until
// accepted (see shared/billing/meter.ts). Woken by pg_cron with a signed request
// (KONSTRUCT_WORKER_SECRET); verify_jwt = false, it checks its callers itself.
import { optionalEnv, requireEnv } from '../../shared/billing/http.ts'
import { createStripeMeter, stripeMeterConfigFromEnv } from '../../shared/billing/meter.ts'
import { createRpc } from '../../shared/billing/rpc.ts'
import { createStripeClient } from '../../shared/billing/stripe-client.ts'

const env = Deno.env.toObject()
const config = stripeMeterConfigFromEnv(env)
const rpc = createRpc({
  supabaseUrl: requireEnv(env, 'SUPABASE_URL'),
  apiKey: config.serviceRoleKey,
  bearer: config.serviceRoleKey,
})
// The queue retries (with backoff and the same identifier), so the SDK does not.
const stripe = createStripeClient({
  secretKey: requireEnv(env, 'STRIPE_SECRET_KEY'),
  apiUrl: optionalEnv(env, 'STRIPE_API_URL'),
  maxNetworkRetries: 0,
})

Deno.serve(createStripeMeter(config, { stripe, rpc }).handle)
