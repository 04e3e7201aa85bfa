// Slack's authorize page → slack-oauth/callback → here, in the browser that started the
// install. The install is completed only as the signed-in admin who started it and with
// this browser's install secret (see $lib/server/slack-install); an authorize link opened
// by anyone else installs nothing.
import { redirect } from '@sveltejs/kit'
import { takeInstallSecret } from '$lib/server/slack-install'
import type { RequestHandler } from './$types'

export const GET: RequestHandler = async ({ locals, url, cookies }) => {
  const secret = takeInstallSecret(cookies)
  const { data, error } = await locals.supabase.functions.invoke('slack-oauth', {
    body: {
      action: 'complete',
      code: url.searchParams.get('code') ?? '',
      state: url.searchParams.get('state') ?? '',
      browser_secret: secret ?? '',
    },
  })
  // A refusal (4xx) carries the same {tenant_id, outcome} body.
  const context = (error as { context?: unknown } | null)?.context
  const refusal = context instanceof Response ? await context.json().catch(() => null) : null
  const answer = (data ?? refusal ?? {}) as { tenant_id?: unknown; outcome?: unknown }
  const outcome = typeof answer.outcome === 'string' ? answer.outcome : 'invalid_state'
  const tenantId = typeof answer.tenant_id === 'string' ? answer.tenant_id : null
  const query = `slack=${encodeURIComponent(outcome)}`
  redirect(303, tenantId ? `/t/${tenantId}/channels?${query}` : `/?${query}`)
}
