// The portal's side of the web chat: talks to the web-chat edge function exactly as the
// embeddable widget does (shared/channels/handlers/web-chat.ts), as an anonymous visitor
// of its own (signInAnonymously with the publishable key), never as the signed-in member:
//   POST /web-chat/session   Bearer <visitor session>, {widget_key}                       → {visitor_id, topic, …}
//   POST /web-chat/messages  Bearer <visitor session>, x-widget-key, {text, client_message_id} → {message_id, duplicate}
// The answer is not in the response: it arrives as a message_created broadcast on the
// tenant's Realtime topic, which the signed-in member already receives.
// The session request also carries the member's own session (x-member-authorization): the
// function then marks this visitor as the member's test chat, whose conversations are shown
// as tests and never count toward the plan. Only a member of the widget's tenant can.
import { browserSupabase } from '$lib/supabase'
import { createClient, FunctionsHttpError, type SupabaseClient } from '@supabase/supabase-js'
import { env } from '$env/dynamic/public'

export type WebChatResult =
  { ok: true; messageId: string; visitorToken: string } | { ok: false; unavailable: boolean; message: string }

let visitorClient: SupabaseClient | undefined

/** The test chat's visitor: a separate anonymous session, kept in memory only. */
async function visitorToken(): Promise<string | null> {
  visitorClient ??= createClient(env.PUBLIC_SUPABASE_URL ?? '', env.PUBLIC_SUPABASE_PUBLISHABLE_KEY ?? '', {
    auth: {
      persistSession: false,
      autoRefreshToken: true,
      detectSessionInUrl: false,
      storageKey: 'konstruct-test-visitor',
    },
  })
  const { data } = await visitorClient.auth.getSession()
  if (data.session) return data.session.access_token
  const { data: signedIn, error } = await visitorClient.auth.signInAnonymously()
  return error ? null : (signedIn.session?.access_token ?? null)
}

function statusOf(error: unknown): number {
  return error instanceof FunctionsHttpError ? (error.context as Response).status : 0
}

/** The signed-in member's access token: proof for the function that this is their test chat. */
async function memberToken(): Promise<string | null> {
  const { data } = await browserSupabase().auth.getSession()
  return data.session?.access_token ?? null
}

async function refusal(error: unknown): Promise<WebChatResult> {
  const status = statusOf(error)
  if (status === 403) {
    const body = (await (error as FunctionsHttpError).context.json().catch(() => null)) as { error?: unknown } | null
    if (body?.error === 'not_a_member')
      return { ok: false, unavailable: true, message: 'Only members of this workspace can use its test chat.' }
    if (body?.error === 'origin_not_allowed')
      return {
        ok: false,
        unavailable: true,
        message: "This web chat answers only on its allowed websites, and the portal's address is not one of them.",
      }
  }
  return failure(status)
}

function failure(status: number): WebChatResult {
  if (status === 404)
    return {
      ok: false,
      unavailable: true,
      message: 'The web chat service is not available, so a test message cannot be sent.',
    }
  if (status === 429)
    return { ok: false, unavailable: false, message: 'Too many messages: wait a moment and try again.' }
  return { ok: false, unavailable: false, message: 'The message could not be sent. Try again.' }
}

export async function sendWebChatMessage(input: {
  widgetKey: string
  text: string
  visitorToken?: string
}): Promise<WebChatResult> {
  const token = await visitorToken()
  if (!token) return failure(0)
  const functions = visitorClient!.functions
  if (!input.visitorToken) {
    const member = await memberToken()
    if (!member) return failure(0)
    const { error } = await functions.invoke('web-chat/session', {
      body: { widget_key: input.widgetKey },
      headers: { Authorization: `Bearer ${token}`, 'x-member-authorization': `Bearer ${member}` },
    })
    if (error) return refusal(error)
  }
  const { data, error } = await functions.invoke('web-chat/messages', {
    body: { text: input.text, client_message_id: crypto.randomUUID() },
    headers: { Authorization: `Bearer ${token}`, 'x-widget-key': input.widgetKey },
  })
  if (error) {
    // A refused session: start the visitor's session again once.
    if (statusOf(error) === 401 && input.visitorToken) return sendWebChatMessage({ ...input, visitorToken: undefined })
    return refusal(error)
  }
  const messageId = (data as { message_id?: unknown })?.message_id
  if (typeof messageId !== 'string')
    return { ok: false, unavailable: false, message: 'The web chat service gave an unexpected answer.' }
  return { ok: true, messageId, visitorToken: token }
}
