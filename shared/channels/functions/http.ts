// Small pieces every channel function shares: JSON/text answers, the opaque 401, required
// configuration read at start, and a logger that never throws. Web APIs only, so the
// handlers run under Deno (the functions) and Node (vitest) alike.

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

/** A positive number from the environment, or the default. */
export function numberEnv(env: Env, key: string, fallback: number): number {
  const raw = optionalEnv(env, key)
  const value = raw === undefined ? NaN : Number(raw)
  return Number.isFinite(value) && value > 0 ? value : fallback
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

/** Says nothing about why: a forger learns nothing from it. */
export function unauthorized(): Response {
  return text(401, 'unauthorized')
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

/** The path after the function's own name: `/slack-oauth/callback` → `/callback`. */
export function subPath(url: URL, functionName: string): string {
  const path = url.pathname.replace(/\/+$/, '')
  const marker = `/${functionName}`
  const at = path.indexOf(marker)
  const rest = at >= 0 ? path.slice(at + marker.length) : path
  return rest === '' ? '/' : rest
}

/** The error's message for logs only; never sent to a caller. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  if (typeof error === 'object' && error !== null) {
    try {
      return JSON.stringify(error)
    } catch {
      return String(error)
    }
  }
  return String(error)
}
