// Calls to the api schema from server loads and actions, with errors a person can read.
import { error as kitError, fail } from '@sveltejs/kit'
import { explainCode } from '$lib/errors'

export interface ApiFailure {
  code: string
  message: string
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

type Locals = App.Locals

/** supabase.rpc on the api schema; throws ApiError with the Postgres error code. */
export async function callApi<T>(locals: Locals, fn: string, args: Record<string, unknown> = {}): Promise<T> {
  const { data, error } = await locals.supabase.rpc(fn, args)
  if (error) throw new ApiError(error.code ?? 'unknown', error.message ?? 'request failed')
  return data as T
}

/** What to tell a person about a refused call (see $lib/errors). */
export function explain(e: unknown): string {
  if (!(e instanceof ApiError)) return 'Something went wrong. Try again.'
  return explainCode(e.code, e.message)
}

/** For a load: an api refusal becomes a 404/403 page instead of a crash. */
export function loadFailure(e: unknown): never {
  if (e instanceof ApiError) {
    if (e.code === 'P0002') kitError(404, { message: 'Not found.' })
    if (e.code === '42501') kitError(403, { message: 'You do not have access to this.' })
  }
  throw e
}

/** For an action: an api refusal becomes fail(400, { errors: { [field]: message } }). */
export function actionFailure(e: unknown, field = 'form', extra: Record<string, unknown> = {}) {
  if (!(e instanceof ApiError)) console.error(e)
  return fail(e instanceof ApiError && e.code === '42501' ? 403 : 400, { ...extra, errors: { [field]: explain(e) } })
}

export function formString(form: FormData, name: string): string {
  return String(form.get(name) ?? '').trim()
}
