// The platform console is for platform admins only; the api refuses everyone else too.
import { error } from '@sveltejs/kit'
import { callApi } from '$lib/server/api'
import type { LayoutServerLoad } from './$types'

export const load: LayoutServerLoad = async ({ locals }) => {
  const me = await callApi<{ is_platform_admin: boolean; email: string | null }>(locals, 'whoami')
  if (!me.is_platform_admin) error(403, { message: 'The platform console is for platform admins.' })
  return { platformEmail: me.email }
}
