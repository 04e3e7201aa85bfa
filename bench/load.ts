// A bench's traffic, sent from a process of its own, as Slack's servers send it from theirs:
// the client's work (fetch, timers, its garbage) then neither loads the process that hosts
// the local stack nor shows up in its event loop's delays, and the latencies are what a
// sender measures. The bench forks this file; one run at a time, answered over IPC.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface Request {
  method?: string
  headers?: Record<string, string>
  body?: string
}

export interface Run {
  /** Milliseconds per answered-200 request, in completion order. */
  latencies: number[]
  /** Requests answered with another status or not at all. */
  failures: number
  wallMs: number
}

type Job =
  | { kind: 'closed'; url: string; requests: Request[]; concurrency: number }
  | { kind: 'paced'; url: string; requests: Request[]; rate: number }

async function send(url: string, request: Request): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: request.method ?? 'POST',
      headers: request.headers,
      body: request.body,
    })
    await response.arrayBuffer()
    return response.status === 200
  } catch {
    return false
  }
}

/** Closed loop: `concurrency` requests in flight, the next one sent when one is answered. */
async function closed(url: string, requests: Request[], concurrency: number): Promise<Run> {
  const latencies: number[] = []
  let failures = 0
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const request = requests[next++]!
        const t0 = performance.now()
        if (await send(url, request)) latencies.push(performance.now() - t0)
        else failures++
      }
    }),
  )
  return { latencies, failures, wallMs: performance.now() - started }
}

/**
 * Open loop: one request every 1000/rate ms whatever the answers do, each timed from the
 * moment it was due (so a stalled server cannot hide its queue).
 */
async function paced(url: string, requests: Request[], rate: number): Promise<Run> {
  const latencies: number[] = []
  let failures = 0
  const interval = 1000 / rate
  const started = performance.now()
  await Promise.all(
    requests.map(async (request, i) => {
      const due = started + i * interval
      const wait = due - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      if (await send(url, request)) latencies.push(performance.now() - due)
      else failures++
    }),
  )
  return { latencies, failures, wallMs: performance.now() - started }
}

/** The bench's side: a forked sender, asked for one run at a time. */
export class Load {
  private busy = false

  private constructor(private readonly child: ChildProcess) {}

  static start(): Promise<Load> {
    // The default execArgv carries tsx's loader, so the child reads this TypeScript file too.
    const child = fork(fileURLToPath(import.meta.url), ['--load-sender'], { stdio: 'inherit' })
    return new Promise((resolve, reject) => {
      const failed = (error: Error) => {
        child.off('message', ready)
        reject(error)
      }
      const exited = (code: number | null) => failed(new Error(`the load sender exited before it was ready (${code})`))
      const ready = () => {
        child.off('error', failed).off('exit', exited)
        resolve(new Load(child))
      }
      child.once('error', failed).once('exit', exited).once('message', ready)
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  closed(url: string, requests: Request[], concurrency: number): Promise<Run> {
    return this.run({ kind: 'closed', url, requests, concurrency })
  }

  paced(url: string, requests: Request[], rate: number): Promise<Run> {
    return this.run({ kind: 'paced', url, requests, rate })
  }

  /** One run; the sender answers each job with one message, so runs never overlap. */
  private run(job: Job): Promise<Run> {
    if (this.busy) return Promise.reject(new Error('the load sender is already running a job'))
    if (this.child.exitCode !== null || this.child.signalCode !== null || !this.child.connected) {
      return Promise.reject(new Error('the load sender is gone'))
    }
    this.busy = true
    return new Promise<Run>((resolve, reject) => {
      const done = () => {
        this.busy = false
        this.child.off('exit', exited).off('message', answered)
      }
      const exited = (code: number | null) => {
        done()
        reject(new Error(`the load sender exited during a run (${code})`))
      }
      const answered = (run: unknown) => {
        done()
        resolve(run as Run)
      }
      this.child.once('exit', exited).once('message', answered)
      this.child.send(job, (error) => {
        if (error) {
          done()
          reject(error)
        }
      })
    })
  }

  stop(): void {
    this.child.kill()
  }
}

if (process.argv.includes('--load-sender') && process.send) {
  process.on('message', (job: Job) => {
    const running =
      job.kind === 'closed' ? closed(job.url, job.requests, job.concurrency) : paced(job.url, job.requests, job.rate)
    void running.then((run) => process.send!(run))
  })
  process.send('ready')
}
