// Calls to the api schema from server loads and actions, with errors a person can read.
import { error as kitError, fail } from '@sveltejs/kit'

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

/** What to tell a person about a refused call (codes from the api's header comment). */
export function explain(e: unknown): string {
  if (!(e instanceof ApiError)) return 'Something went wrong. Try again.'
  switch (e.code) {
    case '42501':
      return 'Your role does not allow this.'
    case 'P0002':
      return 'That no longer exists.'
    case 'KO001':
      return 'A tenant needs at least one owner.'
    case '22023':
    case '23505':
    case 'KO002':
    case 'KO003':
    case 'KO004':
    case '55000':
      return e.message.charAt(0).toUpperCase() + e.message.slice(1) + (/[.!?]$/.test(e.message) ? '' : '.')
    default:
      return 'Something went wrong. Try again.'
  }
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
