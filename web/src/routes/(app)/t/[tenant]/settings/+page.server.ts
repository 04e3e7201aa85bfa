// The tenant's settings (the portal's Workspace page): the name, the default model for agents
// that set none of their own (base URL, model, temperature) and the tenant's own LLM key,
// saved together. The key is write-only: api.set_tenant_llm_key stores it in Vault and nothing
// ever returns it, the page only knows whether one is set. Owners and admins change these; the
// database refuses operators. Endpoint, model and key are tested with a tiny request before
// they are saved (model-check).
import { fail } from '@sveltejs/kit'
import { z } from 'zod'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import { fieldErrors, saveModelSettings } from '$lib/server/model-settings'
import { resolveTenant } from '$lib/server/tenant'
import type { CannedReply, Tenant } from '$lib/types'
import { readModelSettings } from '$shared/agent/settings.ts'
import type { Actions, PageServerLoad } from './$types'

const cannedSchema = z.object({
  shortcut: z
    .string()
    .toLowerCase()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'A shortcut is 1 to 32 letters, digits, - or _ (e.g. refund).'),
  text: z.string().min(1, 'Write the reply.').max(4000, 'Keep a canned reply under 4000 characters.'),
})

export const load: PageServerLoad = async ({ locals, parent }) => {
  const { tenant } = await parent()
  try {
    const [full, canned] = await Promise.all([
      callApi<Tenant>(locals, 'get_tenant', { tenant_id: tenant.id }),
      callApi<CannedReply[]>(locals, 'list_canned_replies', { tenant_id: tenant.id }),
    ])
    const { settings } = readModelSettings(full.model_settings)
    return {
      canned,
      settings: {
        name: full.name,
        slug: full.slug,
        base_url: settings.base_url ?? '',
        model: settings.model ?? '',
        temperature: settings.temperature != null ? String(settings.temperature) : '',
        has_own_llm_key: full.has_own_llm_key,
      },
    }
  } catch (e) {
    loadFailure(e)
  }
}

export const actions: Actions = {
  rename: async ({ locals, params, request }) => {
    const { tenant } = await resolveTenant(locals, params.tenant)
    const name = formString(await request.formData(), 'name')
    if (!name) return fail(400, { form: 'rename', values: { name }, errors: { name: 'Give the workspace a name.' } })
    if (name.length > 120)
      return fail(400, { form: 'rename', values: { name }, errors: { name: 'Keep the name under 120 characters.' } })
    try {
      await callApi(locals, 'update_tenant', { tenant_id: tenant.id, name })
      return { form: 'rename', done: 'rename' }
    } catch (e) {
      return actionFailure(e, 'name', { form: 'rename', values: { name } })
    }
  },

  model: async ({ locals, params, request }) => {
    const { tenant } = await resolveTenant(locals, params.tenant)
    const form = await request.formData()
    const values = {
      base_url: formString(form, 'base_url'),
      model: formString(form, 'model'),
      temperature: formString(form, 'temperature'),
    }
    try {
      const saved = await saveModelSettings(locals, tenant.id, form)
      if (!saved.ok) return fail(400, { form: 'model', values, errors: saved.errors })
      return { form: 'model', done: 'model', check: saved.check }
    } catch (e) {
      return actionFailure(e, 'model_form', { form: 'model', values })
    }
  },

  saveCanned: async ({ locals, params, request }) => {
    const { tenant } = await resolveTenant(locals, params.tenant)
    const form = await request.formData()
    const values = { shortcut: formString(form, 'shortcut').replace(/^\/+/, ''), text: formString(form, 'text') }
    const parsed = cannedSchema.safeParse(values)
    if (!parsed.success) return fail(400, { form: 'canned', values, errors: fieldErrors(parsed.error) })
    try {
      await callApi(locals, 'save_canned_reply', { tenant_id: tenant.id, ...parsed.data })
      return { form: 'canned', done: 'saveCanned' }
    } catch (e) {
      return actionFailure(e, 'shortcut', { form: 'canned', values })
    }
  },

  deleteCanned: async ({ locals, request }) => {
    const id = formString(await request.formData(), 'id')
    try {
      await callApi(locals, 'delete_canned_reply', { canned_reply_id: id })
      return { form: 'canned', done: 'deleteCanned' }
    } catch (e) {
      return actionFailure(e, 'shortcut', { form: 'canned' })
    }
  },

  clearKey: async ({ locals, params }) => {
    const { tenant } = await resolveTenant(locals, params.tenant)
    try {
      await callApi(locals, 'set_tenant_llm_key', { tenant_id: tenant.id, api_key: null })
      return { form: 'key', done: 'clearKey' }
    } catch (e) {
      return actionFailure(e, 'api_key', { form: 'key' })
    }
  },
}
