import type { LayoutServerLoad } from './$types'

// Only what pages need: who is signed in (validated by getUser() in hooks.server.ts) and when
// the access token expires, so the browser refreshes server data after Auth refreshed it.
// Never the session object itself: serializing it reads session.user, which supabase-js
// warns about on the server, and the browser client reads its session from the cookies.
export const load: LayoutServerLoad = async ({ locals }) => {
  return {
    user: locals.user ? { id: locals.user.id, email: locals.user.email ?? '' } : null,
    sessionExpiresAt: locals.session?.expires_at ?? null,
  }
}
