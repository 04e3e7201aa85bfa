// Turns a verified WhatsApp Cloud API webhook body into normalized inbound messages and
// delivery status updates. One platform app serves many tenants' numbers, so every item
// carries the business phone_number_id it arrived for: that is how it is routed to a tenant.
// Meta may batch several entries, changes and messages in one delivery.
import { isRecord, parseJson, recordArrayField, recordField, stringField, type JsonRecord } from '../payload-fields.ts'

export type WhatsAppContent =
  | { type: 'text'; body: string }
  | {
      type: 'interactive'
      replyType: 'button_reply' | 'list_reply'
      replyId: string
      title: string
      description: string | null
    }
  /** A quick-reply button on a template message. */
  | { type: 'button'; payload: string | null; text: string }
  | {
      type: 'media'
      mediaType: 'image' | 'video' | 'document' | 'audio' | 'sticker'
      mediaId: string
      mimeType: string | null
      caption: string | null
      filename: string | null
    }
  | { type: 'unsupported'; originalType: string }

export interface WhatsAppInboundMessage {
  phoneNumberId: string
  displayPhoneNumber: string | null
  businessAccountId: string | null
  /** wamid…: unique per message, the idempotency key for ingest. */
  messageId: string
  /** The customer's WhatsApp id (their phone number, digits only). */
  from: string
  contactName: string | null
  timestamp: Date
  /** What the agent reads: the text, the chosen reply's title, or the media caption. */
  text: string
  content: WhatsAppContent
  /** Set when the customer replied to a specific earlier message. */
  replyToMessageId: string | null
}

export interface WhatsAppError {
  code: number | null
  title: string | null
  message: string | null
  details: string | null
}

export type WhatsAppDeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed'

export interface WhatsAppStatusUpdate {
  phoneNumberId: string
  /** The delivery's entry id: the WhatsApp Business Account the number belongs to. */
  businessAccountId: string | null
  /** The wamid of the message we sent. */
  messageId: string
  recipientId: string | null
  status: WhatsAppDeliveryStatus
  timestamp: Date
  errors: WhatsAppError[]
}

export interface WhatsAppWebhook {
  messages: WhatsAppInboundMessage[]
  statuses: WhatsAppStatusUpdate[]
  /** Errors Meta reports about the number itself (value.errors), for logs and admins. */
  errors: Array<{ phoneNumberId: string; errors: WhatsAppError[] }>
}

export type WhatsAppWebhookParse =
  { ok: true; webhook: WhatsAppWebhook } | { ok: false; error: 'invalid_json' | 'invalid_payload' }

const DELIVERY_STATUSES = new Set<string>(['sent', 'delivered', 'read', 'failed'])
const MEDIA_TYPES = new Set<string>(['image', 'video', 'document', 'audio', 'sticker'])

export function parseWhatsAppWebhookBody(body: string): WhatsAppWebhookParse {
  const json = parseJson(body)
  if (!json.ok) return { ok: false, error: 'invalid_json' }
  return parseWhatsAppWebhook(json.value)
}

export function parseWhatsAppWebhook(payload: unknown): WhatsAppWebhookParse {
  if (!isRecord(payload) || payload['object'] !== 'whatsapp_business_account' || !Array.isArray(payload['entry'])) {
    return { ok: false, error: 'invalid_payload' }
  }
  const webhook: WhatsAppWebhook = { messages: [], statuses: [], errors: [] }
  for (const entry of recordArrayField(payload, 'entry')) {
    const businessAccountId = stringField(entry, 'id') ?? null
    for (const change of recordArrayField(entry, 'changes')) {
      // Other fields (account_update, message_template_status_update …) are not messages.
      if (stringField(change, 'field') !== 'messages') continue
      const value = recordField(change, 'value')
      const metadata = value && recordField(value, 'metadata')
      const phoneNumberId = metadata && stringField(metadata, 'phone_number_id')
      if (!value || !phoneNumberId) return { ok: false, error: 'invalid_payload' }
      const displayPhoneNumber = stringField(metadata, 'display_phone_number') ?? null

      const names = new Map<string, string>()
      for (const contact of recordArrayField(value, 'contacts')) {
        const waId = stringField(contact, 'wa_id')
        const name = stringField(recordField(contact, 'profile') ?? {}, 'name')
        if (waId && name) names.set(waId, name)
      }
      for (const message of recordArrayField(value, 'messages')) {
        const parsed = toInboundMessage(message, { phoneNumberId, displayPhoneNumber, businessAccountId, names })
        if (parsed) webhook.messages.push(parsed)
      }
      for (const status of recordArrayField(value, 'statuses')) {
        const parsed = toStatusUpdate(status, phoneNumberId, businessAccountId)
        if (parsed) webhook.statuses.push(parsed)
      }
      const errors = recordArrayField(value, 'errors').map(toError)
      if (errors.length) webhook.errors.push({ phoneNumberId, errors })
    }
  }
  return { ok: true, webhook }
}

