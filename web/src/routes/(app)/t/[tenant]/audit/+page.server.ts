import { callApi, loadFailure } from '$lib/server/api'
import type { AuditEntry, Member } from '$lib/types'
import type { PageServerLoad } from './$types'

const PAGE = 50

export const load: PageServerLoad = async ({ locals, parent, url }) => {
  const { tenant } = await parent()
  const before = Number(url.searchParams.get('before')) || null
  const action = url.searchParams.get('action')?.trim() || null
  try {
    const [entries, members] = await Promise.all([
      callApi<AuditEntry[]>(locals, 'list_audit_log', {
        tenant_id: tenant.id,
        before_id: before,
        page_size: PAGE,
        action_prefix: action,
      }),
      callApi<Member[]>(locals, 'list_members', { tenant_id: tenant.id }),
    ])
    return {
      entries,
      action,
      before,
      nextBefore: entries.length === PAGE ? entries[entries.length - 1].id : null,
      actors: Object.fromEntries(members.map((m) => [m.user_id, m.email])) as Record<string, string>,
    }
  } catch (e) {
    loadFailure(e)
  }
}
