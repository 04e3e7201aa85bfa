// Workspace settings: the name, the default model for agents that set none of their own
// (base URL, model, temperature) and the tenant's own LLM key. The key is write-only:
// api.set_tenant_llm_key stores it in Vault and nothing ever returns it, the page only
// knows whether one is set. Owners and admins change these; the database refuses operators.
import { fail } from '@sveltejs/kit'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import { resolveTenant } from '$lib/server/tenant'
import type { ModelSettings, Tenant } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, parent }) => {
  const { tenant } = await parent()
  try {
    const full = await callApi<Tenant>(locals, 'get_tenant', { tenant_id: tenant.id })
    const settings = (full.model_settings ?? {}) as ModelSettings
    return {
      settings: {
        name: full.name,
        slug: full.slug,
        base_url: typeof settings.base_url === 'string' ? settings.base_url : '',
        model: typeof settings.model === 'string' ? settings.model : '',
        temperature: typeof settings.temperature === 'number' ? String(settings.temperature) : '',
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
    if (name.length > 120) return fail(400, { form: 'rename', values: { name }, errors: { name: 'Keep the name under 120 characters.' } })
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
    const values = { base_url: formString(form, 'base_url'), model: formString(form, 'model'), temperature: formString(form, 'temperature') }
    const errors: Record<string, string> = {}
    if (values.base_url && !/^https?:\/\/[^\s/]+\S*$/.test(values.base_url)) {
      errors.base_url = 'Enter an http(s) URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1.'
    }
    if (values.model.length > 200 || /\s/.test(values.model)) errors.model = 'A model name is one word, e.g. gpt-4o-mini.'
    const temperature = values.temperature === '' ? null : Number(values.temperature)
    if (temperature !== null && (!Number.isFinite(temperature) || temperature < 0 || temperature > 2)) {
      errors.temperature = 'Temperature is a number from 0 to 2.'
    }
    if (Object.keys(errors).length) return fail(400, { form: 'model', values, errors })
    try {
      // Keep settings this page does not show (fallback model, prices …); empty fields are unset.
      const current = await callApi<Tenant>(locals, 'get_tenant', { tenant_id: tenant.id })
      const model_settings: Record<string, unknown> = { ...(current.model_settings ?? {}) }
      for (const key of ['base_url', 'model', 'temperature']) delete model_settings[key]
      if (values.base_url) model_settings.base_url = values.base_url.replace(/\/+$/, '')
      if (values.model) model_settings.model = values.model
      if (temperature !== null) model_settings.temperature = temperature
      await callApi(locals, 'update_tenant', { tenant_id: tenant.id, model_settings })
      return { form: 'model', done: 'model' }
    } catch (e) {
      return actionFailure(e, 'model_form', { form: 'model', values })
    }
  },

  setKey: async ({ locals, params, request }) => {
    const { tenant } = await resolveTenant(locals, params.tenant)
    const apiKey = formString(await request.formData(), 'api_key')
    // The key is never sent back to the page, not even after an error.
    if (!apiKey) return fail(400, { form: 'key', errors: { api_key: 'Paste the API key first.' } })
    if (/\s/.test(apiKey) || apiKey.length > 1000) return fail(400, { form: 'key', errors: { api_key: 'An API key is one word without spaces.' } })
    try {
      await callApi(locals, 'set_tenant_llm_key', { tenant_id: tenant.id, api_key: apiKey })
      return { form: 'key', done: 'setKey' }
    } catch (e) {
      return actionFailure(e, 'api_key', { form: 'key' })
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
