// pg_net for the local stack: requests queued by net.http_post/http_get are sent
// only once their transaction has committed (the queue row is invisible before),
// and each response lands in net._http_response, as pg_net's worker does.
import type { LocalDb } from './db.ts'

interface QueuedRequest {
  id: number
  method: string
  url: string
  headers: Record<string, string> | null
  body: Uint8Array | null
  timeout_milliseconds: number
}

const POLL_MS = 1000

export class NetWorker {
  private draining: Promise<void> | undefined
  private again = false
  private inFlight = new Set<Promise<void>>()
  private stopped = false
  private readonly timer: NodeJS.Timeout
  private readonly unsubscribe: () => void

  constructor(
    private readonly db: LocalDb,
    private readonly log: (line: string) => void,
  ) {
    // PGlite: look after each commit. A native server tells when any connection
    // commits a request (local/native.sql), so a look after every commit is not needed.
    const fromCommits = db.native ? () => {} : db.onCommit(() => this.wake())
    const fromServer = db.native
      ?.listen('konstruct_net', () => this.wake())
      .catch((error: unknown) => {
        log(`pg_net: cannot listen for requests: ${(error as Error).message}`)
        return () => {}
      })
    this.unsubscribe = () => {
      fromCommits()
      void fromServer?.then((stop) => stop())
    }
    // Safety net for rows written outside the wrapper (e.g. by the seed).
    this.timer = setInterval(() => this.wake(), POLL_MS)
    this.timer.unref()
    this.wake()
  }

  private wake(): void {
    if (this.stopped) return
    if (this.draining) {
      this.again = true
      return
    }
    this.draining = this.drain()
      .catch((error: unknown) => this.log(`pg_net: ${(error as Error).message}`))
      .finally(() => {
        this.draining = undefined
        if (this.again) {
          this.again = false
          this.wake()
        }
      })
  }

  private async drain(): Promise<void> {
    const { rows } = await this.db.pg.query<QueuedRequest>('delete from net.http_request_queue returning *')
    for (const request of rows.sort((a, b) => a.id - b.id)) {
      const sending = this.send(request).finally(() => this.inFlight.delete(sending))
      this.inFlight.add(sending)
    }
  }

  private async send(request: QueuedRequest): Promise<void> {
    const started = Date.now()
    let response:
      { status: number; contentType: string | null; headers: Record<string, string>; content: string } | undefined
    let error: string | null = null
    let timedOut = false
    try {
      const res = await fetch(request.url, {
        method: request.method,
        headers: request.headers ?? {},
        body: request.body ? Buffer.from(request.body) : undefined,
        signal: AbortSignal.timeout(request.timeout_milliseconds),
      })
      response = {
        status: res.status,
        contentType: res.headers.get('content-type'),
        headers: Object.fromEntries(res.headers.entries()),
        content: await res.text(),
      }
    } catch (e) {
      timedOut = (e as Error).name === 'TimeoutError'
      error = timedOut
        ? `Timeout of ${request.timeout_milliseconds} ms reached`
        : String((e as Error).cause ?? (e as Error).message)
    }
    this.log(`pg_net ${request.method} ${request.url} -> ${response?.status ?? error} (${Date.now() - started} ms)`)
    if (this.stopped) return
    await this.db.pg.query(
      `insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        request.id,
        response?.status ?? null,
        response?.contentType ?? null,
        response?.headers ?? null,
        response?.content ?? null,
        timedOut,
        error,
      ],
    )
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    this.unsubscribe()
    await this.draining
    await Promise.allSettled([...this.inFlight])
  }
}
