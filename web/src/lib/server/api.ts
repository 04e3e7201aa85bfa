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

/** The database's own sentence, capitalised and ended with a full stop. */
function asSentence(message: string): string {
  const text = message.trim()
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.')
}

/** What to tell a person about a refused call (codes from supabase/README.md). Konstruct's own
 *  KO0xx codes (last owner, invitations, plan limits: KO010 agents, KO011 channel kinds …) carry
 *  a sentence written for people, so it is shown as is; other database text never is. */
export function explain(e: unknown): string {
  if (!(e instanceof ApiError)) return 'Something went wrong. Try again.'
  if (/^KO0\d\d$/.test(e.code) && e.message.trim()) return asSentence(e.message)
  switch (e.code) {
    case '42501':
      return 'Your role does not allow this.'
    case 'P0002':
      return 'That no longer exists.'
    case '22023':
    case '23505':
    case '55000':
      return asSentence(e.message)
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
