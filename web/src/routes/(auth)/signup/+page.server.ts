import { fail, redirect } from '@sveltejs/kit'
import { sameOriginPath } from '$lib/server/redirect-target'
import type { Actions } from './$types'

export const actions: Actions = {
  default: async ({ request, locals, url }) => {
    const form = await request.formData()
    const email = String(form.get('email') ?? '').trim()
    const password = String(form.get('password') ?? '')
    const errors: Record<string, string> = {}
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) errors.email = 'Enter a valid email address.'
    if (password.length < 8) errors.password = 'Use at least 8 characters.'
    if (Object.keys(errors).length) return fail(400, { email, errors })
    const { data, error } = await locals.supabase.auth.signUp({ email, password })
    if (error) {
      const taken = error.code === 'user_already_exists' || /already/i.test(error.message)
      return fail(400, {
        email,
        errors: taken
          ? { email: 'An account with this email already exists. Sign in instead.' }
          : { form: 'Sign up failed. Try again.' },
      })
    }
    if (!data.session) return { email, confirm: true }
    redirect(303, sameOriginPath(url.searchParams.get('next'), url.origin))
  },
}
