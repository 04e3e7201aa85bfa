// The queue executor: claims jobs, hands each to the module of its kind, and settles it.
// It knows nothing of what a job does; a kind (./jobs/*.ts) brings its schema, its work
// and what to tell people when it is dead-lettered.
//
// Per job, at least once:
//   1. claim with a visibility timeout longer than the time budget (no one else holds it);
//   2. read the job with its kind's schema and run it; a kind records every effect under an
//      idempotency key derived from the job, so a retry finds its earlier work;
//   3. complete it (api.complete_job deletes it) only after the work returned; a kind whose
//      last call recorded its effect and deleted the job in one transaction says so;
//   4. on failure, api.fail_job sets the visibility timeout with exponential backoff; at
//      the last attempt (or at once for a permanent failure, an unknown kind, an
//      unreadable job) it archives the job (pgmq's archive is the dead-letter queue)
//      and the kind's deadLetter tells the user and the admins.
// One job's failure never stops the others of its batch.

import { z } from 'zod'
import type { AgentStore, ClaimedJob, QueueName, ReplyContextLimits } from '../store.ts'
import type { WorkerConfig } from './config.ts'
import { describeFailure, isPermanent, PermanentJobError, retryBaseDelaySeconds } from './failures.ts'

/** One attempt at one job, as its kind sees it. */
export interface JobRun {
  queue: QueueName
  jobId: number
  /** 1 for the first attempt (pgmq's read_ct). */
  attempt: number
  /** Aborted when the wake-up's time budget runs out; the job is then left to the visibility timeout. */
  signal: AbortSignal
  /** What the claim read for this job beside it (a reply's context), or null. */
  prepared: unknown
}

/**
 * What a kind's run returns: a short outcome, or the outcome with completed = true when
 * its last call already deleted the job in the same transaction as its effect.
 */
export type JobOutcome = string | { outcome: string; completed: boolean }

export interface DeadLetter {
  queue: QueueName
  error: unknown
  reason: string
  attempts: number | null
}

