import { fail } from '@sveltejs/kit'
import type { Actions } from './$types'

export const actions: Actions = {
  default: async ({ request, locals, url }) => {
    const form = await request.formData()
    const email = String(form.get('email') ?? '').trim()
    if (!email) return fail(400, { email, errors: { email: 'Enter your email address.' } })
    // The answer is the same whether or not the account exists.
    await locals.supabase.auth.resetPasswordForEmail(email, { redirectTo: `${url.origin}/auth/update-password` })
    return { email, sent: true }
  },
}
