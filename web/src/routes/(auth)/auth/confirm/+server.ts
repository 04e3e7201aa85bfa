import { redirect } from '@sveltejs/kit'
import type { EmailOtpType } from '@supabase/supabase-js'
import { sameOriginPath } from '$lib/server/redirect-target'
import type { RequestHandler } from './$types'

// Links in Auth emails land here with a token hash; verifying it starts a session.
export const GET: RequestHandler = async ({ url, locals }) => {
  const tokenHash = url.searchParams.get('token_hash')
  const type = url.searchParams.get('type') as EmailOtpType | null
  const next = sameOriginPath(url.searchParams.get('next'), url.origin)
  if (tokenHash && type) {
    const { error } = await locals.supabase.auth.verifyOtp({ token_hash: tokenHash, type })
    if (!error) redirect(303, type === 'recovery' ? '/auth/update-password' : next)
  }
  redirect(303, '/login?error=link')
}
