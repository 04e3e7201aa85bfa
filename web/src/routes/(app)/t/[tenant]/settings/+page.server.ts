// The tenant's settings (the portal's Workspace page): the name, the default model for agents
// that set none of their own (base URL, model, temperature) and the tenant's own LLM key,
// saved together. The key is write-only: api.set_tenant_llm_key stores it in Vault and nothing
// ever returns it, the page only knows whether one is set. Owners and admins change these; the
// database refuses operators. Endpoint, model and key are tested with a tiny request before
// they are saved (model-check).
import { fail } from '@sveltejs/kit'
import { z } from 'zod'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import { checkModelSettings } from '$lib/server/model-check'
import { resolveTenant } from '$lib/server/tenant'
import type { CannedReply, Tenant } from '$lib/types'
import {
  baseUrlSchema,
  modelNameSchema,
  modelSettingsSchema,
  readModelSettings,
  temperatureSchema,
} from '$shared/agent/settings.ts'
import type { Actions, PageServerLoad } from './$types'

const temperatureError = 'Temperature is a number from 0 to 2.'
const optional = <T>(schema: z.ZodType<T>) =>
  z
    .literal('')
    .transform(() => undefined)
    .or(schema)
// The model fields are the stored format's ($shared/agent/settings.ts); only the key is this page's.
const modelSchema = z.object({
  base_url: optional(baseUrlSchema),
  model: optional(modelNameSchema),
  temperature: optional(z.coerce.number({ error: temperatureError }).pipe(temperatureSchema)),
  api_key: optional(
    z
      .string()
      .max(1000, 'An API key is one word without spaces.')
      .regex(/^\S+$/, 'An API key is one word without spaces.'),
  ),
})

const cannedSchema = z.object({
  shortcut: z
    .string()
    .toLowerCase()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'A shortcut is 1 to 32 letters, digits, - or _ (e.g. refund).'),
  text: z.string().min(1, 'Write the reply.').max(4000, 'Keep a canned reply under 4000 characters.'),
})

function fieldErrors(error: z.ZodError): Record<string, string> {
  const errors: Record<string, string> = {}
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form')
    errors[field] ??= issue.message
  }
  return errors
}

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
    // The key is never sent back to the page, not even after an error.
    const parsed = modelSchema.safeParse({ ...values, api_key: formString(form, 'api_key') })
    if (!parsed.success) return fail(400, { form: 'model', values, errors: fieldErrors(parsed.error) })
    const { base_url, model, temperature, api_key } = parsed.data
    try {
      // The endpoint, model and key agents would use are tested together first (a new key
      // or the saved one); a failure saves nothing.
      const check = await checkModelSettings(locals, {
        tenant_id: tenant.id,
        base_url: base_url ?? null,
        model: model ?? null,
        ...(api_key ? { api_key } : {}),
      })
      if (!check.ok) return fail(400, { form: 'model', values, errors: { model_form: check.message } })
      // Keep settings this page does not show (fallback model, prices …) where they fit the
      // format; empty fields are unset.
      const current = await callApi<Tenant>(locals, 'get_tenant', { tenant_id: tenant.id })
      const {
        base_url: _url,
        model: _model,
        temperature: _t,
        ...kept
      } = readModelSettings(current.model_settings).settings
      const model_settings = modelSettingsSchema.parse({ ...kept, base_url, model, temperature })
      await callApi(locals, 'update_tenant', { tenant_id: tenant.id, model_settings })
      if (api_key) await callApi(locals, 'set_tenant_llm_key', { tenant_id: tenant.id, api_key })
      return { form: 'model', done: 'model', check: check.message }
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
