// Asks the model-check function whether model settings work, before they are saved
// (shared/agent/model-check-function.ts). The caller's session goes along, so the
// function checks through the api that this person may change the tenant's settings.
import { FunctionsHttpError } from '@supabase/supabase-js'
import { z } from 'zod'
import { ApiError } from '$lib/server/api'

const resultSchema = z.object({
  ok: z.boolean(),
  outcome: z.string(),
  message: z.string(),
  status: z.number().nullable(),
})
export type ModelCheck = z.infer<typeof resultSchema>

export interface ModelCheckInput {
  tenant_id: string
  base_url?: string | null
  model?: string | null
  api_key?: string | null
}

export async function checkModelSettings(locals: App.Locals, input: ModelCheckInput): Promise<ModelCheck> {
  try {
    const { data, error } = await locals.supabase.functions.invoke('model-check', { body: input })
    if (error instanceof FunctionsHttpError && error.context instanceof Response && error.context.status === 403) {
      throw new ApiError('42501', 'only owners and admins can change model settings')
    }
    if (error) throw error
    return resultSchema.parse(typeof data === 'string' ? JSON.parse(data) : data)
  } catch (e) {
    if (e instanceof ApiError) throw e
    console.error('model-check failed', e)
    return {
      ok: false,
      outcome: 'check_failed',
      message: 'The model could not be tested just now, so nothing was saved. Try again.',
      status: null,
    }
  }
}
