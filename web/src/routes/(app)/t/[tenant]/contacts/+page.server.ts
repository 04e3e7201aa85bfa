import { callApi, loadFailure } from '$lib/server/api'
import type { ContactRow } from '$lib/types'
import type { PageServerLoad } from './$types'

const PAGE = 50

export const load: PageServerLoad = async ({ locals, parent, url }) => {
  const { tenant } = await parent()
  const search = url.searchParams.get('q')?.trim() || null
  // Keyset: the last row of the previous page (created_at and id).
  const beforeAt = url.searchParams.get('before_at') || null
  const beforeId = url.searchParams.get('before_id') || null
  const validAt = beforeAt && !Number.isNaN(Date.parse(beforeAt)) ? beforeAt : null
  const validId = beforeId && /^[0-9a-f-]{36}$/i.test(beforeId) ? beforeId : null
  try {
    const contacts = await callApi<ContactRow[]>(locals, 'list_contacts', {
      tenant_id: tenant.id,
      search,
      before_created_at: validAt && validId ? validAt : null,
      before_id: validAt && validId ? validId : null,
      page_size: PAGE,
    })
    const last = contacts.length === PAGE ? contacts[contacts.length - 1] : null
    return {
      contacts,
      search,
      paged: Boolean(validAt && validId),
      next: last ? { before_at: last.created_at, before_id: last.id } : null,
    }
  } catch (e) {
    loadFailure(e)
  }
}
