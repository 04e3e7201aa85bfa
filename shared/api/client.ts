// The one way server code calls the database: `api` functions over PostgREST's RPC
// endpoint (/rest/v1/rpc/<fn>, schema api), with a secret key (service_role) or as a
// signed-in user (publishable key + the user's access token). A plain fetch keeps it
// the same under Deno (the functions) and Node (tests, scripts), with one error type.

import { storableJson } from './storable-text.ts'

/** SQLSTATEs no retry can fix: refused, missing, invalid argument, constraint, no such function. */
const PERMANENT_CODES = new Set(['42501', 'P0002', '22023', '22P02', '23503', '23505', '23514', '42883', 'PGRST202'])

/**
 * A refused or failed api call. `code` is the SQLSTATE (42501, P0002, 23505, our KO…)
 * or a PostgREST code (PGRST…); null when the call never got an answer. `shape` means
 * the answer did not have the expected form.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly fn: string,
    readonly status: number | null,
    readonly code: string | null,
    readonly detail: string | null,
  ) {
    super(`api.${fn} failed (${status === null ? 'no answer' : `HTTP ${status}`}, ${code ?? 'no code'})`)
  }

  /** True when calling again cannot succeed (as opposed to a passing fault: network, timeout, 5xx). */
  get permanent(): boolean {
    return this.code !== null && (this.code === 'shape' || PERMANENT_CODES.has(this.code))
  }
}

/** Calls one api function with named arguments and returns its JSON result. */
export type Api = <T = unknown>(fn: string, args?: Record<string, unknown>) => Promise<T>

export interface ApiOptions {
  /** SUPABASE_URL. */
  url: string
  /** The API key: a secret key (sb_secret_…) for server work, the publishable key for a user. */
  key: string
  /** A user's access token: the call runs as that user (RLS, auth.uid()). */
  accessToken?: string
  fetch?: typeof fetch
  timeoutMs?: number
}

export function createApi(options: ApiOptions): Api {
  const base = options.url.replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 10_000
  const headers: Record<string, string> = {
    apikey: options.key,
    // An opaque key is no JWT: the gateway maps it to its role when no user token is sent.
    authorization: `Bearer ${options.accessToken ?? options.key}`,
    'content-type': 'application/json',
    accept: 'application/json',
    'content-profile': 'api',
    'accept-profile': 'api',
  }
  return async <T>(fn: string, args: Record<string, unknown> = {}): Promise<T> => {
    let response: Response
    let raw: string
    try {
      response = await doFetch(`${base}/rest/v1/rpc/${encodeURIComponent(fn)}`, {
        method: 'POST',
        headers,
        // What chat users and models write may hold what Postgres cannot store (NUL, half a
        // surrogate pair): every call is made storable here, so no caller can forget it.
        body: JSON.stringify(storableJson(args)),
        signal: AbortSignal.timeout(timeoutMs),
      })
      raw = await response.text()
    } catch (error) {
      throw new ApiError(fn, null, null, error instanceof Error ? error.message : String(error))
    }
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
