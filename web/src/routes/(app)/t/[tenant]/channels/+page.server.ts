import { fail } from '@sveltejs/kit'
import { env } from '$env/dynamic/private'
import { env as publicEnv } from '$env/dynamic/public'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import { parseWebChatForm, webChatFormValues, webChatSettingsToStore } from '$lib/server/channel-form'
import { readConnectionSettings } from '$shared/channels/settings.ts'
import type { AgentSummary, Channel, ChannelWithSettings } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, parent, depends }) => {
  depends('app:channels')
  const { tenant } = await parent()
  try {
    const [channels, agents] = await Promise.all([
      callApi<Channel[]>(locals, 'list_channels', { tenant_id: tenant.id }),
      callApi<AgentSummary[]>(locals, 'list_agents', { tenant_id: tenant.id }),
    ])
    return {
      // Settings read through the connection settings format: what does not fit is left out and named.
      channels: channels.map((channel): ChannelWithSettings => {
        const { settings, problems } = readConnectionSettings(channel.settings)
        return { ...channel, settings, settings_problems: problems, form: webChatFormValues(settings) }
      }),
      agents: agents.map((a) => ({ id: a.id, name: a.name, status: a.status })),
      functionsUrl: `${publicEnv.PUBLIC_SUPABASE_URL}/functions/v1`,
      whatsappVerifyToken: tenant.role === 'operator' ? null : (env.WHATSAPP_VERIFY_TOKEN ?? null),
    }
  } catch (e) {
    loadFailure(e)
  }
}

// "Answered by" of a new channel: an agent, or NO_AGENT for a channel only humans answer.
// Left out, the database picks the tenant's first active agent.
const NO_AGENT = 'none'
function answeredBy(form: FormData): { agent_id: string | null; without_agent: boolean } {
  const choice = formString(form, 'agent_id')
  return choice === NO_AGENT
    ? { agent_id: null, without_agent: true }
    : { agent_id: choice || null, without_agent: false }
}

export const actions: Actions = {
  assign: async ({ locals, request }) => {
    const form = await request.formData()
    const channelId = formString(form, 'channel_id')
    try {
      await callApi(locals, 'assign_channel_agent', {
        channel_id: channelId,
        agent_id: formString(form, 'agent_id') || null,
      })
      return { done: 'assign', channelId }
    } catch (e) {
      return actionFailure(e, `agent_${channelId}`)
    }
  },
  setStatus: async ({ locals, request }) => {
    const form = await request.formData()
    const channelId = formString(form, 'channel_id')
    try {
      await callApi(locals, 'set_channel_status', { channel_id: channelId, status: formString(form, 'status') })
      return { done: 'status', channelId }
    } catch (e) {
      return actionFailure(e, `status_${channelId}`)
    }
  },
  setToken: async ({ locals, request }) => {
    const form = await request.formData()
    const channelId = formString(form, 'channel_id')
    const token = formString(form, 'token')
    if (!token) return fail(400, { errors: { [`token_${channelId}`]: 'Paste the new token.' } })
    try {
      await callApi(locals, 'set_channel_token', { channel_id: channelId, token })
      return { done: 'token', channelId }
    } catch (e) {
      return actionFailure(e, `token_${channelId}`)
    }
  },
  createWebChat: async ({ locals, request }) => {
    const form = await request.formData()
    const name = formString(form, 'name') || 'Website chat'
    const parsed = parseWebChatForm(form)
    if (!parsed.ok) return fail(400, { step: 'web_chat', errors: parsed.errors })
    const origins = parsed.settings.allowed_origins
    try {
      await callApi(locals, 'create_web_chat_channel', {
        tenant_id: formString(form, 'tenant_id'),
        name,
        ...answeredBy(form),
        allowed_origins: origins.length ? origins : null,
      })
      return { done: 'web_chat' }
    } catch (e) {
      return actionFailure(e, 'web_chat_form', { step: 'web_chat' })
    }
  },
  /** A web chat's greeting and allowed websites; the settings the form does not show are kept. */
  updateWebChat: async ({ locals, request }) => {
    const form = await request.formData()
    const channelId = formString(form, 'channel_id')
    const parsed = parseWebChatForm(form)
    if (!parsed.ok) return fail(400, { channelId, values: parsed.values, errors: prefixed(parsed.errors, channelId) })
    try {
      const stored = (
        await callApi<Channel[]>(locals, 'list_channels', { tenant_id: formString(form, 'tenant_id') })
      ).find((c) => c.id === channelId && c.kind === 'web_chat')
      if (!stored) return fail(404, { errors: { [`web_chat_${channelId}`]: 'This web chat no longer exists.' } })
      await callApi(locals, 'update_channel', {
        channel_id: channelId,
        settings: webChatSettingsToStore(stored.settings, parsed.settings),
      })
      return { done: 'web_chat_settings', channelId }
    } catch (e) {
      return actionFailure(e, `web_chat_${channelId}`, { channelId, values: parsed.values })
    }
  },
  createWhatsApp: async ({ locals, request }) => {
    const form = await request.formData()
    const values = {
      name: formString(form, 'name'),
      phone_number_id: formString(form, 'phone_number_id'),
      business_account_id: formString(form, 'business_account_id'),
      display_phone_number: formString(form, 'display_phone_number'),
    }
    const token = formString(form, 'access_token')
    const errors: Record<string, string> = {}
    if (!/^\d{5,20}$/.test(values.phone_number_id)) errors.phone_number_id = 'The phone number ID is digits only.'
    if (!/^\d{5,20}$/.test(values.business_account_id))
      errors.business_account_id = 'The business account ID is digits only.'
    if (!token) errors.access_token = 'Paste the access token.'
    if (Object.keys(errors).length) return fail(400, { step: 'whatsapp', values, errors })
    try {
      await callApi(locals, 'create_whatsapp_channel', {
        tenant_id: formString(form, 'tenant_id'),
        name: values.name || `WhatsApp ${values.display_phone_number}`.trim(),
        phone_number_id: values.phone_number_id,
        business_account_id: values.business_account_id,
        access_token: token,
        display_phone_number: values.display_phone_number || null,
        ...answeredBy(form),
      })
      return { done: 'whatsapp' }
    } catch (e) {
      return actionFailure(e, 'phone_number_id', { step: 'whatsapp', values })
    }
  },
}

/** Field errors of one channel's form, keyed as the page shows them (greeting_<id>, …). */
function prefixed(errors: Record<string, string>, channelId: string): Record<string, string> {
  return Object.fromEntries(Object.entries(errors).map(([key, message]) => [`${key}_${channelId}`, message]))
}
