// stripe-webhook: Stripe's subscription and invoice events, verified with
// constructEventAsync + SubtleCrypto over the raw body and applied idempotently
// (see shared/billing/webhook.ts). verify_jwt = false: the signature is the check.
import { projectFromEnv, serviceApi } from '../../shared/api/project.ts'
import { createStripeWebhookHandler, stripeWebhookConfigFromEnv } from '../../shared/billing/webhook.ts'

const env = Deno.env.toObject()

Deno.serve(createStripeWebhookHandler(stripeWebhookConfigFromEnv(env), { rpc: serviceApi(projectFromEnv(env)) }))
