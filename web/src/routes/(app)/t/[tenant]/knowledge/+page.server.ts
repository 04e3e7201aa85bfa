import { fail } from '@sveltejs/kit'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import { SOURCES_PAGE } from '$lib/knowledge-list'
import type { KnowledgeHit, KnowledgeSource } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, parent, url, depends }) => {
  depends('app:knowledge')
  const { tenant } = await parent()
  const query = url.searchParams.get('q')?.trim() ?? ''
  try {
    const [sources, hits] = await Promise.all([
      // The first page; the page asks for the next ones itself ($lib/knowledge-list).
      callApi<KnowledgeSource[]>(locals, 'list_knowledge_sources', { tenant_id: tenant.id, page_size: SOURCES_PAGE }),
      query
        ? callApi<KnowledgeHit[]>(locals, 'search_knowledge', {
            tenant_id: tenant.id,
            query_text: query,
            match_count: 5,
          })
        : Promise.resolve(null),
    ])
    return { sources, query, hits }
  } catch (e) {
    loadFailure(e)
  }
}

export const actions: Actions = {
  create: async ({ locals, request }) => {
    const form = await request.formData()
    const kind = formString(form, 'kind') === 'url' ? 'url' : 'text'
    const values = {
      title: formString(form, 'title'),
      content: formString(form, 'content'),
      uri: formString(form, 'uri'),
      kind,
    }
    const errors: Record<string, string> = {}
    if (!values.title) errors.title = 'Give the source a title.'
    if (kind === 'text' && !values.content) errors.content = 'Paste the text the agents should know.'
    if (kind === 'url' && !/^https?:\/\/\S+$/.test(values.uri))
      errors.uri = 'Enter a web address starting with https://.'
    if (Object.keys(errors).length) return fail(400, { values, errors })
    try {
      await callApi(locals, 'create_knowledge_source', {
        tenant_id: formString(form, 'tenant_id'),
        title: values.title,
        kind,
        content: kind === 'text' ? values.content : null,
        uri: kind === 'url' ? values.uri : null,
      })
      return { done: 'create' }
    } catch (e) {
      return actionFailure(e, 'form', { values })
    }
  },
  delete: async ({ locals, request }) => {
    const form = await request.formData()
    try {
      await callApi(locals, 'delete_knowledge_source', { source_id: formString(form, 'source_id') })
      return { done: 'delete' }
    } catch (e) {
      return actionFailure(e)
    }
  },
}
