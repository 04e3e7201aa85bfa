// The whatsapp-webhook function: one platform app's webhook for every tenant's numbers.
//
// GET  Meta's subscription handshake: echo hub.challenge when hub.verify_token matches
//      WHATSAPP_VERIFY_TOKEN (constant time), else 403.
// POST 1. Raw body (413 over 1 MiB), X-Hub-Signature-256 under WHATSAPP_APP_SECRET on the
//         bytes as received; any failure is an opaque 401, nothing stored.
//      2. Each message and status is routed by its phone_number_id and the delivery's
//         business account; an unknown or disabled number is logged and skipped (Meta
//         still gets its 200).
//      3. Messages (text, interactive replies, template buttons, media with captions) are
//         routed and stored in one call, api.ingest_whatsapp_message (api.ingest_message
//         behind it), idempotent on the wamid: a redelivery stores nothing. A "talk to a
//         human" button resolves the connection first, to escalate before storing.
//      4. Statuses (sent/delivered/read/failed) go to api.record_delivery_status, which never
//         moves a message backwards.
//      Meta retries non-2xx deliveries for days; a database failure answers 503 so the
//      batch comes again (everything in it is idempotent).
import { readRawBody } from '../../net/request-body.ts'
import {
  answerWhatsAppHandshake,
  parseWhatsAppWebhookBody,
  verifyWhatsAppSignature,
  type WhatsAppInboundMessage,
  type WhatsAppStatusUpdate,
} from '../whatsapp/mod.ts'
import { type Api, ApiError } from '../../api/client.ts'
import { projectFromEnv, serviceApi } from '../../api/project.ts'
import { type Env, requireEnv } from '../../runtime/env.ts'
import { consoleLog, describeError, type Log, text, unauthorized } from '../../runtime/http.ts'
import { reportUnstorable } from './unstorable.ts'
import { isUnstorable } from '../../api/storable-text.ts'
import { confirmationAnswerText, readButtonValue } from '../confirmation.ts'

export interface WhatsAppWebhookConfig {
  appSecret: string
  verifyToken: string
  rpc: Api
  log?: Log
}

export function whatsAppWebhookConfigFromEnv(env: Env): WhatsAppWebhookConfig {
  return {
    appSecret: requireEnv(env, 'WHATSAPP_APP_SECRET'),
    verifyToken: requireEnv(env, 'WHATSAPP_VERIFY_TOKEN'),
    rpc: serviceApi(projectFromEnv(env)),
  }
}

interface WhatsAppConnection {
  connection_id: string
  tenant_id: string
  status: string
}

/** What the WhatsApp sender reads back from the conversation. */
export interface WhatsAppChannelContext {
  whatsapp_phone_number_id: string
  whatsapp_to: string
  /** The customer's latest message, to mark it read or reply to it. */
  whatsapp_last_message_id: string
}

export function createWhatsAppWebhookHandler(config: WhatsAppWebhookConfig): (req: Request) => Promise<Response> {
  if (!config.appSecret) throw new Error('WHATSAPP_APP_SECRET is not set')
  if (!config.verifyToken) throw new Error('WHATSAPP_VERIFY_TOKEN is not set')
  const log = config.log ?? consoleLog

  return async (req) => {
    if (req.method === 'GET') {
      const handshake = answerWhatsAppHandshake({
        query: new URL(req.url).searchParams,
        verifyToken: config.verifyToken,
      })
      if (!handshake.ok) {
        log('whatsapp_webhook.handshake_refused', { reason: handshake.reason })
        return text(403, 'forbidden')
      }
      return text(200, handshake.challenge)
    }
    if (req.method !== 'POST') return text(405, 'method not allowed', { allow: 'GET, POST' })

    const body = await readRawBody(req)
    if (!body.ok) return body.reason === 'too_large' ? text(413, 'payload too large') : text(400, 'bad request')
    const verification = await verifyWhatsAppSignature({
      appSecret: config.appSecret,
      body: body.bytes,
      header: req.headers.get('x-hub-signature-256'),
    })
    if (!verification.ok) {
      log('whatsapp_webhook.rejected', { reason: verification.reason })
      return unauthorized()
    }
    const parsed = parseWhatsAppWebhookBody(body.text)
    if (!parsed.ok) {
      log('whatsapp_webhook.bad_payload', { error: parsed.error })
      return text(400, 'bad request')
    }
    const { messages, statuses, errors } = parsed.webhook
    for (const problem of errors) log('whatsapp_webhook.number_errors', problem)

    try {
      // A number routes to the connection that proved control of it, and only when the
      // delivery names the same business account (entry.id): both ids must match.
      const connections = new Map<string, WhatsAppConnection | null>()
      const connectionOf = async (phoneNumberId: string, businessAccountId: string | null) => {
        const key = `${businessAccountId ?? ''}/${phoneNumberId}`
        if (!connections.has(key)) {
          connections.set(
            key,
            businessAccountId
              ? await config.rpc<WhatsAppConnection | null>('resolve_whatsapp_connection', {
                  phone_number_id: phoneNumberId,
                  business_account_id: businessAccountId,
                })
              : null,
          )
        }
        const connection = connections.get(key) ?? null
        if (!connection) {
          log('whatsapp_webhook.unknown_number', {
            phone_number_id: phoneNumberId,
            business_account_id: businessAccountId,
          })
        } else if (connection.status !== 'active') {
          log('whatsapp_webhook.connection_disabled', { connection_id: connection.connection_id })
          return null
        }
        return connection
      }

      for (const message of messages) {
        try {
          await ingestWhatsAppMessage(config.rpc, log, connectionOf, message)
        } catch (error) {
          // One message the database can never take must not hold back the rest of the
          // delivery, nor make Meta redeliver it for days: acknowledge, and tell the admins.
          if (!(error instanceof ApiError) || !isUnstorable(error.code)) throw error
          const connection = await connectionOf(message.phoneNumberId, message.businessAccountId)
          if (connection) await reportUnstorable(config.rpc, log, connection, 'whatsapp', message.messageId, error)
        }
      }
      for (const status of statuses) {
        const connection = await connectionOf(status.phoneNumberId, status.businessAccountId)
        if (!connection) continue
        await applyWhatsAppStatus(config.rpc, log, connection, status)
      }
      return text(200, 'ok')
    } catch (error) {
      // Disabled between the lookup and the ingest: nothing to store, nothing to retry.
      if (error instanceof ApiError && error.code === 'KO005') return text(200, 'ok')
      log('whatsapp_webhook.failed', { error: describeError(error) })
      return text(503, 'try again')
    }
  }
}

