import { fail, redirect } from '@sveltejs/kit'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals }) => {
  if (!locals.session) redirect(303, '/reset-password')
}

export const actions: Actions = {
  default: async ({ request, locals }) => {
    const form = await request.formData()
    const password = String(form.get('password') ?? '')
    if (password.length < 8) return fail(400, { errors: { password: 'Use at least 8 characters.' } })
    const { error } = await locals.supabase.auth.updateUser({ password })
    if (error) return fail(400, { errors: { form: 'Could not update the password. Request a new link.' } })
    redirect(303, '/')
  },
}
