// The portal's side of the web chat: sends a visitor message to the web-chat edge
// function, exactly as the embeddable widget would. The answer is not in the response:
// it arrives as a message_created broadcast on the tenant's Realtime topic.
//
// Assumed contract of functions/web-chat (POST, JSON):
//   request  { widget_key, text, client_message_id, visitor_token? }
//   response { visitor_token, conversation_id, message_id }
import { FunctionsHttpError } from '@supabase/supabase-js'
import { browserSupabase } from './supabase'

export interface WebChatSent {
  visitorToken: string
  conversationId: string
  messageId: string
}

export type WebChatResult = { ok: true; sent: WebChatSent } | { ok: false; unavailable: boolean; message: string }

export async function sendWebChatMessage(input: {
  widgetKey: string
  text: string
  visitorToken?: string
}): Promise<WebChatResult> {
  const { data, error } = await browserSupabase().functions.invoke('web-chat', {
    body: {
      widget_key: input.widgetKey,
      text: input.text,
      client_message_id: crypto.randomUUID(),
      visitor_token: input.visitorToken,
    },
  })
  if (error) {
    const status = error instanceof FunctionsHttpError ? (error.context as Response).status : 0
    if (status === 404) {
      return { ok: false, unavailable: true, message: 'The web chat service is not running yet, so a test message cannot be sent.' }
    }
    if (status === 429) return { ok: false, unavailable: false, message: 'Too many messages: wait a moment and try again.' }
    return { ok: false, unavailable: false, message: 'The message could not be sent. Try again.' }
  }
  const body = (data ?? {}) as Record<string, unknown>
  if (typeof body.conversation_id !== 'string') {
    return { ok: false, unavailable: false, message: 'The web chat service gave an unexpected answer.' }
  }
  return {
    ok: true,
    sent: {
      visitorToken: String(body.visitor_token ?? ''),
      conversationId: body.conversation_id,
      messageId: String(body.message_id ?? ''),
    },
  }
}
