// The worker's HTTP door (functions/agent-worker). Callers: the database's wake-ups
// (signed with the worker secret, see shared/wake/verify-wake.ts) and server code holding
// a secret key. A wake-up drains agent_jobs then knowledge_jobs (knowledge first when the
// wake-up names it) and answers 200, or 207 when some jobs failed, with the report.

import { isSecretKey } from '../../api/callers.ts'
import { MAX_JSON_BODY_BYTES, readRawBody } from '../../net/request-body.ts'
import { constantTimeEqual } from '../../runtime/constant-time.ts'
import { verifyWake, WAKE_SIGNATURE_HEADER } from '../../wake/verify-wake.ts'
import type { QueueName } from '../store.ts'
import type { WorkerConfig } from './config.ts'
import type { BatchReport } from './executor.ts'
import { describeFailure } from './failures.ts'

export interface WorkerDoorDeps {
  config: WorkerConfig
  drain(order: readonly QueueName[]): Promise<BatchReport>
  now: () => number
  log: (line: string, detail?: unknown) => void
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  })

export function createWorkerDoor(deps: WorkerDoorDeps): (req: Request) => Promise<Response> {
  const { config, log } = deps

  async function authorized(req: Request, body: string): Promise<boolean> {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')?.[1]
    // A server caller: one of the project's secret keys (or the legacy service_role key).
    if (isSecretKey(config.project, token ?? null)) return true
    if (token && config.serviceRoleKey !== null && constantTimeEqual(token, config.serviceRoleKey)) return true
    const wake = req.headers.get(WAKE_SIGNATURE_HEADER)
    if (!wake) return false
    const verdict = await verifyWake(config.workerSecret, body, wake, new Date(deps.now()))
    if (!verdict.ok) log('agent-worker: refused a wake-up', verdict.reason)
    return verdict.ok
  }

  return async function handle(req: Request): Promise<Response> {
    if (req.method !== 'POST') return json(405, { error: 'method not allowed' })
    // Capped before it is read, like every function's body.
    const raw = await readRawBody(req, MAX_JSON_BODY_BYTES)
    if (!raw.ok && raw.reason === 'too_large') return json(413, { error: 'request too large' })
    const body = raw.ok ? raw.text : ''
    if (!(await authorized(req, body))) return json(401, { error: 'unauthorized' })
    let order: QueueName[] = ['agent_jobs', 'knowledge_jobs']
    try {
      const wake = JSON.parse(body) as { queue?: unknown } | null
      if (wake?.queue === 'knowledge_jobs') order = ['knowledge_jobs', 'agent_jobs']
    } catch {
      // an empty or odd body is a plain wake-up
    }
    try {
      const report = await deps.drain(order)
      return json(report.failed.length ? 207 : 200, report)
    } catch (error) {
      log('agent-worker: the batch failed', describeFailure(error))
      return json(500, { error: 'the worker could not run; see the function logs' })
    }
  }
}
