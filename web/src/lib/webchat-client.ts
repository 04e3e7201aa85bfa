// The portal's side of the web chat: talks to the web-chat edge function exactly as the
// embeddable widget does (shared/channels/functions/web-chat.ts):
//   POST /web-chat/session   {widget_key, token?}                 → {token, visitor_id, topic, …}
//   POST /web-chat/messages  Bearer <visitor token>, {text, client_message_id} → {message_id, duplicate}
// The answer is not in the response: it arrives as a message_created broadcast on the
// tenant's Realtime topic, which the signed-in member already receives.
import { FunctionsHttpError } from '@supabase/supabase-js'
import { browserSupabase } from './supabase'

export type WebChatResult =
  { ok: true; messageId: string; visitorToken: string } | { ok: false; unavailable: boolean; message: string }

function statusOf(error: unknown): number {
  return error instanceof FunctionsHttpError ? (error.context as Response).status : 0
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
  const functions = browserSupabase().functions
  let token = input.visitorToken
  if (!token) {
    const { data, error } = await functions.invoke('web-chat/session', { body: { widget_key: input.widgetKey } })
    if (error || typeof (data as { token?: unknown })?.token !== 'string') return failure(statusOf(error))
    token = (data as { token: string }).token
  }
  const { data, error } = await functions.invoke('web-chat/messages', {
    body: { text: input.text, client_message_id: crypto.randomUUID() },
    headers: { Authorization: `Bearer ${token}` },
  })
  if (error) {
    // An expired visitor token: start a new session once.
    if (statusOf(error) === 401 && input.visitorToken) return sendWebChatMessage({ ...input, visitorToken: undefined })
    return failure(statusOf(error))
  }
  const messageId = (data as { message_id?: unknown })?.message_id
  if (typeof messageId !== 'string')
    return { ok: false, unavailable: false, message: 'The web chat service gave an unexpected answer.' }
  return { ok: true, messageId, visitorToken: token }
}