/** One kind of job: how to read it, do it, and give it up. */
export interface JobKind<J extends { tenant_id: string }> {
  schema: z.ZodType<J, unknown>
  /** Does the work; returns a short outcome for the report. Throws to retry. */
  run(job: J, run: JobRun): Promise<JobOutcome>
  /** After the last attempt: tell whoever waits (best effort; its failure is only logged). */
  deadLetter?(job: J, letter: DeadLetter): Promise<void>
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each kind brings its own job type
export type JobKinds = Record<string, JobKind<any>>

export interface JobReport {
  queue: QueueName
  job_id: number
  kind: string | null
  outcome: string
}

export interface FailedJobReport extends JobReport {
  attempts: number | null
  retry_in_seconds: number | null
  dead_lettered: boolean
}

export interface BatchReport {
  completed: JobReport[]
  failed: FailedJobReport[]
  /** True when the time budget ran out with work possibly left for the next wake-up. */
  more: boolean
  elapsed_ms: number
}

export type JobResult = { ok: true; report: JobReport } | { ok: false; report: FailedJobReport }

export type ExecutorSettings = Pick<
  WorkerConfig,
  'batchSize' | 'visibilityTimeoutSeconds' | 'maxAttempts' | 'retryBaseDelaySeconds' | 'timeBudgetMs' | 'jobReserveMs'
>

export interface JobExecutorDeps {
  queues: Pick<AgentStore, 'claimJobs' | 'completeJob' | 'failJob'>
  kinds: JobKinds
  settings: ExecutorSettings
  /** Read a reply job's context within the claim (one call per batch rather than one per job). */
  replyContext?: ReplyContextLimits | null
  now?: () => number
  log?: (line: string, detail?: unknown) => void
}

/** A job's kind and tenant as far as they can be read without its schema. */
function peek(job: unknown): { kind: unknown; tenantId: unknown } {
  if (typeof job !== 'object' || job === null) return { kind: undefined, tenantId: undefined }
  const record = job as Record<string, unknown>
  return { kind: record['kind'], tenantId: record['tenant_id'] }
}

export function createJobExecutor(deps: JobExecutorDeps) {
  const { queues, kinds, settings } = deps
  const now = deps.now ?? (() => Date.now())
  const log = deps.log ?? ((line: string, detail?: unknown) => console.log(line, detail ?? ''))

  /**
   * The claim step: up to `limit` jobs of one queue (a batch by default), hidden for the
   * visibility timeout. The first claim of a wake-up begins it: messages queued from then
   * on wake another worker, while those queued before are this claim's to see
   * (app.begin_wake).
   */
  function claimBatch(queue: QueueName, beginsWake = false, limit = settings.batchSize): Promise<ClaimedJob[]> {
    return queues.claimJobs(queue, limit, settings.visibilityTimeoutSeconds, {
      replyContext: deps.replyContext ?? null,
      beginsWake,
    })
  }

  /** Reads a claimed job: its kind's module and the job as that kind's schema reads it. */
  function dispatch(claimed: ClaimedJob) {
    const { kind } = peek(claimed.job)
    const handler = typeof kind === 'string' && Object.hasOwn(kinds, kind) ? kinds[kind] : undefined
    if (!handler) throw new PermanentJobError(`unknown job kind: ${JSON.stringify(kind ?? null)}`)
    const parsed = handler.schema.safeParse(claimed.job)
    if (!parsed.success) throw new PermanentJobError(`unreadable job: ${z.prettifyError(parsed.error)}`)
    return { kind: kind as string, handler, job: parsed.data as { tenant_id: string } }
  }

  async function execute(queue: QueueName, claimed: ClaimedJob, signal: AbortSignal): Promise<JobResult> {
    const { tenantId } = peek(claimed.job)
    let dispatched: ReturnType<typeof dispatch> | null = null
    const report = () => ({ queue, job_id: claimed.job_id, kind: dispatched?.kind ?? null })
    try {
      dispatched = dispatch(claimed)
      const result = await dispatched.handler.run(dispatched.job, {
        queue,
        jobId: claimed.job_id,
        attempt: claimed.read_count,
        signal,
        prepared: claimed.prepared ?? null,
      })
      const { outcome, completed } = typeof result === 'string' ? { outcome: result, completed: false } : result
      if (!completed) await queues.completeJob(queue, claimed.job_id, dispatched.job.tenant_id)
      return { ok: true, report: { ...report(), outcome } }
    } catch (error) {
      const failedTenant = typeof tenantId === 'string' ? tenantId : null
      return { ok: false, report: await fail(queue, claimed, error, failedTenant, dispatched, report()) }
    }
  }

  async function fail(
    queue: QueueName,
    claimed: ClaimedJob,
    error: unknown,
    tenantId: string | null,
    dispatched: ReturnType<typeof dispatch> | null,
    base: Omit<JobReport, 'outcome'>,
  ): Promise<FailedJobReport> {
    const reason = describeFailure(error)
    const unsettled = (outcome: string): FailedJobReport => ({
      ...base,
      outcome,
      attempts: claimed.read_count,
      retry_in_seconds: null,
      dead_lettered: false,
    })
    log(`agent-worker: ${queue} job ${claimed.job_id} failed (attempt ${claimed.read_count})`, reason)
    // Without a tenant the job cannot be failed through the api; the visibility timeout retries it.
    if (tenantId === null) return unsettled('unreadable')
    let result
    try {
      result = await queues.failJob(
        queue,
        claimed.job_id,
        tenantId,
        reason,
        isPermanent(error) ? 1 : settings.maxAttempts,
        retryBaseDelaySeconds(error, settings.retryBaseDelaySeconds),
      )
    } catch (failError) {
      // E.g. a forged job naming another tenant: leave it to the visibility timeout and say so.
      log(`agent-worker: could not fail ${queue} job ${claimed.job_id}`, describeFailure(failError))
      return unsettled('fail_refused')
    }
    const deadLettered = result.outcome === 'archived'
    const attempts = result.attempts ?? claimed.read_count
    if (deadLettered && dispatched?.handler.deadLetter) {
      await dispatched.handler
        .deadLetter(dispatched.job, { queue, error, reason, attempts })
        .catch((e: unknown) =>
          log(`agent-worker: dead-letter handling of job ${claimed.job_id} failed`, describeFailure(e)),
        )
    }
    return {
      ...base,
      outcome: deadLettered ? 'dead_lettered' : result.outcome,
      attempts,
      retry_in_seconds: result.retry_in_seconds ?? null,
      dead_lettered: deadLettered,
    }
  }

  /**
   * One queue of a wake-up: keeps up to a batch of its jobs running, and claims again as
   * soon as half a batch has finished, so one slow job does not hold up the others' slots.
   * Every job is still claimed with the visibility timeout and settled on its own. Stops
   * claiming when a claim comes back short (drained) or the time budget is nearly spent
   * (more), then waits for the jobs it holds.
   */
  async function drainQueue(queue: QueueName, report: BatchReport, deadline: number, signal: AbortSignal) {
    const running = new Set<Promise<void>>()
    const refillAt = Math.ceil(settings.batchSize / 2)
    let first = true
    for (;;) {
      const room = settings.batchSize - running.size
      if (room >= refillAt) {
        if (deadline - now() < settings.jobReserveMs) {
          report.more = true
          break
        }
        const claimed = await claimBatch(queue, first, room)
        first = false
        for (const job of claimed) {
          const task: Promise<void> = execute(queue, job, signal)
            .then((result) => {
              if (result.ok) report.completed.push(result.report)
              else report.failed.push(result.report)
            })
            .finally(() => running.delete(task))
          running.add(task)
        }
        if (claimed.length < room) break
        continue
      }
      await Promise.race(running)
    }
    await Promise.all(running)
  }

  /** A wake-up: drains the queues in order while the time budget allows. */
  async function drain(order: readonly QueueName[]): Promise<BatchReport> {
    const started = now()
    const deadline = started + settings.timeBudgetMs
    const report: BatchReport = { completed: [], failed: [], more: false, elapsed_ms: 0 }
    // Work still running at the deadline is abandoned to the visibility timeout.
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), settings.timeBudgetMs)
    try {
      for (const queue of order) {
        await drainQueue(queue, report, deadline, controller.signal)
        if (report.more) break
      }
    } finally {
      clearTimeout(timer)
    }
    report.elapsed_ms = now() - started
    return report
  }

  return { claimBatch, execute, drain }
}

export type JobExecutor = ReturnType<typeof createJobExecutor>
