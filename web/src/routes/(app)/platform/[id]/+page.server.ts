import { fail, redirect } from '@sveltejs/kit'
import { z } from 'zod'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import type { Actions, PageServerLoad } from './$types'

export interface PlatformTenant {
  id: string
  name: string
  slug: string
  created_at: string
  suspended_at: string | null
  suspended_reason: string | null
  billing: { plan_name: string; status: string; trial_ends_at: string | null; current_period_end: string | null }
  members: Array<{ user_id: string; email: string; role: string }>
  channels: Array<{
    id: string
    kind: string
    name: string
    status: string
    agent_id: string | null
    whatsapp_display_phone_number: string | null
    /** A WhatsApp number's proof of control: when it passed, or why not; both null while pending. */
    whatsapp_verified_at: string | null
    whatsapp_verification_error: string | null
  }>
}

export const load: PageServerLoad = async ({ locals, params }) => {
  try {
    return { tenant: await callApi<PlatformTenant>(locals, 'platform_get_tenant', { tenant_id: params.id }) }
  } catch (e) {
    loadFailure(e)
  }
}

const reasonSchema = z
  .string()
  .trim()
  .min(1, 'Say why: the workspace’s admins see it.')
  .max(500, 'Keep the reason under 500 characters.')

export const actions: Actions = {
  suspend: async ({ locals, params, request }) => {
    const reason = formString(await request.formData(), 'reason')
    const parsed = reasonSchema.safeParse(reason)
    if (!parsed.success) return fail(400, { values: { reason }, errors: { reason: parsed.error.issues[0]!.message } })
    try {
      await callApi(locals, 'suspend_tenant', { tenant_id: params.id, reason: parsed.data })
      return { done: 'suspend' }
    } catch (e) {
      return actionFailure(e, 'reason', { values: { reason } })
    }
  },
  resume: async ({ locals, params }) => {
    try {
      await callApi(locals, 'resume_tenant', { tenant_id: params.id })
      return { done: 'resume' }
    } catch (e) {
      return actionFailure(e)
    }
  },
  support: async ({ locals, params, request }) => {
    const reason = formString(await request.formData(), 'support_reason')
    try {
      await callApi(locals, 'begin_support_access', { tenant_id: params.id, reason: reason || null })
    } catch (e) {
      return actionFailure(e, 'support_reason')
    }
    redirect(303, `/t/${params.id}/conversations`)
  },
}
