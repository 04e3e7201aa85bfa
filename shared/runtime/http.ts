// Answers, logging and paths shared by every function. Web APIs only, so the handlers
// run under Deno (the functions) and Node (vitest) alike.

/** CORS for endpoints the portal calls from the browser (no cookies: the token is a header). */
export const BROWSER_CORS: Record<string, string> = {
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
