// The onboarding wizard, one page: name the business → an agent → its knowledge (pasted or
// uploaded; skippable) → a model endpoint and key (tested when saved; skippable) → a channel
// → a test message. Each step is a form action that comes back here with ?t=<tenant id>, so
// a reload resumes where the user left off; a skipped step is remembered in a cookie.
import { fail, redirect, type Cookies } from '@sveltejs/kit'
import { env } from '$env/dynamic/private'
import { env as publicEnv } from '$env/dynamic/public'
import { actionFailure, callApi, formString } from '$lib/server/api'
import { saveModelSettings } from '$lib/server/model-settings'
import type { AgentSummary, AgentTemplate, Channel, KnowledgeSource, Tenant, TenantSummary } from '$lib/types'
import { readModelSettings } from '$shared/agent/settings.ts'
import type { Actions, PageServerLoad } from './$types'

/** The optional steps a person may skip. */
const SKIPPABLE = ['knowledge', 'model'] as const
type Skippable = (typeof SKIPPABLE)[number]
const SKIPS_COOKIE = 'konstruct-onboarding-skips'

/** "<tenant id>:<step>" entries; only well-formed ones are kept. */
function readSkips(cookies: Cookies): string[] {
  return (cookies.get(SKIPS_COOKIE) ?? '').split(',').filter((entry) => /^[0-9a-f-]{36}:(knowledge|model)$/.test(entry))
}

export const load: PageServerLoad = async ({ locals, url, cookies }) => {
  const tenants = await callApi<TenantSummary[]>(locals, 'list_my_tenants')
  const ref = url.searchParams.get('t')
  const tenant = ref ? (tenants.find((t) => t.id === ref || t.slug === ref) ?? null) : null
  const templates = await callApi<AgentTemplate[]>(locals, 'list_agent_templates')
  let agents: AgentSummary[] = []
  let channels: Channel[] = []
  let sources: KnowledgeSource[] = []
  let model = { base_url: '', model: '', has_own_llm_key: false }
  if (tenant) {
    let full: Tenant
    ;[agents, channels, sources, full] = await Promise.all([
      callApi<AgentSummary[]>(locals, 'list_agents', { tenant_id: tenant.id }),
      callApi<Channel[]>(locals, 'list_channels', { tenant_id: tenant.id }),
      callApi<KnowledgeSource[]>(locals, 'list_knowledge_sources', { tenant_id: tenant.id, page_size: 20 }),
      callApi<Tenant>(locals, 'get_tenant', { tenant_id: tenant.id }),
    ])
    const { settings } = readModelSettings(full.model_settings)
    model = { base_url: settings.base_url ?? '', model: settings.model ?? '', has_own_llm_key: full.has_own_llm_key }
  }
  const skips = tenant ? readSkips(cookies) : []
  return {
    tenant,
    hasOtherTenants: tenants.length > (tenant ? 1 : 0),
    templates,
    agents,
    channels,
    sources,
    model,
    skipped: Object.fromEntries(SKIPPABLE.map((step) => [step, skips.includes(`${tenant?.id}:${step}`)])) as Record<
      Skippable,
      boolean
    >,
    whatsappWebhookUrl: `${publicEnv.PUBLIC_SUPABASE_URL}/functions/v1/whatsapp-webhook`,
    whatsappVerifyToken: env.WHATSAPP_VERIFY_TOKEN ?? null,
  }
}

function tenantIdFrom(form: FormData) {
  return formString(form, 'tenant_id')
}

