// The slack-oauth function sends the browser back to PORTAL_URL/<tenant id>/channels?slack=…;
// the portal keeps tenants under /t/, so forward it there.
import { redirect } from '@sveltejs/kit'
import type { PageServerLoad } from './$types'

export const load: PageServerLoad = ({ params, url }) => {
  redirect(303, `/t/${encodeURIComponent(params.tenant)}/channels${url.search}`)
}