type ConnectionOf = (phoneNumberId: string, businessAccountId: string | null) => Promise<WhatsAppConnection | null>

interface IngestedWhatsApp {
  outcome: 'ingested' | 'unknown_number' | 'disabled'
  connection_id?: string
  message_id?: string
  duplicate?: boolean
  enqueued?: boolean
}

async function ingestWhatsAppMessage(
  rpc: Api,
  log: Log,
  connectionOf: ConnectionOf,
  message: WhatsAppInboundMessage,
): Promise<void> {
  const { content } = message
  if (content.type === 'unsupported') {
    // Reactions, locations, contacts …: nothing the agent can answer yet.
    log('whatsapp_webhook.unsupported_message', { type: content.originalType, message_id: message.messageId })
    return
  }
  // A reply button under a confirmation (../confirmation.ts): the answer the agent worker
  // reads is the button's id, not its title. "Talk to a human" escalates first, so
  // the message is stored for the humans without waking the agent.
  const buttonId = content.type === 'interactive' ? content.replyId : content.type === 'button' ? content.payload : null
  const decision = readButtonValue(buttonId)
  const attachments =
    content.type === 'media'
      ? [
          {
            type: content.mediaType,
            whatsapp_media_id: content.mediaId,
            mime_type: content.mimeType,
            filename: content.filename,
            caption: content.caption,
          },
        ]
      : []
  const channelContext: WhatsAppChannelContext = {
    whatsapp_phone_number_id: message.phoneNumberId,
    whatsapp_to: message.from,
    whatsapp_last_message_id: message.messageId,
  }
  const stored = {
    external_id: message.messageId,
    // One running conversation per customer and business number (the thread is the sender).
    external_user_id: message.from,
    text:
      decision?.kind === 'tool'
        ? confirmationAnswerText(decision.choice, decision.toolCallId)
        : message.text === ''
          ? null
          : message.text,
    user_display_name: message.contactName,
    attachments,
    channel_context: channelContext,
    metadata: {
      whatsapp_type: content.type,
      whatsapp_timestamp: message.timestamp.toISOString(),
      ...(content.type === 'interactive' ? { whatsapp_reply_id: content.replyId } : {}),
      ...(content.type === 'button' && content.payload ? { whatsapp_button_payload: content.payload } : {}),
      ...(message.replyToMessageId ? { whatsapp_reply_to: message.replyToMessageId } : {}),
    },
  }
  let result: IngestedWhatsApp
  if (decision?.kind === 'human') {
    // Escalated first, so the message is stored for the humans without waking the agent.
    const connection = await connectionOf(message.phoneNumberId, message.businessAccountId)
    if (!connection) return
    await rpc('escalate_channel_thread', {
      connection_id: connection.connection_id,
      thread_key: message.from,
      reason: 'Asked for a human (WhatsApp button)',
    })
    try {
      const answer = await rpc<IngestedWhatsApp>('ingest_message', {
        connection_id: connection.connection_id,
        thread_key: message.from,
        ...stored,
      })
      result = { ...answer, outcome: 'ingested', connection_id: connection.connection_id }
    } catch (error) {
      // Disabled between the lookup and the ingest: nothing to store, nothing to retry.
      if (error instanceof ApiError && error.code === 'KO005') return
      throw error
    }
  } else {
    result = await rpc<IngestedWhatsApp>('ingest_whatsapp_message', {
      phone_number_id: message.phoneNumberId,
      business_account_id: message.businessAccountId,
      ...stored,
    })
  }
  if (result.outcome === 'unknown_number') {
    log('whatsapp_webhook.unknown_number', {
      phone_number_id: message.phoneNumberId,
      business_account_id: message.businessAccountId,
    })
  } else if (result.outcome === 'disabled') {
    log('whatsapp_webhook.connection_disabled', { connection_id: result.connection_id })
  } else {
    log('whatsapp_webhook.ingested', {
      connection_id: result.connection_id,
      message_id: result.message_id,
      duplicate: result.duplicate,
      enqueued: result.enqueued,
    })
  }
}

async function applyWhatsAppStatus(
  rpc: Api,
  log: Log,
  connection: WhatsAppConnection,
  status: WhatsAppStatusUpdate,
): Promise<void> {
  const error = status.errors[0]
  const reason = error ? [error.code, error.title, error.details].filter((part) => part !== null).join(' ') : null
  const result = await rpc<{ found: boolean; changed: boolean }>('record_delivery_status', {
    connection_id: connection.connection_id,
    external_id: status.messageId,
    status: status.status,
    error: reason,
  })
  log('whatsapp_webhook.status', { status: status.status, found: result.found, changed: result.changed })
}
