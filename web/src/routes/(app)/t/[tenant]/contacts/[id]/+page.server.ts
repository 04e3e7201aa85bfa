import { error, fail, redirect } from '@sveltejs/kit'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import type { Contact, ContactRow } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * "Merge with…": ?merge_q= searches the tenant's other contacts; ?merge_with= opens the one
 * picked with what it would bring (its channels, conversations and memories), for the
 * confirmation.
 */
async function mergeCandidates(locals: App.Locals, tenantId: string, contact: Contact, url: URL) {
  const query = url.searchParams.get('merge_q')?.trim() || null
  const pickedId = url.searchParams.get('merge_with')
  const matches = query
    ? (await callApi<ContactRow[]>(locals, 'list_contacts', { tenant_id: tenantId, search: query, page_size: 11 }))
        .filter((c) => c.id !== contact.id)
        .slice(0, 10)
    : null
  let picked: Contact | null = null
  if (pickedId && uuid.test(pickedId) && pickedId !== contact.id) {
    try {
      picked = await callApi<Contact | null>(locals, 'get_contact', { contact_id: pickedId })
    } catch {
      picked = null
    }
    if (picked && (picked.tenant_id !== contact.tenant_id || picked.merged_into)) picked = null
  }
  return { query, matches, picked }
}

export const load: PageServerLoad = async ({ locals, params, parent, url }) => {
  if (!uuid.test(params.id)) error(404, { message: 'Not found.' })
  const { tenant } = await parent()
  let contact: Contact | null
  try {
    contact = await callApi<Contact | null>(locals, 'get_contact', { contact_id: params.id })
  } catch (e) {
    loadFailure(e)
  }
  if (!contact) error(404, { message: 'Not found.' })
  // A merged contact's page is the survivor's.
  if (contact.merged_into) redirect(303, `/t/${tenant.slug}/contacts/${contact.merged_into}`)
  return {
    contact,
    merge: await mergeCandidates(locals, tenant.id, contact, url),
    merged: url.searchParams.has('merged'),
  }
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
  merge: async ({ locals, params, request }) => {
    const form = await request.formData()
    const duplicate = formString(form, 'duplicate_id')
    if (!uuid.test(duplicate)) return fail(400, { errors: { merge: 'Pick the contact to merge into this one.' } })
    try {
      await callApi(locals, 'merge_contacts', { contact_id: params.id, duplicate_id: duplicate })
    } catch (e) {
      return actionFailure(e, 'merge')
    }
    redirect(303, `/t/${params.tenant}/contacts/${params.id}?merged=1`)
  },
}
