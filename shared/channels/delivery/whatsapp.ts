// Outbound WhatsApp: the agent's answer to the customer's number.
//
// - markWhatsAppRead: blue ticks on the customer's message, with the typing indicator
//   while the agent works (the "thinking" status WhatsApp offers).
// - deliverWhatsAppReply: inside the 24-hour customer-service window, Markdown → WhatsApp
//   formatting split into 4096-character texts (the last with confirm / cancel reply
//   buttons when the reply asks for a confirmation); each wamid is recorded the moment
//   Meta returns it, so a retried delivery resumes instead of sending twice. Outside the
//   window (by our clock, or Meta's error 131047), the tenant's approved template for the
//   number is sent once (connection settings `whatsapp_template`), or the reply is
//   undeliverable with the reason. Throttling (130429, 131056, 80007, 4, HTTP 429) comes
//   back as a retry outcome with Meta's suggested delay; the client never resends itself.
import {
  createWhatsAppClient,
  isInsideServiceWindow,
  toWhatsAppMessages,
  WhatsAppApiError,
  WhatsAppRateLimitError,
  type TemplateMessage,
} from '../whatsapp/mod.ts'
import { partsRecord, type DeliveryOutcome, type DeliveryProgressStore } from './progress.ts'
import { confirmationButtons, type ConfirmationButtons } from '../confirmation.ts'
import type { ConnectionSettings } from '../settings.ts'

export interface WhatsAppClientConfig {
  /** The connection's access token (api.get_channel_token). */
  accessToken: string
  /** WHATSAPP_API_URL; Meta's Graph API by default. */
  apiUrl?: string
  apiVersion?: string
  fetch?: typeof fetch
}

export const NO_TEMPLATE_REASON =
  'More than 24 hours since the customer last wrote: WhatsApp only allows an approved template, and none is configured for this number.'

/** The approved template of a connection (settings read through ../settings.ts), or null. */
export function whatsAppTemplateOf(settings: ConnectionSettings): TemplateMessage | null {
  const template = settings.whatsapp_template
  if (!template) return null
  return {
    name: template.name,
    languageCode: template.language_code,
    ...(template.components ? { components: template.components } : {}),
  }
}

export async function markWhatsAppRead(input: {
  whatsapp: WhatsAppClientConfig
  phoneNumberId: string
  messageId: string
  showTyping?: boolean
}): Promise<boolean> {
  try {
    await createWhatsAppClient(input.whatsapp).markAsRead({
      phoneNumberId: input.phoneNumberId,
      messageId: input.messageId,
      showTyping: input.showTyping ?? true,
    })
    return true
  } catch {
    // A missed read receipt is cosmetic; the answer matters.
    return false
  }
}

export interface DeliverWhatsAppReplyInput {
  whatsapp: WhatsAppClientConfig
  phoneNumberId: string
  /** The customer's wa_id. */
  to: string
  message: { id: string; text: string }
  progress: DeliveryProgressStore
  /** When the customer last wrote (conversation.last_inbound_at). */
  lastInboundAt: Date | null
  now: Date
  /** The tenant's approved template for this number, if any. */
  template?: TemplateMessage | null
  confirmation?: ConfirmationButtons | null
}

export async function deliverWhatsAppReply(input: DeliverWhatsAppReplyInput): Promise<DeliveryOutcome> {
  const wa = createWhatsAppClient(input.whatsapp)
  let progress: Record<string, unknown>
  try {
    progress = await input.progress.load()
  } catch (error) {
    return {
      outcome: 'retry',
      reason: error instanceof Error ? error.message : 'progress unavailable',
      retryAfterMs: null,
    }
  }
  const done = partsRecord(progress, 'whatsapp_parts')
  const templateId = typeof progress['whatsapp_template_id'] === 'string' ? progress['whatsapp_template_id'] : null
  if (templateId) return { outcome: 'sent', externalId: templateId, parts: 1, resumed: true, via: 'template' }

  const sendTemplate = async (): Promise<DeliveryOutcome> => {
    if (!input.template) return { outcome: 'undeliverable', reason: NO_TEMPLATE_REASON }
    const sent = await wa.sendTemplate({ phoneNumberId: input.phoneNumberId, to: input.to, template: input.template })
    await input.progress.save({ whatsapp_template_id: sent.messageId, whatsapp_template: input.template.name })
    return { outcome: 'sent', externalId: sent.messageId, parts: 1, resumed: false, via: 'template' }
  }

  try {
    const resumed = Object.keys(done).length > 0
    if (!resumed && !isInsideServiceWindow(input.lastInboundAt, input.now)) return await sendTemplate()
    const parts = toWhatsAppMessages(input.message.text.trim() ? input.message.text : '…')
    for (const [index, part] of parts.entries()) {
      if (done[String(index)]) continue
      const last = index === parts.length - 1
      const sent =
        last && input.confirmation && part.length <= 1024
          ? await wa.sendButtons({
              phoneNumberId: input.phoneNumberId,
              to: input.to,
              body: part,
              buttons: confirmationButtons(input.confirmation.toolCallId).map((button) => ({
                id: button.value,
                title: button.label,
              })),
            })
          : await wa.sendText({ phoneNumberId: input.phoneNumberId, to: input.to, text: part })
      done[String(index)] = sent.messageId
      await input.progress.save({ whatsapp_parts: { ...done } })
    }
    return { outcome: 'sent', externalId: done['0']!, parts: parts.length, resumed, via: 'text' }
  } catch (error) {
    if (error instanceof WhatsAppRateLimitError) {
      return { outcome: 'retry', reason: error.message, retryAfterMs: error.retryAfterMs }
    }
    if (error instanceof WhatsAppApiError) {
      // Meta's clock says the window is closed: the template is the only way, if nothing went yet.
      if (error.outsideServiceWindow && Object.keys(done).length === 0) {
        try {
          return await sendTemplate()
        } catch (templateError) {
          return whatsAppOutcome(templateError)
        }
      }
      return whatsAppOutcome(error)
    }
    return whatsAppOutcome(error)
  }
}

function whatsAppOutcome(error: unknown): DeliveryOutcome {
  if (error instanceof WhatsAppRateLimitError)
    return { outcome: 'retry', reason: error.message, retryAfterMs: error.retryAfterMs }
  if (error instanceof WhatsAppApiError) {
    if (error.outsideServiceWindow) return { outcome: 'undeliverable', reason: NO_TEMPLATE_REASON }
    if (error.retryable) return { outcome: 'retry', reason: error.message, retryAfterMs: null }
    return { outcome: 'undeliverable', reason: `WhatsApp refused the message (${error.code ?? error.status})` }
  }
  return {
    outcome: 'retry',
    reason: error instanceof Error ? error.message : 'WhatsApp could not be reached',
    retryAfterMs: null,
  }
}
