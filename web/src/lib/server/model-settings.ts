// The tenant's default model (base URL, model, temperature) and its own LLM key, saved
// together from a form: the settings page and the onboarding wizard both use it. The
// endpoint, model and key agents would use are tested with a tiny request first
// (model-check); a failure saves nothing. The key is write-only: it is never sent back to
// the page, not even after an error. Api errors are thrown for the caller's actionFailure.
import { z } from 'zod'
import { callApi, formString } from '$lib/server/api'
import { checkModelSettings } from '$lib/server/model-check'
import type { Tenant } from '$lib/types'
import {
  baseUrlSchema,
  modelNameSchema,
  modelSettingsSchema,
  readModelSettings,
  temperatureSchema,
} from '$shared/agent/settings.ts'

const temperatureError = 'Temperature is a number from 0 to 2.'
const optional = <T>(schema: z.ZodType<T>) =>
  z
    .literal('')
    .transform(() => undefined)
    .or(schema)
// The model fields are the stored format's ($shared/agent/settings.ts); only the key is the form's.
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

/** The first message of each field (the form's own errors under `form`). */
export function fieldErrors(error: z.ZodError): Record<string, string> {
  const errors: Record<string, string> = {}
  for (const issue of error.issues) {
    const field = String(issue.path[0] ?? 'form')
    errors[field] ??= issue.message
  }
  return errors
}

export type ModelSave =
  | { ok: true; check: string; values: Record<string, string> }
  /** errors by field; `model_form` is the check's sentence. */
  | { ok: false; values: Record<string, string>; errors: Record<string, string> }

/**
 * Tests and saves the model fields of `form` (base_url, model, temperature, api_key) as the
 * tenant's default. A field the form leaves out keeps its saved value (the wizard asks no
 * temperature); an empty one is unset.
 */
export async function saveModelSettings(locals: App.Locals, tenantId: string, form: FormData): Promise<ModelSave> {
  const current = await callApi<Tenant>(locals, 'get_tenant', { tenant_id: tenantId })
  const saved = readModelSettings(current.model_settings).settings
  const given = (name: string, fallback: unknown) =>
    form.has(name) ? formString(form, name) : fallback == null ? '' : String(fallback)
  const values = {
    base_url: given('base_url', saved.base_url),
    model: given('model', saved.model),
    temperature: given('temperature', saved.temperature),
  }
  const parsed = modelSchema.safeParse({ ...values, api_key: formString(form, 'api_key') })
  if (!parsed.success) return { ok: false, values, errors: fieldErrors(parsed.error) }
  const { base_url, model, temperature, api_key } = parsed.data
  const check = await checkModelSettings(locals, {
    tenant_id: tenantId,
    base_url: base_url ?? null,
    model: model ?? null,
    ...(api_key ? { api_key } : {}),
  })
  if (!check.ok) return { ok: false, values, errors: { model_form: check.message } }
  // Keep settings the form does not show (fallback model, prices …) where they fit the
  // format; empty fields are unset.
  const { base_url: _url, model: _model, temperature: _t, ...kept } = saved
  const model_settings = modelSettingsSchema.parse({ ...kept, base_url, model, temperature })
  await callApi(locals, 'update_tenant', { tenant_id: tenantId, model_settings })
  if (api_key) await callApi(locals, 'set_tenant_llm_key', { tenant_id: tenantId, api_key })
  return { ok: true, check: check.message, values }
}

/**
 * An agent's own endpoint or model, tested like the tenant's before the designer saves it.
 * Nothing to test (null) when neither changed from what is stored, when the agent names
 * neither (it uses the tenant's, tested when that was saved), or when it has a key of its
 * own (set through the api; the check would send the tenant's instead). A field the agent
 * leaves empty is the tenant's saved one, as the worker resolves it. Returns the failure as
 * designer field errors, or null when the settings answered or there was nothing to test.
 */
export async function checkAgentModel(
  locals: App.Locals,
  tenantId: string,
  next: { base_url?: string | null; model?: string | null },
  stored?: { base_url?: string | null; model?: string | null; has_own_llm_key?: boolean } | null,
): Promise<Record<string, string> | null> {
  const baseUrl = next.base_url || null
  const model = next.model || null
  if (!baseUrl && !model) return null
  if (stored?.has_own_llm_key) return null
  if (stored && (stored.base_url || null) === baseUrl && (stored.model || null) === model) return null
  const check = await checkModelSettings(locals, {
    tenant_id: tenantId,
    ...(baseUrl ? { base_url: baseUrl } : {}),
    ...(model ? { model } : {}),
  })
  return check.ok ? null : { [baseUrl ? 'base_url' : 'model']: check.message }
}
