// Calls `api` functions over PostgREST's RPC endpoint as a given caller: the service role
// (webhook, meter) or the signed-in user who called the billing function, so the
// database itself decides whether that user may (owner/admin) — never the function.
// A plain fetch keeps the handlers runnable under Deno and Node alike.

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly fn: string,
    readonly status: number,
    readonly code: string | null,
    readonly detail: string | null,
  ) {
    super(`api.${fn} failed (HTTP ${status}, ${code ?? 'no code'})`)
  }
}

export type Rpc = <T = unknown>(fn: string, args: Record<string, unknown>) => Promise<T>

export interface RpcOptions {
  supabaseUrl: string
  /** The project's anon key (for a user) or service role key. */
  apiKey: string
  /** The caller's JWT: the user's access token, or the service role key. */
  bearer: string
  fetch?: typeof fetch
  timeoutMs?: number
}

export function createRpc(options: RpcOptions): Rpc {
  const base = options.supabaseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  return async <T>(fn: string, args: Record<string, unknown>): Promise<T> => {
    const response = await doFetch(`${base}/rest/v1/rpc/${encodeURIComponent(fn)}`, {
      method: 'POST',
      headers: {
        apikey: options.apiKey,
        authorization: `Bearer ${options.bearer}`,
        'content-type': 'application/json',
        accept: 'application/json',
        'content-profile': 'api',
        'accept-profile': 'api',
      },
      body: JSON.stringify(args),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    })
    const raw = await response.text()
    let body: unknown = null
    try {
      body = raw ? JSON.parse(raw) : null
    } catch {
      body = null
    }
    if (!response.ok) {
      const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
      throw new ApiError(
        fn,
        response.status,
        typeof record['code'] === 'string' ? record['code'] : null,
        typeof record['message'] === 'string' ? record['message'] : null,
      )
    }
    return body as T
  }
}
