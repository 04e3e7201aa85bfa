// The worker's queue executor on the real queues (pgmq through api.claim_jobs,
// api.complete_job, api.fail_job on the local stack), with job kinds written for the
// test: retries back off (1 s, then 2 s), a job that keeps failing is dead-lettered
// after the last attempt and its kind told once, one job's failure never stops the
// others of its batch, and a job of a kind no module knows is dead-lettered at once
// with the reason in the audit log; a drain begins one wake epoch, not one per batch, and
// a slow job's batch-mates' slots are claimed again while it runs.
// The database's wake-ups are off, so the real agent-worker function never claims these jobs.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { z } from 'zod'
import { createApi } from '../../shared/api/client.ts'
import { createAgentStore } from '../../shared/agent/store.ts'
import {
  createJobExecutor,
  type DeadLetter,
  type ExecutorSettings,
  type JobKinds,
} from '../../shared/agent/worker/executor.ts'
import { PermanentJobError } from '../../shared/agent/worker/failures.ts'
import { setWakeUps, startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'

const TENANT = '10000000-0000-4000-8000-000000000001'

let stack: TestStack

const settings: ExecutorSettings = {
  batchSize: 10,
  visibilityTimeoutSeconds: 30,
  maxAttempts: 3,
  retryBaseDelaySeconds: 1,
  timeBudgetMs: 20_000,
  jobReserveMs: 1_000,
}

async function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return (await stack.db.pg.query<T>(query, params)).rows
}

async function enqueue(job: Record<string, unknown>): Promise<number> {
  const [row] = await sql<{ id: string }>(`select app.enqueue_job('agent_jobs', $1::jsonb)::text as id`, [
    JSON.stringify({ tenant_id: TENANT, ...job }),
  ])
  return Number(row!.id)
}

/** Makes a job waiting out its backoff visible now (the wait itself is the database's). */
const visibleNow = (jobId: number) => sql(`select pgmq.set_vt('agent_jobs', $1::bigint, 0)`, [jobId])

const where = async (jobId: number) => {
  const [row] = await sql<{ queued: boolean; archived: boolean }>(
    `select exists (select 1 from pgmq.q_agent_jobs where msg_id = $1) as queued,
            exists (select 1 from pgmq.a_agent_jobs where msg_id = $1) as archived`,
    [jobId],
  )
  return row!
}

const testJob = z.object({ kind: z.string(), tenant_id: z.string().uuid(), note: z.string().default('') })

/** Test kinds: `ok` succeeds, `flaky` fails its first two attempts, `broken` always fails. */
function testKinds(seen: { runs: string[]; letters: Array<{ note: string; letter: DeadLetter }> }): JobKinds {
  const record = (name: string) => async (job: z.infer<typeof testJob>, run: { attempt: number }) => {
    seen.runs.push(`${name}:${job.note}:${run.attempt}`)
    if (name === 'broken') throw new Error(`${job.note} is broken`)
    if (name === 'flaky' && run.attempt < 3) throw new Error('not yet')
    if (name === 'refused') throw new PermanentJobError('nothing a retry would change')
    return `done:${job.note}`
  }
  const deadLetter = async (job: z.infer<typeof testJob>, letter: DeadLetter) => {
    seen.letters.push({ note: job.note, letter })
    if (job.note === 'loud') throw new Error('the dead-letter hook itself failed')
  }
  return Object.fromEntries(
    ['ok', 'flaky', 'broken', 'refused'].map((name) => [name, { schema: testJob, run: record(name), deadLetter }]),
  )
}

function executor(seen = { runs: [] as string[], letters: [] as Array<{ note: string; letter: DeadLetter }> }) {
  const lines: string[] = []
  const store = createAgentStore(createApi({ url: stack.url, key: stack.keys.secretKey }))
  const run = createJobExecutor({ queues: store, kinds: testKinds(seen), settings, log: (line) => lines.push(line) })
  return { ...run, seen, lines }
}

