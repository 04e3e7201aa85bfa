// stripe-meter: token usage to Stripe meter events, batched, idempotent, retried until
// accepted (see shared/billing/meter.ts). Woken by pg_cron with a signed request
// (KONSTRUCT_WORKER_SECRET); verify_jwt = false, it checks its callers itself.
import { projectFromEnv, serviceApi } from '../../shared/api/project.ts'
import { optionalEnv, requireEnv } from '../../shared/runtime/env.ts'
import { createStripeMeter, stripeMeterConfigFromEnv } from '../../shared/billing/meter.ts'
import { createStripeClient } from '../../shared/billing/stripe-client.ts'

const env = Deno.env.toObject()
const config = stripeMeterConfigFromEnv(env)
// The api with the project's secret key.
const rpc = serviceApi(projectFromEnv(env))
// The queue retries (with backoff and the same identifier), so the SDK does not.
const stripe = createStripeClient({
  secretKey: requireEnv(env, 'STRIPE_SECRET_KEY'),
  apiUrl: optionalEnv(env, 'STRIPE_API_URL'),
  maxNetworkRetries: 0,
})

Deno.serve(createStripeMeter(config, { stripe, rpc }).handle)
