import { createServerClient } from '@supabase/ssr'
import { redirect, type Handle } from '@sveltejs/kit'
import { sequence } from '@sveltejs/kit/hooks'
import { env } from '$env/dynamic/public'
import type { WebSocketLikeConstructor } from '@supabase/supabase-js'
import type { ApiClient } from '$lib/supabase'

class ServerHasNoRealtime {
  constructor() {
    throw new Error('Realtime is used from the browser only (browserSupabase())')
  }
}

const supabase: Handle = async ({ event, resolve }) => {
  // Only the api schema is exposed by the Data API: every call is supabase.rpc('fn', {...}).
  event.locals.supabase = createServerClient(env.PUBLIC_SUPABASE_URL ?? '', env.PUBLIC_SUPABASE_PUBLISHABLE_KEY ?? '', {
    db: { schema: 'api' },
    // The server never opens Realtime (the browser does); Node 20 has no WebSocket global.
    realtime: { transport: ServerHasNoRealtime as unknown as WebSocketLikeConstructor },
    cookies: {
      getAll: () => event.cookies.getAll(),
      setAll: (cookies) => {
        for (const { name, value, options } of cookies) event.cookies.set(name, value, { ...options, path: '/' })
      },
    },
  }) as unknown as ApiClient

  // getSession() reads the cookie unverified; getClaims() verifies the access token's
  // signature against the project's JWKS (asymmetric signing keys: no round trip to Auth).
  // Anonymous users (web chat visitors) are not portal users.
  event.locals.safeGetSession = async () => {
    const {
      data: { session },
    } = await event.locals.supabase.auth.getSession()
    if (!session) return { session: null, user: null }
    const { data, error } = await event.locals.supabase.auth.getClaims(session.access_token)
    const claims = data?.claims
    if (error || !claims || typeof claims.sub !== 'string' || claims.is_anonymous === true) {
      return { session: null, user: null }
    }
    return { session, user: { id: claims.sub, email: typeof claims.email === 'string' ? claims.email : '' } }
  }

  return resolve(event, {
    filterSerializedResponseHeaders: (name) => name === 'content-range' || name === 'x-supabase-api-version',
  })
}

const publicPaths = ['/login', '/signup', '/reset-password', '/auth/', '/invite/']

const authGuard: Handle = async ({ event, resolve }) => {
  const { session, user } = await event.locals.safeGetSession()
  event.locals.session = session
  event.locals.user = user
  const path = event.url.pathname
  const isPublic = publicPaths.some((p) => path === p || path.startsWith(p))
  if (!session && !isPublic) {
    redirect(303, `/login?next=${encodeURIComponent(path + event.url.search)}`)
  }
  if (session && (path === '/login' || path === '/signup')) redirect(303, '/')
  return resolve(event)
}

export const handle = sequence(supabase, authGuard)
