// Sending a recorded reply to its channel. The worker records a reply first (once,
// by idempotency key), takes a delivery lease (api.begin_delivery), then calls one of
// these; the outcome is written back as the message's delivery status. A sender
// throws DeliveryFailed: `permanent` when no retry can help (token revoked, outside
// WhatsApp's 24-hour window, channel gone), otherwise the job is retried later.
//
// Web chat has nothing to send: the recorded message reaches the widget through the
// realtime broadcast of the insert. Slack answers in the thread the user wrote in;
// WhatsApp answers the contact's number. A reply that asks to confirm a tool call
// carries `metadata.confirmation` and is sent with buttons (Slack blocks, WhatsApp
// reply buttons) whose values are `confirm:<id>` / `cancel:<id>`.

import { createSlackWebClient, SlackApiError, SlackRateLimitedError, toSlackMessages } from '../channels/slack/mod.ts'
import {
  createWhatsAppClient,
  isInsideServiceWindow,
  toWhatsAppMessages,
  WhatsAppApiError,
  WhatsAppRateLimitError,
} from '../channels/whatsapp/mod.ts'
import type { ConnectionRecord, ConversationRecord } from './store.ts'

export interface DeliveryTarget {
  conversation: ConversationRecord
  connection: ConnectionRecord
  /** The contact's user id on the channel (WhatsApp wa_id, Slack user id, visitor id). */
  recipient: string | null
  message: {
    id: string
    text: string
    authorKind: 'agent' | 'member' | 'system' | 'contact'
    metadata: Record<string, unknown>
  }
}

export interface DeliveryResult {
  /** The channel's id of what was sent (Slack ts, WhatsApp wamid); null for web chat. */
  externalId: string | null
}

export interface ReplyDelivery {
  deliver(target: DeliveryTarget): Promise<DeliveryResult>
}

export type ReplyDeliveries = Record<ConnectionRecord['kind'], ReplyDelivery>

