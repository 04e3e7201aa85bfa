import { fail, redirect } from '@sveltejs/kit'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import type { Invitation, Member } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, parent }) => {
  const { tenant } = await parent()
  try {
    const [members, invitations] = await Promise.all([
      callApi<Member[]>(locals, 'list_members', { tenant_id: tenant.id }),
      callApi<Invitation[]>(locals, 'list_invitations', { tenant_id: tenant.id, include_inactive: false }),
    ])
    return { members, invitations }
  } catch (e) {
    loadFailure(e)
  }
}

const roles = ['owner', 'admin', 'operator']
const inviteLink = (origin: string, token: string) => `${origin}/invite/${encodeURIComponent(token)}`

export const actions: Actions = {
  invite: async ({ locals, request, url }) => {
    const form = await request.formData()
    const email = formString(form, 'email').toLowerCase()
    const role = formString(form, 'role')
    const errors: Record<string, string> = {}
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) errors.email = 'Enter a valid email address.'
    if (!roles.includes(role)) errors.role = 'Pick a role.'
    if (Object.keys(errors).length) return fail(400, { values: { email, role }, errors })
    try {
      const inv = await callApi<{ token: string; email: string }>(locals, 'create_invitation', {
        tenant_id: formString(form, 'tenant_id'),
        email,
        role,
      })
      return { done: 'invite', link: inviteLink(url.origin, inv.token), invitedEmail: inv.email }
    } catch (e) {
      return actionFailure(e, 'email', { values: { email, role } })
    }
  },
  resend: async ({ locals, request, url }) => {
    const form = await request.formData()
    try {
      const inv = await callApi<{ token: string; email: string }>(locals, 'resend_invitation', {
        invitation_id: formString(form, 'invitation_id'),
      })
      return { done: 'resend', link: inviteLink(url.origin, inv.token), invitedEmail: inv.email }
    } catch (e) {
      return actionFailure(e)
    }
  },
  revoke: async ({ locals, request }) => {
    const form = await request.formData()
    try {
      await callApi(locals, 'revoke_invitation', { invitation_id: formString(form, 'invitation_id') })
      return { done: 'revoke' }
    } catch (e) {
      return actionFailure(e)
    }
  },
  changeRole: async ({ locals, request }) => {
    const form = await request.formData()
    const userId = formString(form, 'user_id')
    try {
      await callApi(locals, 'change_member_role', {
        tenant_id: formString(form, 'tenant_id'),
        user_id: userId,
        role: formString(form, 'role'),
      })
      return { done: 'role' }
    } catch (e) {
      return actionFailure(e, `member_${userId}`)
    }
  },
  remove: async ({ locals, request }) => {
    const form = await request.formData()
    const userId = formString(form, 'user_id')
    try {
      await callApi(locals, 'remove_member', { tenant_id: formString(form, 'tenant_id'), user_id: userId })
      return { done: 'remove' }
    } catch (e) {
      return actionFailure(e, `member_${userId}`)
    }
  },
  leave: async ({ locals, request }) => {
    const form = await request.formData()
    try {
      await callApi(locals, 'leave_tenant', { tenant_id: formString(form, 'tenant_id') })
    } catch (e) {
      return actionFailure(e)
    }
    redirect(303, '/')
  },
}
