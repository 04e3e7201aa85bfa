import { error } from '@sveltejs/kit'
import { z } from 'zod'
import { callApi, loadFailure } from '$lib/server/api'
import type { KnowledgeSourceView } from '$lib/types'
import type { PageServerLoad } from './$types'

const PAGE_SIZE = 50

const sourceId = z.guid()
// ?after=<chunk_index> continues after that passage (keyset); anything else starts at the first.
const afterIndex = z.coerce.number().int().min(0).max(2_147_483_647)

export const load: PageServerLoad = async ({ locals, params, parent, url, depends }) => {
  depends('app:knowledge-source')
  const { tenant } = await parent()
  if (!sourceId.safeParse(params.id).success) error(404, { message: 'Not found.' })
  const after = afterIndex.safeParse(url.searchParams.get('after') ?? undefined)
  try {
    const view = await callApi<KnowledgeSourceView>(locals, 'view_knowledge_source', {
      source_id: params.id,
      after_index: after.success ? after.data : null,
      page_size: PAGE_SIZE,
    })
    // A member of two tenants (or a platform admin) with another tenant's address in the bar.
    if (view.source.tenant_id !== tenant.id) error(404, { message: 'Not found.' })
    return { view, after: after.success ? after.data : null }
  } catch (e) {
    loadFailure(e)
  }
}