interface Route {
  phoneNumberId: string
  displayPhoneNumber: string | null
  businessAccountId: string | null
  names: Map<string, string>
}

function toInboundMessage(message: JsonRecord, route: Route): WhatsAppInboundMessage | null {
  const messageId = stringField(message, 'id')
  const from = stringField(message, 'from')
  const type = stringField(message, 'type')
  if (!messageId || !from || !type) return null
  const content = toContent(type, message)
  const context = recordField(message, 'context')
  return {
    phoneNumberId: route.phoneNumberId,
    displayPhoneNumber: route.displayPhoneNumber,
    businessAccountId: route.businessAccountId,
    messageId,
    from,
    contactName: route.names.get(from) ?? null,
    timestamp: unixSeconds(stringField(message, 'timestamp')),
    text: agentText(content),
    content,
    replyToMessageId: (context && stringField(context, 'id')) ?? null,
  }
}

function toContent(type: string, message: JsonRecord): WhatsAppContent {
  const unsupported: WhatsAppContent = { type: 'unsupported', originalType: type }
  if (type === 'text') {
    const body = stringField(recordField(message, 'text') ?? {}, 'body')
    return body !== undefined ? { type: 'text', body } : unsupported
  }
  if (type === 'interactive') {
    const interactive = recordField(message, 'interactive') ?? {}
    const replyType = stringField(interactive, 'type')
    if (replyType !== 'button_reply' && replyType !== 'list_reply')
      return { type: 'unsupported', originalType: `interactive.${replyType}` }
    const reply = recordField(interactive, replyType) ?? {}
    const replyId = stringField(reply, 'id')
    const title = stringField(reply, 'title')
    if (!replyId || title === undefined) return unsupported
    return { type: 'interactive', replyType, replyId, title, description: stringField(reply, 'description') ?? null }
  }
  if (type === 'button') {
    const button = recordField(message, 'button') ?? {}
    const text = stringField(button, 'text')
    return text !== undefined ? { type: 'button', payload: stringField(button, 'payload') ?? null, text } : unsupported
  }
  if (MEDIA_TYPES.has(type)) {
    const media = recordField(message, type) ?? {}
    const mediaId = stringField(media, 'id')
    if (!mediaId) return unsupported
    return {
      type: 'media',
      mediaType: type as 'image' | 'video' | 'document' | 'audio' | 'sticker',
      mediaId,
      mimeType: stringField(media, 'mime_type') ?? null,
      caption: stringField(media, 'caption') ?? null,
      filename: stringField(media, 'filename') ?? null,
    }
  }
  // location, contacts, reaction, order, system, unknown …
  return unsupported
}

function agentText(content: WhatsAppContent): string {
  switch (content.type) {
    case 'text':
      return content.body
    case 'interactive':
      return content.title
    case 'button':
      return content.text
    case 'media':
      return content.caption ?? ''
    case 'unsupported':
      return ''
  }
}

function toStatusUpdate(
  status: JsonRecord,
  phoneNumberId: string,
  businessAccountId: string | null,
): WhatsAppStatusUpdate | null {
  const messageId = stringField(status, 'id')
  const value = stringField(status, 'status')
  if (!messageId || !value || !DELIVERY_STATUSES.has(value)) return null
  return {
    phoneNumberId,
    businessAccountId,
    messageId,
    recipientId: stringField(status, 'recipient_id') ?? null,
    status: value as WhatsAppDeliveryStatus,
    timestamp: unixSeconds(stringField(status, 'timestamp')),
    errors: recordArrayField(status, 'errors').map(toError),
  }
}

function toError(error: JsonRecord): WhatsAppError {
  const code = error['code']
  const data = recordField(error, 'error_data')
  return {
    code: typeof code === 'number' ? code : typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : null,
    title: stringField(error, 'title') ?? null,
    message: stringField(error, 'message') ?? null,
    details: (data && stringField(data, 'details')) ?? null,
  }
}

// Meta sends Unix seconds as a string; a missing or odd value becomes the epoch, which
// sorts before anything real instead of pretending to be "now".
function unixSeconds(value: string | undefined): Date {
  return new Date(value && /^\d+$/.test(value) ? Number(value) * 1000 : 0)
}
