// stripe-webhook: Stripe's subscription and invoice events, verified with
// constructEventAsync + SubtleCrypto over the raw body and applied idempotently
// (see shared/billing/webhook.ts). verify_jwt = false: the signature is the check.
import { requireEnv } from '../../shared/billing/http.ts'
import { createRpc } from '../../shared/billing/rpc.ts'
import { createStripeWebhookHandler, stripeWebhookConfigFromEnv } from '../../shared/billing/webhook.ts'

const env = Deno.env.toObject()
const serviceRoleKey = requireEnv(env, 'SUPABASE_SERVICE_ROLE_KEY')
const rpc = createRpc({ supabaseUrl: requireEnv(env, 'SUPABASE_URL'), apiKey: serviceRoleKey, bearer: serviceRoleKey })

Deno.serve(createStripeWebhookHandler(stripeWebhookConfigFromEnv(env), { rpc }))