beforeAll(async () => {
  stack = await startTestStack()
  await setWakeUps(stack, false)
}, 90_000)

beforeEach(async () => {
  await sql(`select pgmq.purge_queue('agent_jobs')`)
})

afterAll(async () => {
  await stack?.close()
})

describe('the queue executor', () => {
  test('a failing job is retried with a doubling delay and completes when it finally works', async () => {
    const w = executor()
    const id = await enqueue({ kind: 'flaky', note: 'f' })

    const first = await w.drain(['agent_jobs'])
    expect(first.completed).toEqual([])
    expect(first.failed).toEqual([
      expect.objectContaining({ job_id: id, kind: 'flaky', outcome: 'retry', attempts: 1, retry_in_seconds: 1 }),
    ])
    // Hidden while it waits: a wake-up right now finds nothing.
    expect((await w.drain(['agent_jobs'])).failed).toEqual([])

    await visibleNow(id)
    const second = await w.drain(['agent_jobs'])
    expect(second.failed).toEqual([expect.objectContaining({ outcome: 'retry', attempts: 2, retry_in_seconds: 2 })])

    await visibleNow(id)
    const third = await w.drain(['agent_jobs'])
    expect(third.completed).toEqual([{ queue: 'agent_jobs', job_id: id, kind: 'flaky', outcome: 'done:f' }])
    expect(w.seen.runs).toEqual(['flaky:f:1', 'flaky:f:2', 'flaky:f:3'])
    expect(await where(id)).toEqual({ queued: false, archived: false })
    expect(w.seen.letters).toEqual([])
  })

  test('a job that keeps failing is dead-lettered after the last attempt, and its kind told once', async () => {
    const w = executor()
    const id = await enqueue({ kind: 'broken', note: 'b' })
    for (let attempt = 1; attempt < settings.maxAttempts; attempt++) {
      const report = await w.drain(['agent_jobs'])
      expect(report.failed).toEqual([expect.objectContaining({ outcome: 'retry', attempts: attempt })])
      await visibleNow(id)
    }
    const last = await w.drain(['agent_jobs'])
    expect(last.failed).toEqual([
      expect.objectContaining({ job_id: id, outcome: 'dead_lettered', dead_lettered: true, attempts: 3 }),
    ])
    expect(await where(id)).toEqual({ queued: false, archived: true })
    expect(w.seen.letters).toHaveLength(1)
    expect(w.seen.letters[0]).toMatchObject({ note: 'b', letter: { queue: 'agent_jobs', attempts: 3 } })
    expect(w.seen.letters[0]!.letter.reason).toContain('b is broken')
    // Nothing left to claim: the dead letter is not retried.
    expect(await w.drain(['agent_jobs'])).toMatchObject({ completed: [], failed: [] })
  })

  test('a permanent failure is dead-lettered at the first attempt', async () => {
    const w = executor()
    const id = await enqueue({ kind: 'refused', note: 'r' })
    const report = await w.drain(['agent_jobs'])
    expect(report.failed).toEqual([expect.objectContaining({ job_id: id, outcome: 'dead_lettered', attempts: 1 })])
    expect(await where(id)).toEqual({ queued: false, archived: true })
  })

  test('one job throwing (even in its dead-letter hook) does not stop the others of its batch', async () => {
    const w = executor()
    const ok1 = await enqueue({ kind: 'ok', note: 'one' })
    const loud = await enqueue({ kind: 'refused', note: 'loud' })
    const broken = await enqueue({ kind: 'broken', note: 'x' })
    const ok2 = await enqueue({ kind: 'ok', note: 'two' })

    const report = await w.drain(['agent_jobs'])
    expect(report.completed.map((r) => [r.job_id, r.outcome]).sort()).toEqual(
      [
        [ok1, 'done:one'],
        [ok2, 'done:two'],
      ].sort(),
    )
    expect(report.failed.map((r) => [r.job_id, r.outcome]).sort()).toEqual(
      [
        [loud, 'dead_lettered'],
        [broken, 'retry'],
      ].sort(),
    )
    expect(await where(ok1)).toEqual({ queued: false, archived: false })
    expect(await where(ok2)).toEqual({ queued: false, archived: false })
    expect(await where(loud)).toEqual({ queued: false, archived: true })
    expect(await where(broken)).toEqual({ queued: true, archived: false })
    expect(w.lines.some((line) => line.includes(`dead-letter handling of job ${loud} failed`))).toBe(true)
  })

  test('a drain begins one wake epoch, with its first claim, however many batches it takes', async () => {
    // Messages queued after a worker began wake another one (app.begin_wake); a worker's
    // later batches must not, or a busy worker would keep every enqueue silent.
    const epoch = async () =>
      Number((await sql<{ epoch: string }>(`select app.wake_epoch('agent_jobs')::text as epoch`))[0]!.epoch)
    const w = executor()
    for (let i = 0; i < settings.batchSize + 2; i++) await enqueue({ kind: 'ok', note: `e${i}` })
    const before = await epoch()
    const report = await w.drain(['agent_jobs'])
    expect(report.completed).toHaveLength(settings.batchSize + 2)
    expect(await epoch()).toBe(before + 1)
  })

  test('a slow job does not hold up the others: the free slots of its batch are claimed again', async () => {
    // The slow job finishes only once the job queued last has run: with one batch at a time
    // (waiting for the whole batch before the next claim) it would wait forever.
    const runs: string[] = []
    const slow = {
      schema: testJob,
      run: async (job: z.infer<typeof testJob>) => {
        await until(async () => runs.includes('last'), 'the job queued last to run')
        runs.push(job.note)
        return 'slow'
      },
    }
    const ok = {
      schema: testJob,
      run: async (job: z.infer<typeof testJob>) => {
        runs.push(job.note)
        return 'ok'
      },
    }
    const store = createAgentStore(createApi({ url: stack.url, key: stack.keys.secretKey }))
    const w = createJobExecutor({ queues: store, kinds: { slow, ok }, settings, log: () => {} })
    await enqueue({ kind: 'slow', note: 'slow' })
    for (let i = 1; i < settings.batchSize; i++) await enqueue({ kind: 'ok', note: `ok${i}` })
    await enqueue({ kind: 'ok', note: 'last' })

    const report = await w.drain(['agent_jobs'])
    expect(report.completed).toHaveLength(settings.batchSize + 1)
    expect(runs.indexOf('last')).toBeLessThan(runs.indexOf('slow'))
  })

  test('a job of a kind no module knows is dead-lettered at once, with the reason', async () => {
    const w = executor()
    const id = await enqueue({ kind: 'teleport', note: 'u' })
    const unreadable = await enqueue({ kind: 'ok', note: 42 })

    const report = await w.drain(['agent_jobs'])
    expect(report.failed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ job_id: id, kind: null, outcome: 'dead_lettered', attempts: 1 }),
        expect.objectContaining({ job_id: unreadable, kind: null, outcome: 'dead_lettered', attempts: 1 }),
      ]),
    )
    expect(await where(id)).toEqual({ queued: false, archived: true })
    const audit = await sql<{ error: string; msg: string }>(
      `select details ->> 'error' as error, entity_id as msg from app.audit_log
        where action = 'job.dead_lettered' and entity_id in ($1, $2) order by entity_id`,
      [`agent_jobs:${id}`, `agent_jobs:${unreadable}`],
    )
    expect(audit.find((a) => a.msg === `agent_jobs:${id}`)?.error).toContain('unknown job kind: "teleport"')
    expect(audit.find((a) => a.msg === `agent_jobs:${unreadable}`)?.error).toContain('unreadable job')
    // No module ran, and no kind was told of a job it does not own.
    expect(w.seen.runs).toEqual([])
    expect(w.seen.letters).toEqual([])
  })
})
