import { error, fail } from '@sveltejs/kit'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import type { Contact } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const load: PageServerLoad = async ({ locals, params }) => {
  if (!uuid.test(params.id)) error(404, { message: 'Not found.' })
  let contact: Contact | null
  try {
    contact = await callApi<Contact | null>(locals, 'get_contact', { contact_id: params.id })
  } catch (e) {
    loadFailure(e)
  }
  if (!contact) error(404, { message: 'Not found.' })
  return { contact }
}

export const actions: Actions = {
  rename: async ({ locals, params, request }) => {
    const form = await request.formData()
    const name = formString(form, 'display_name')
    if (name.length < 1 || name.length > 200) {
      return fail(400, { values: { display_name: name }, errors: { display_name: 'A name has 1 to 200 characters.' } })
    }
    try {
      await callApi(locals, 'rename_contact', { contact_id: params.id, display_name: name })
      return { done: 'rename' }
    } catch (e) {
      return actionFailure(e, 'display_name', { values: { display_name: name } })
    }
  },
  forget: async ({ locals, request }) => {
    const form = await request.formData()
    try {
      await callApi(locals, 'delete_memory', { memory_id: formString(form, 'memory_id') })
      return { done: 'forget' }
    } catch (e) {
      return actionFailure(e)
    }
  },
}
