// An invitation link: shows what it is for, and joins the tenant once the visitor is
// signed in with the invited email (sign up or sign in first, then back here).
import { redirect } from '@sveltejs/kit'
import { ApiError, actionFailure, callApi } from '$lib/server/api'
import type { Actions, PageServerLoad } from './$types'

interface InvitationPreview {
  tenant_name: string
  role: string
  email: string
  expires_at: string
  status: 'pending' | 'accepted' | 'revoked' | 'expired'
}

export const load: PageServerLoad = async ({ locals, params }) => {
  if (!locals.user) return { signedIn: false as const, preview: null, problem: null }
  try {
    const preview = await callApi<InvitationPreview>(locals, 'preview_invitation', { token: params.token })
    return { signedIn: true as const, email: locals.user.email ?? '', preview, problem: null }
  } catch (e) {
    const problem =
      e instanceof ApiError && e.code === 'P0002'
        ? 'This invitation link is not valid. Ask for a new one.'
        : 'The invitation could not be loaded.'
    return { signedIn: true as const, email: locals.user.email ?? '', preview: null, problem }
  }
}

export const actions: Actions = {
  default: async ({ locals, params }) => {
    let joined: { tenant_id: string }
    try {
      joined = await callApi<{ tenant_id: string }>(locals, 'accept_invitation', { token: params.token })
    } catch (e) {
      return actionFailure(e)
    }
    redirect(303, `/t/${joined.tenant_id}/conversations`)
  },
}
