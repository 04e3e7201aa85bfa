// "Add to Slack": asks the slack-oauth function (as the signed-in admin) for an install
// URL with a signed state naming this tenant, and sends the browser there.
// Assumed contract: POST functions/v1/slack-oauth { action: 'install_url', tenant_id } → { url }.
import { redirect } from '@sveltejs/kit'
import { resolveTenant } from '$lib/server/tenant'
import type { RequestHandler } from './$types'

export const GET: RequestHandler = async ({ locals, params }) => {
  const { tenant } = await resolveTenant(locals, params.tenant)
  const { data, error } = await locals.supabase.functions.invoke('slack-oauth', {
    body: { action: 'install_url', tenant_id: tenant.id },
  })
  const url = (data as { url?: unknown } | null)?.url
  if (error || typeof url !== 'string' || !url.startsWith('https://')) {
    redirect(303, `/t/${params.tenant}/channels?slack=unavailable`)
  }
  redirect(303, url)
}
