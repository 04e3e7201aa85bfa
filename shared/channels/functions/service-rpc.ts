// Calls `api` functions with the service role over PostgREST's RPC endpoint. A plain
// fetch wrapper instead of supabase-js keeps the functions free of npm imports (the
// handlers also run under Node in tests) and the shape of errors under our control.
import type { Env } from './http.ts'
import { requireEnv } from './http.ts'
import { storableJson } from '../storable-text.ts'

/** What the channel code needs from the database: call an api function, get its JSON. */
export type ServiceRpc = <T = unknown>(fn: string, args: Record<string, unknown>) => Promise<T>

/** PostgREST's error: `code` is the SQLSTATE (42501, P0002, 23505 …) or a PGRST code. */
export class RpcError extends Error {
  override readonly name = 'RpcError'
  constructor(
    readonly fn: string,
    readonly status: number,
    readonly code: string | null,
    readonly detail: string | null,
  ) {
    super(`api.${fn} failed (HTTP ${status}, ${code ?? 'no code'})`)
  }
}

export interface ServiceRpcOptions {
  supabaseUrl: string
  serviceRoleKey: string
  fetch?: typeof fetch
  timeoutMs?: number
}

export function createServiceRpc(options: ServiceRpcOptions): ServiceRpc {
  const base = options.supabaseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 10_000
  return async <T>(fn: string, args: Record<string, unknown>): Promise<T> => {
    const response = await doFetch(`${base}/rest/v1/rpc/${encodeURIComponent(fn)}`, {
      method: 'POST',
      headers: {
        apikey: options.serviceRoleKey,
        authorization: `Bearer ${options.serviceRoleKey}`,
        'content-type': 'application/json',
        accept: 'application/json',
        'content-profile': 'api',
        'accept-profile': 'api',
      },
      body: JSON.stringify(storableJson(args)),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const raw = await response.text()
    let body: unknown = null
    if (raw) {
      try {
        body = JSON.parse(raw)
      } catch {
        body = null
      }
    }
    if (!response.ok) {
      const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
      throw new RpcError(
        fn,
        response.status,
        typeof record['code'] === 'string' ? record['code'] : null,
        typeof record['message'] === 'string' ? record['message'] : null,
      )
    }
    return body as T
  }
}

/** The service RPC of the running function: SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY. */
export function serviceRpcFromEnv(env: Env): ServiceRpc {
  return createServiceRpc({
    supabaseUrl: requireEnv(env, 'SUPABASE_URL'),
    serviceRoleKey: requireEnv(env, 'SUPABASE_SERVICE_ROLE_KEY'),
  })
}
