// Answers, configuration and logging shared by the billing functions. Web APIs only.

export type Env = Record<string, string | undefined>

/** Required configuration fails loudly when the function starts, never per request. */
export function requireEnv(env: Env, key: string): string {
  const value = env[key]?.trim()
  if (!value) throw new Error(`${key} is not set`)
  return value
}

export function optionalEnv(env: Env, key: string): string | undefined {
  const value = env[key]?.trim()
  return value ? value : undefined
}

export function numberEnv(env: Env, key: string, fallback: number): number {
  const raw = optionalEnv(env, key)
  const value = raw === undefined ? NaN : Number(raw)
  return Number.isFinite(value) && value >= 0 ? value : fallback
}

export const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type',
  'access-control-allow-methods': 'POST, OPTIONS',
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

export type Log = (event: string, fields?: Record<string, unknown>) => void

/** One JSON line per event on stderr (the function's log on Supabase). */
export const consoleLog: Log = (event, fields = {}) => {
  try {
    console.error(JSON.stringify({ event, ...fields }))
  } catch {
    console.error(event)
  }
}

/** The error's message for logs only; never sent to a caller. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}

export function bearerOf(req: Request): string | null {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')?.[1] ?? null
}

/** The role claim of a JWT the gateway already verified (verify_jwt = true). */
export function jwtRole(token: string): string | null {
  const payload = token.split('.')[1]
  if (!payload) return null
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/')
    const claims = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='))) as unknown
    const role = typeof claims === 'object' && claims !== null ? (claims as Record<string, unknown>)['role'] : null
    return typeof role === 'string' ? role : null
  } catch {
    return null
  }
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a)
  const right = new TextEncoder().encode(b)
  let diff = left.length ^ right.length
  for (let i = 0; i < Math.max(left.length, right.length); i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0)
  return diff === 0
}
