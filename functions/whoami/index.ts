// Who the platform says is calling: the role and subject of the caller's JWT.
// verify_jwt = true, so the gateway has checked the signature and expiry before
// the request gets here; this function only reads the payload it was given.

interface CallerClaims {
  role: string
  sub: string | null
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  })

export function readCallerClaims(authorization: string | null): CallerClaims | undefined {
  const token = /^Bearer\s+(\S+)$/.exec(authorization ?? '')?.[1]
  const payload = token?.split('.')[1]
  if (!payload) return undefined
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/')
    const claims: unknown = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '=')))
    if (typeof claims !== 'object' || claims === null) return undefined
    const { role, sub } = claims as Record<string, unknown>
    if (typeof role !== 'string') return undefined
    return { role, sub: typeof sub === 'string' ? sub : null }
  } catch {
    return undefined
  }
}

export function handleWhoami(req: Request): Response {
  const caller = readCallerClaims(req.headers.get('authorization'))
  // Only reachable when verify_jwt is turned off: an opaque 401, like the gateway's.
  if (!caller) return json(401, { code: 401, message: 'Invalid JWT' })
  return json(200, caller)
}

Deno.serve(handleWhoami)
