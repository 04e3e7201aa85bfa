// stripe-webhook: Stripe's events about subscriptions and invoices, verified and applied.
//
//   1. Read the raw body once; verify `Stripe-Signature` over exactly those bytes with
//      constructEventAsync and SubtleCrypto (timestamp tolerance 5 minutes). Missing or
//      bad → 400, nothing stored, nothing said about why.
//   2. Reduce the event (shared/billing/stripe-events.ts); a type Konstruct does not
//      handle is acknowledged and dropped.
//   3. api.apply_stripe_event does the rest in one transaction: a redelivery is a no-op,
//      an unknown customer changes nothing (logged here, 200 so Stripe stops sending),
//      otherwise the state is applied only if newer than the stored one.
//   4. A database failure answers 500, so Stripe delivers the event again later.
import Stripe from 'stripe'
import { type Api } from '../api/client.ts'
import { type Env, requireEnv } from '../runtime/env.ts'
import { BROWSER_CORS, consoleLog, describeError, json, type Log } from '../runtime/http.ts'
import { normalizeStripeEvent } from './stripe-events.ts'
import { readRawBody } from '../net/request-body.ts'

export interface StripeWebhookConfig {
  webhookSecret: string
  toleranceSeconds: number
}

export function stripeWebhookConfigFromEnv(env: Env): StripeWebhookConfig {
  return { webhookSecret: requireEnv(env, 'STRIPE_WEBHOOK_SECRET'), toleranceSeconds: 300 }
}

export interface StripeWebhookDeps {
  rpc: Api
  log?: Log
}

interface ApplyResult {
  outcome: 'applied' | 'stale' | 'ignored' | 'duplicate' | 'unknown_customer'
  tenant_id?: string | null
  status?: string | null
}

export function createStripeWebhookHandler(config: StripeWebhookConfig, deps: StripeWebhookDeps) {
  const log = deps.log ?? consoleLog
  const cryptoProvider = Stripe.createSubtleCryptoProvider()

  return async function handleStripeWebhook(req: Request): Promise<Response> {
    if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: BROWSER_CORS })
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' })
    const signature = req.headers.get('stripe-signature')
    if (!signature) return json(400, { error: 'invalid signature' })
    // Capped before it is read: an unsigned sender must not make us buffer any size.
    const raw = await readRawBody(req)
    if (!raw.ok) return json(raw.reason === 'too_large' ? 413 : 400, { error: 'unreadable body' })
    const body = raw.text

    let event: Stripe.Event
    try {
      event = await Stripe.webhooks.constructEventAsync(
        body,
        signature,
        config.webhookSecret,
        config.toleranceSeconds,
        cryptoProvider,
      )
    } catch (error) {
      log('stripe_webhook.bad_signature', { error: describeError(error) })
      return json(400, { error: 'invalid signature' })
    }

    let normalized
    try {
      normalized = normalizeStripeEvent(event)
    } catch (error) {
      log('stripe_webhook.unreadable_event', { event_id: event.id, type: event.type, error: describeError(error) })
      return json(400, { error: 'unreadable event' })
    }
    if (!normalized) return json(200, { received: true, outcome: 'unhandled' })

    let result: ApplyResult
    try {
      result = await deps.rpc<ApplyResult>('apply_stripe_event', { event: normalized })
    } catch (error) {
      log('stripe_webhook.apply_failed', { event_id: event.id, type: event.type, error: describeError(error) })
      return json(500, { error: 'could not record the event; Stripe will retry' })
    }
    if (result.outcome === 'unknown_customer') {
      log('stripe_webhook.unknown_customer', { event_id: event.id, type: event.type, customer: normalized.customer })
    } else {
      log('stripe_webhook.event', {
        event_id: event.id,
        type: event.type,
        outcome: result.outcome,
        status: result.status,
      })
    }
    return json(200, { received: true, outcome: result.outcome })
  }
}