export class DeliveryFailed extends Error {
  override readonly name = 'DeliveryFailed'
  constructor(
    message: string,
    readonly permanent: boolean,
    /** Suggested wait before the next attempt, when the channel said so. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message)
  }
}

export interface ConfirmationRequest {
  toolCallId: string
  summary: string
}

/** The confirm/cancel request a reply carries, if any. */
export function confirmationOf(metadata: Record<string, unknown>): ConfirmationRequest | null {
  const value = metadata['confirmation']
  if (typeof value !== 'object' || value === null) return null
  const { tool_call_id: toolCallId, summary } = value as Record<string, unknown>
  if (typeof toolCallId !== 'string' || typeof summary !== 'string') return null
  return { toolCallId, summary }
}

/** The text sent: a member writes as the business, so their words go out unchanged. */
function outboundText(target: DeliveryTarget): string {
  return target.message.text
}

export const webChatDelivery: ReplyDelivery = {
  // The insert of the message already broadcast it to the widget's channel.
  async deliver() {
    return { externalId: null }
  },
}

export interface ChannelDeliveryDeps {
  /** The connection's bot token / access token from Vault (api.get_channel_token). */
  getChannelToken(connectionId: string): Promise<string | null>
  fetch?: typeof fetch
  slackApiUrl?: string
  whatsappApiUrl?: string
  whatsappApiVersion?: string
  now?: () => Date
}

/** Where a Slack conversation's replies go: channel_context first, then the thread key `C…:ts`. */
export function slackThreadOf(conversation: ConversationRecord): { channel: string; threadTs: string | null } | null {
  const context = conversation.channel_context
  const pick = (...keys: string[]) => {
    for (const key of keys) {
      const value = context[key]
      if (typeof value === 'string' && value) return value
    }
    return null
  }
  const channel = pick('channel_id', 'channel', 'slack_channel_id')
  const threadTs = pick('thread_ts', 'slack_thread_ts')
  if (channel) return { channel, threadTs }
  const match = /^([A-Z0-9]+)[:/](\d+\.\d+)$/.exec(conversation.thread_key)
  return match ? { channel: match[1]!, threadTs: match[2]! } : null
}

export function createSlackDelivery(deps: ChannelDeliveryDeps): ReplyDelivery {
  return {
    async deliver(target) {
      const token = await deps.getChannelToken(target.connection.connection_id)
      if (!token) throw new DeliveryFailed('the Slack connection has no bot token', true)
      const where = slackThreadOf(target.conversation)
      if (!where) throw new DeliveryFailed('the conversation does not say which Slack channel it is in', true)
      const client = createSlackWebClient({ token, apiUrl: deps.slackApiUrl, fetch: deps.fetch })
      const parts = toSlackMessages(outboundText(target))
      const confirmation = confirmationOf(target.message.metadata)
      try {
        let first: string | null = null
        for (const [index, part] of parts.entries()) {
          const last = index === parts.length - 1
          const blocks =
            last && confirmation
              ? [
                  { type: 'section', text: { type: 'mrkdwn', text: part } },
                  {
                    type: 'actions',
                    block_id: `konstruct_confirm_${confirmation.toolCallId}`,
                    elements: [
                      {
                        type: 'button',
                        action_id: 'konstruct_confirm',
                        style: 'primary',
                        text: { type: 'plain_text', text: 'Yes, go ahead' },
                        value: `confirm:${confirmation.toolCallId}`,
                      },
                      {
                        type: 'button',
                        action_id: 'konstruct_cancel',
                        text: { type: 'plain_text', text: 'Cancel' },
                        value: `cancel:${confirmation.toolCallId}`,
                      },
                    ],
                  },
                ]
              : undefined
          const posted = await client.postMessage({
            channel: where.channel,
            threadTs: where.threadTs ?? undefined,
            text: part,
            blocks,
            metadata: { event_type: 'konstruct_reply', event_payload: { message_id: target.message.id, part: index } },
          })
          first ??= posted.ts
        }
        return { externalId: first }
      } catch (error) {
        throw slackFailure(error)
      }
    },
  }
}

function slackFailure(error: unknown): DeliveryFailed {
  if (error instanceof DeliveryFailed) return error
  if (error instanceof SlackRateLimitedError)
    return new DeliveryFailed(error.message, false, error.retryAfterSeconds * 1000)
  if (error instanceof SlackApiError) {
    const permanent =
      error.isAuthError || ['channel_not_found', 'not_in_channel', 'is_archived', 'msg_too_long'].includes(error.code)
    return new DeliveryFailed(error.message, permanent)
  }
  return new DeliveryFailed(error instanceof Error ? error.message : 'Slack could not be reached', false)
}

export function createWhatsAppDelivery(deps: ChannelDeliveryDeps): ReplyDelivery {
  const now = deps.now ?? (() => new Date())
  return {
    async deliver(target) {
      const phoneNumberId = target.connection.whatsapp_phone_number_id
      if (!phoneNumberId) throw new DeliveryFailed('the WhatsApp connection has no phone number id', true)
      if (!target.recipient) throw new DeliveryFailed('the contact has no WhatsApp number', true)
      const lastInbound = target.conversation.last_inbound_at ? new Date(target.conversation.last_inbound_at) : null
      if (!isInsideServiceWindow(lastInbound, now())) {
        // Free-form text is refused outside the window; templates are an admin's choice, not ours.
        throw new DeliveryFailed('more than 24 hours since the customer wrote: only a template may be sent', true)
      }
      const token = await deps.getChannelToken(target.connection.connection_id)
      if (!token) throw new DeliveryFailed('the WhatsApp connection has no access token', true)
      const client = createWhatsAppClient({
        accessToken: token,
        apiUrl: deps.whatsappApiUrl,
        apiVersion: deps.whatsappApiVersion,
        fetch: deps.fetch,
      })
      const confirmation = confirmationOf(target.message.metadata)
      try {
        const parts = toWhatsAppMessages(outboundText(target))
        let first: string | null = null
        for (const [index, part] of parts.entries()) {
          const last = index === parts.length - 1
          const sent =
            last && confirmation && part.length <= 1024
              ? await client.sendButtons({
                  phoneNumberId,
                  to: target.recipient,
                  body: part,
                  buttons: [
                    { id: `confirm:${confirmation.toolCallId}`, title: 'Yes, go ahead' },
                    { id: `cancel:${confirmation.toolCallId}`, title: 'Cancel' },
                  ],
                })
              : await client.sendText({ phoneNumberId, to: target.recipient, text: part })
          first ??= sent.messageId
        }
        return { externalId: first }
      } catch (error) {
        throw whatsAppFailure(error)
      }
    },
  }
}

function whatsAppFailure(error: unknown): DeliveryFailed {
  if (error instanceof DeliveryFailed) return error
  if (error instanceof WhatsAppRateLimitError) return new DeliveryFailed(error.message, false, error.retryAfterMs)
  if (error instanceof WhatsAppApiError) {
    return new DeliveryFailed(error.message, !error.retryable)
  }
  return new DeliveryFailed(error instanceof Error ? error.message : 'WhatsApp could not be reached', false)
}

export function createReplyDeliveries(deps: ChannelDeliveryDeps): ReplyDeliveries {
  return {
    web_chat: webChatDelivery,
    slack: createSlackDelivery(deps),
    whatsapp: createWhatsAppDelivery(deps),
  }
}
