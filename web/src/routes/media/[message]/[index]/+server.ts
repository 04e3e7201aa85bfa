// The bytes of a customer's attachment, for the inbox: /media/<message id>/<index>.
//
// 1. The signed-in member reads the message through the api as themselves (row level
//    security): another tenant's message, an unknown one, an outbound one are all 404.
// 2. The channel-media function fetches the bytes with the channel's token, which never
//    reaches the portal (shared/channels/handlers/channel-media.ts: the channel's own hosts
//    only, through the guarded client, with a size cap); the member's session goes along
//    and the function checks the same read again.
// 3. The bytes stream back with the portal's own headers: inline only for allowlisted image
//    types, otherwise a download; nosniff and a CSP that runs nothing, whatever came back.
import { error } from '@sveltejs/kit'
import { env } from '$env/dynamic/public'
import { attachmentHeaders, attachmentSchema } from '$shared/channels/attachments.ts'
import { ApiError, callApi } from '$lib/server/api'
import type { RequestHandler } from './$types'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const NOT_FOUND = 'This file does not exist or you cannot see it.'

function plain(status: number, message: string): Response {
  return new Response(message, {
    status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      'cache-control': 'no-store',
    },
  })
}

export const GET: RequestHandler = async ({ locals, params, fetch }) => {
  const session = locals.session
  if (!session) error(401, { message: 'Sign in first.' })
  const index = Number(params.index)
  if (!UUID.test(params.message) || !Number.isInteger(index) || index < 0 || index > 99) return plain(404, NOT_FOUND)

  let stored: unknown
  try {
    stored = await callApi(locals, 'get_attachment', { message_id: params.message, attachment_index: index })
  } catch (e) {
    if (e instanceof ApiError && ['P0002', '42501', '22P02'].includes(e.code)) return plain(404, NOT_FOUND)
    throw e
  }
  const attachment = attachmentSchema.safeParse((stored as { attachment?: unknown } | null)?.attachment)
  if (!attachment.success) return plain(404, NOT_FOUND)

  const url = new URL(`${env.PUBLIC_SUPABASE_URL}/functions/v1/channel-media`)
  url.searchParams.set('message_id', params.message)
  url.searchParams.set('index', String(index))
  const upstream = await fetch(url, {
    headers: {
      authorization: `Bearer ${session.access_token}`,
      apikey: env.PUBLIC_SUPABASE_PUBLISHABLE_KEY ?? '',
    },
  })
  if (!upstream.ok) {
    // The function's messages are written for people ("This file is 30 MB; …"); keep them short.
    const message = (await upstream.text()).slice(0, 300)
    return plain(upstream.status >= 500 ? 502 : upstream.status, message || 'The file could not be fetched.')
  }
  const length = Number(upstream.headers.get('content-length'))
  return new Response(upstream.body, {
    status: 200,
    headers: attachmentHeaders(attachment.data, Number.isFinite(length) && length > 0 ? length : null),
  })
}
