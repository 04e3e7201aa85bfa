// The common core of the fake Slack and WhatsApp servers: an HTTP server on 127.0.0.1
// (a free port) that records every request with its parsed body and hands it to a route
// function, and a queue of scripted failures a test arms with failNext().
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  /** Path without the query string, e.g. /api/chat.postMessage. */
  path: string
  query: Record<string, string>
  headers: Record<string, string>
  /** JSON or form body parsed into an object; the raw text when it is neither. */
  body: unknown
  rawBody: string
  at: Date
}

export interface FakeResponse {
  status: number
  headers?: Record<string, string>
  body?: unknown
}

export interface ScriptedFailure<F> {
  failure: F
  remaining: number
  /** Only requests this predicate accepts consume the failure. */
  matches: (request: RecordedRequest) => boolean
}

export interface RecordingServer<F> {
  url: string
  requests: RecordedRequest[]
  /** Arms a failure for the next `times` matching requests. */
  arm(failure: F, times: number, matches: (request: RecordedRequest) => boolean): void
  waitForRequests(
    count: number,
    filter?: (request: RecordedRequest) => boolean,
    timeoutMs?: number,
  ): Promise<RecordedRequest[]>
  close(): Promise<void>
}

export async function startRecordingServer<F>(
  route: (request: RecordedRequest, failure: F | null) => FakeResponse | Promise<FakeResponse>,
): Promise<RecordingServer<F>> {
  const requests: RecordedRequest[] = []
  const failures: ScriptedFailure<F>[] = []
  const waiters = new Set<() => void>()

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const rawBody = Buffer.concat(chunks).toString('utf8')
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const headers: Record<string, string> = {}
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: parseBody(rawBody, headers['content-type'] ?? ''),
      rawBody,
      at: new Date(),
    }
    requests.push(recorded)
    for (const wake of waiters) wake()

    const armed = failures.find((f) => f.remaining > 0 && f.matches(recorded))
    if (armed) armed.remaining--
    let response: FakeResponse
    try {
      response = await route(recorded, armed ? armed.failure : null)
    } catch (error) {
      response = { status: 500, body: { fake_error: String(error) } }
    }
    // Bytes (a media file) go out as they are, with the route's own content-type.
    if (response.body instanceof Uint8Array) {
      res.writeHead(response.status, { 'content-type': 'application/octet-stream', ...response.headers })
      res.end(response.body)
      return
    }
    const isText = typeof response.body === 'string'
    res.writeHead(response.status, {
      'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      ...response.headers,
    })
    res.end(response.body === undefined ? '' : isText ? response.body : JSON.stringify(response.body))
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    arm(failure, times, matches) {
      failures.push({ failure, remaining: times, matches })
    },
    async waitForRequests(count, filter = () => true, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const matching = requests.filter(filter)
        if (matching.length >= count) return matching
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`expected ${count} matching requests, saw ${matching.length}`)
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake)
            clearTimeout(timer)
            resolve()
          }
          const timer = setTimeout(wake, Math.min(left, 50))
          waiters.add(wake)
        })
      }
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
    },
  }
}

function parseBody(raw: string, contentType: string): unknown {
  if (!raw) return null
  if (contentType.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw))
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}
