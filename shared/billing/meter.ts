// stripe-meter: sends token usage to Stripe as meter events (usage-based charges).
//
// Woken by pg_cron (app.wake_stripe_meter_if_pending, only when a report is due; the
// wake-up is signed with the worker secret, shared/wake/verify-wake.ts) or by server code
// holding the service role key. Each run claims due reports in batches
// (api.claim_meter_reports leases them, so two runs never send the same one at once),
// sends them with bounded concurrency and records the outcome:
//   * accepted → api.complete_meter_reports (sent, once);
//   * failed   → api.fail_meter_reports: retried later with backoff, forever, until Stripe
//     accepts it (the admins are alerted when it keeps failing).
// Never double-counted: every report carries its own identifier (konstruct-usage-<usage
// event id>) as the meter event's identifier and as the Idempotency-Key, so a send whose
// answer was lost and is retried is counted by Stripe once.
import type Stripe from 'stripe'
import { bearerOf, isSecretKey } from '../api/callers.ts'
import { type Api } from '../api/client.ts'
import { projectFromEnv, type Project } from '../api/project.ts'
import { constantTimeEqual } from '../runtime/constant-time.ts'
import { type Env, numberEnv, optionalEnv, requireEnv } from '../runtime/env.ts'
import { consoleLog, describeError, json, type Log } from '../runtime/http.ts'
import { verifyWake, WAKE_SIGNATURE_HEADER } from '../wake/verify-wake.ts'

export interface StripeMeterConfig {
  /** The project: server callers present one of its secret keys. */
  project: Project
  /** Legacy service_role key, still accepted from server callers. */
  serviceRoleKey: string | undefined
  /** KONSTRUCT_WORKER_SECRET: the database's wake-ups are signed with it. */
  workerSecret: string
  eventName: string
  batchSize: number
  concurrency: number
  leaseSeconds: number
  retryBaseSeconds: number
  timeBudgetMs: number
}

export function stripeMeterConfigFromEnv(env: Env): StripeMeterConfig {
  return {
    project: projectFromEnv(env),
    serviceRoleKey: optionalEnv(env, 'SUPABASE_SERVICE_ROLE_KEY'),
    workerSecret: requireEnv(env, 'KONSTRUCT_WORKER_SECRET'),
    eventName: optionalEnv(env, 'STRIPE_METER_EVENT_NAME') ?? 'konstruct_tokens',
    batchSize: Math.max(1, Math.floor(numberEnv(env, 'STRIPE_METER_BATCH_SIZE', 100))),
    concurrency: Math.max(1, Math.floor(numberEnv(env, 'STRIPE_METER_CONCURRENCY', 8))),
    leaseSeconds: Math.max(1, Math.floor(numberEnv(env, 'STRIPE_METER_LEASE_SECONDS', 60))),
    retryBaseSeconds: Math.floor(numberEnv(env, 'STRIPE_METER_RETRY_BASE_SECONDS', 30)),
    timeBudgetMs: numberEnv(env, 'STRIPE_METER_TIME_BUDGET_MS', 20_000),
  }
}

export interface MeterReport {
  report_id: number
  tenant_id: string
  identifier: string
  stripe_customer_id: string
  value: number
  occurred_at: string
  attempts: number
}

export interface MeterRunReport {
  sent: number
  failed: number
  passes: number
}

export interface StripeMeterDeps {
  stripe: Stripe
  rpc: Api
  log?: Log
  now?: () => number
}

/** Stripe's answer to an identifier it already counted: the event is in, as wanted. */
function alreadyCounted(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; statusCode?: unknown }
  return (
    e?.code === 'resource_already_exists' ||
    (e?.statusCode === 400 &&
      typeof e.message === 'string' &&
      /identifier.*already|already.*identifier/i.test(e.message))
  )
}

async function mapWithConcurrency<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index]!)
    }
  })
  await Promise.all(workers)
  return results
}

export function createStripeMeter(config: StripeMeterConfig, deps: StripeMeterDeps) {
  const log = deps.log ?? consoleLog
  const now = deps.now ?? (() => Date.now())

  async function send(report: MeterReport): Promise<{ ok: true } | { ok: false; error: string }> {
    try {
      await deps.stripe.billing.meterEvents.create(
        {
          event_name: config.eventName,
          identifier: report.identifier,
          timestamp: Math.floor(new Date(report.occurred_at).getTime() / 1000),
          payload: { stripe_customer_id: report.stripe_customer_id, value: String(report.value) },
        },
        { idempotencyKey: report.identifier },
      )
      return { ok: true }
    } catch (error) {
      if (alreadyCounted(error)) return { ok: true }
      return { ok: false, error: describeError(error).slice(0, 300) }
    }
  }

  async function runOnce(): Promise<MeterRunReport> {
    const deadline = now() + config.timeBudgetMs
    const report: MeterRunReport = { sent: 0, failed: 0, passes: 0 }
    while (now() < deadline) {
      const claimed = await deps.rpc<MeterReport[]>('claim_meter_reports', {
        batch_size: config.batchSize,
        lease_seconds: config.leaseSeconds,
      })
      if (!claimed?.length) break
      report.passes++
      const outcomes = await mapWithConcurrency(claimed, config.concurrency, send)
      const sent = claimed.filter((_, i) => outcomes[i]!.ok).map((r) => r.report_id)
      if (sent.length) await deps.rpc('complete_meter_reports', { report_ids: sent })
      const failures = new Map<string, number[]>()
      claimed.forEach((r, i) => {
        const outcome = outcomes[i]!
        if (!outcome.ok) failures.set(outcome.error, [...(failures.get(outcome.error) ?? []), r.report_id])
      })
      for (const [error, ids] of failures) {
        log('stripe_meter.send_failed', { reports: ids.length, error })
        await deps.rpc('fail_meter_reports', { report_ids: ids, error, base_delay_seconds: config.retryBaseSeconds })
      }
      report.sent += sent.length
      report.failed += claimed.length - sent.length
      // Stripe is refusing everything: stop hammering it; the backoff decides when next.
      if (sent.length === 0 || claimed.length < config.batchSize) break
    }
    return report
  }

  async function handle(req: Request): Promise<Response> {
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' })
    const token = bearerOf(req)
    const serverCaller =
      isSecretKey(config.project, token) ||
      (token !== null && config.serviceRoleKey !== undefined && constantTimeEqual(token, config.serviceRoleKey))
    if (!serverCaller) {
      const wake = req.headers.get(WAKE_SIGNATURE_HEADER)
      const verdict = wake ? await verifyWake(config.workerSecret, await req.text(), wake, new Date(now())) : null
      if (verdict && !verdict.ok) log('stripe_meter.wake_refused', { reason: verdict.reason })
      if (!verdict?.ok) return json(401, { error: 'unauthorized' })
    }
    try {
      const result = await runOnce()
      return json(result.failed ? 207 : 200, result)
    } catch (error) {
      log('stripe_meter.run_failed', { error: describeError(error) })
      return json(500, { error: 'the meter run failed; see the function logs' })
    }
  }

  return { handle, runOnce }
}
