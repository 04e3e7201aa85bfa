// "Add to Slack": asks the slack-oauth function (as the signed-in admin) for an install
// URL with a signed state naming this tenant and this browser (a secret in its cookie),
// and sends the browser there. Slack brings it back to /slack/finish.
import { redirect } from '@sveltejs/kit'
import { resolveTenant } from '$lib/server/tenant'
import { bindInstallToBrowser } from '$lib/server/slack-install'
import type { RequestHandler } from './$types'

export const GET: RequestHandler = async ({ locals, params, cookies, url }) => {
  const { tenant } = await resolveTenant(locals, params.tenant)
  const browserHash = await bindInstallToBrowser(cookies, url.protocol === 'https:')
  const { data, error } = await locals.supabase.functions.invoke('slack-oauth', {
    body: { action: 'install_url', tenant_id: tenant.id, browser_hash: browserHash },
  })
  const target = (data as { url?: unknown } | null)?.url
  if (error || typeof target !== 'string' || !target.startsWith('https://')) {
    redirect(303, `/t/${params.tenant}/channels?slack=unavailable`)
  }
  redirect(303, target)
}