export const actions: Actions = {
  createTenant: async ({ request, locals }) => {
    const form = await request.formData()
    const name = formString(form, 'name')
    if (!name) return fail(400, { step: 'tenant', name, errors: { name: 'Enter the name of your business.' } })
    if (name.length > 80) return fail(400, { step: 'tenant', name, errors: { name: 'Use at most 80 characters.' } })
    let tenant: TenantSummary
    try {
      tenant = await callApi<TenantSummary>(locals, 'create_tenant', { name })
    } catch (e) {
      return actionFailure(e, 'name', { step: 'tenant', name })
    }
    redirect(303, `/onboarding?t=${tenant.id}`)
  },

  deployTemplate: async ({ request, locals }) => {
    const form = await request.formData()
    const tenantId = tenantIdFrom(form)
    const templateKey = formString(form, 'template_key')
    const name = formString(form, 'agent_name')
    if (!templateKey) return fail(400, { step: 'agent', errors: { template_key: 'Pick a template.' } })
    try {
      await callApi(locals, 'deploy_agent_template', {
        tenant_id: tenantId,
        template_key: templateKey,
        name: name || null,
      })
    } catch (e) {
      return actionFailure(e, 'template_key', { step: 'agent' })
    }
    redirect(303, `/onboarding?t=${tenantId}`)
  },

  designAgent: async ({ request, locals }) => {
    const form = await request.formData()
    const tenantId = tenantIdFrom(form)
    const values = {
      name: formString(form, 'name'),
      role: formString(form, 'role'),
      tone: formString(form, 'tone'),
      instructions: formString(form, 'instructions'),
    }
    const errors: Record<string, string> = {}
    if (!values.name) errors.name = 'Give your agent a name.'
    if (!values.role) errors.role = 'Say what the agent does.'
    if (Object.keys(errors).length) return fail(400, { step: 'design', values, errors })
    try {
      await callApi(locals, 'create_agent', {
        tenant_id: tenantId,
        ...values,
        persona: `You are ${values.name}, ${values.role}.`,
        tools: { knowledge_search: {}, escalate_to_human: {} },
      })
    } catch (e) {
      return actionFailure(e, 'form', { step: 'design', values })
    }
    redirect(303, `/onboarding?t=${tenantId}`)
  },

  addKnowledge: async ({ request, locals }) => {
    const form = await request.formData()
    const tenantId = tenantIdFrom(form)
    const values = { title: formString(form, 'title'), content: formString(form, 'content') }
    if (!values.content)
      return fail(400, { step: 'knowledge', values, errors: { content: 'Paste the text your agent should know.' } })
    if (values.title.length > 300)
      return fail(400, { step: 'knowledge', values, errors: { title: 'Keep the title under 300 characters.' } })
    try {
      await callApi(locals, 'create_knowledge_source', {
        tenant_id: tenantId,
        title: values.title || 'About us',
        kind: 'text',
        content: values.content,
      })
    } catch (e) {
      return actionFailure(e, 'content', { step: 'knowledge', values })
    }
    redirect(303, `/onboarding?t=${tenantId}`)
  },

  saveModel: async ({ request, locals }) => {
    const form = await request.formData()
    const tenantId = tenantIdFrom(form)
    const values = { base_url: formString(form, 'base_url'), model: formString(form, 'model') }
    if (!values.base_url && !values.model && !formString(form, 'api_key'))
      return fail(400, {
        step: 'model',
        values,
        errors: { base_url: 'Enter the base URL of your model, or skip this step.' },
      })
    try {
      const saved = await saveModelSettings(locals, tenantId, form)
      if (!saved.ok) return fail(400, { step: 'model', values, errors: saved.errors })
      return { step: 'model', done: 'model', check: saved.check }
    } catch (e) {
      return actionFailure(e, 'model_form', { step: 'model', values })
    }
  },

  skip: async ({ request, cookies }) => {
    const form = await request.formData()
    const tenantId = tenantIdFrom(form)
    const step = formString(form, 'step')
    if (!(SKIPPABLE as readonly string[]).includes(step) || !/^[0-9a-f-]{36}$/.test(tenantId))
      return fail(400, { step, errors: { form: 'This step cannot be skipped.' } })
    const skips = new Set(readSkips(cookies))
    skips.add(`${tenantId}:${step}`)
    // Only the latest few tenants' skips are kept: the cookie stays small.
    cookies.set(SKIPS_COOKIE, [...skips].slice(-20).join(','), {
      path: '/onboarding',
      httpOnly: true,
      sameSite: 'lax',
      maxAge: 60 * 60 * 24 * 30,
    })
    redirect(303, `/onboarding?t=${tenantId}`)
  },

  connectWebChat: async ({ request, locals }) => {
    const form = await request.formData()
    const tenantId = tenantIdFrom(form)
    try {
      await callApi(locals, 'create_web_chat_channel', {
        tenant_id: tenantId,
        name: 'Website chat',
        agent_id: formString(form, 'agent_id') || null,
      })
    } catch (e) {
      return actionFailure(e, 'web_chat', { step: 'channel' })
    }
    redirect(303, `/onboarding?t=${tenantId}`)
  },

  connectWhatsApp: async ({ request, locals }) => {
    const form = await request.formData()
    const tenantId = tenantIdFrom(form)
    const values = {
      phone_number_id: formString(form, 'phone_number_id'),
      business_account_id: formString(form, 'business_account_id'),
      display_phone_number: formString(form, 'display_phone_number'),
    }
    const accessToken = formString(form, 'access_token')
    const errors: Record<string, string> = {}
    if (!/^\d{5,20}$/.test(values.phone_number_id))
      errors.phone_number_id = 'The phone number ID is the number Meta shows (digits only).'
    if (!/^\d{5,20}$/.test(values.business_account_id))
      errors.business_account_id = 'The WhatsApp Business Account ID is digits only.'
    if (!accessToken) errors.access_token = 'Paste the access token.'
    if (Object.keys(errors).length) return fail(400, { step: 'whatsapp', values, errors })
    try {
      await callApi(locals, 'create_whatsapp_channel', {
        tenant_id: tenantId,
        name: values.display_phone_number ? `WhatsApp ${values.display_phone_number}` : 'WhatsApp',
        phone_number_id: values.phone_number_id,
        business_account_id: values.business_account_id,
        access_token: accessToken,
        display_phone_number: values.display_phone_number || null,
        agent_id: formString(form, 'agent_id') || null,
      })
    } catch (e) {
      return actionFailure(e, 'phone_number_id', { step: 'whatsapp', values })
    }
    redirect(303, `/onboarding?t=${tenantId}`)
  },
}
