import { fail, redirect } from '@sveltejs/kit'
import { sameOriginPath } from '$lib/server/redirect-target'
import type { Actions } from './$types'

export const actions: Actions = {
  default: async ({ request, locals, url }) => {
    const form = await request.formData()
    const email = String(form.get('email') ?? '').trim()
    const password = String(form.get('password') ?? '')
    const errors: Record<string, string> = {}
    if (!email) errors.email = 'Enter your email address.'
    if (!password) errors.password = 'Enter your password.'
    if (Object.keys(errors).length) return fail(400, { email, errors })
    const { error } = await locals.supabase.auth.signInWithPassword({ email, password })
    if (error) return fail(400, { email, errors: { form: 'That email and password do not match an account.' } })
    redirect(303, sameOriginPath(url.searchParams.get('next'), url.origin))
  },
}
