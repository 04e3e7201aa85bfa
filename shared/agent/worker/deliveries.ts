// Sending a recorded reply to its channel. The worker records a reply first (once,
// by idempotency key), takes a delivery lease (api.begin_delivery), then calls one of
// these; the outcome is written back as the message's delivery status. A sender
// throws DeliveryFailed: `permanent` when no retry can help (token revoked, outside
// WhatsApp's 24-hour window, channel gone), otherwise the job is retried later.
//
// Web chat has nothing to send: the recorded message reaches the widget through the
// realtime broadcast of the insert. Slack (in the thread the user wrote in: into the
// stream opened while the agent worked, or replacing the "thinking" placeholder) and WhatsApp (to the contact's number, a template outside
// the 24-hour window) use the channel senders in shared/channels/delivery, which record
// each part the moment the channel accepts it, so a retry resumes instead of reposting.
// A reply that asks to confirm a tool call carries `metadata.confirmation` and is sent
// with the confirmation buttons of shared/channels/confirmation.ts.

import type { DeliveryOutcome, DeliveryProgressStore } from '../../channels/delivery/progress.ts'
import {
  deliverSlackReply,
  readSlackChannelContext,
  showSlackThinking,
  type SlackThreadRef,
} from '../../channels/delivery/slack.ts'
import { createSlackWebClient, SlackApiError } from '../../channels/slack/web-api.ts'
import { deliverWhatsAppReply, whatsAppTemplateOf } from '../../channels/delivery/whatsapp.ts'
import type { ConnectionRecord, ConversationRecord } from '../store.ts'

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

export interface ThinkingTarget {
  conversation: ConversationRecord
  connection: ConnectionRecord
  /** The contact's message being answered; the channel records its placeholder there. */
  inboundMessageId: string
  /** The contact's user id on the channel (Slack: who a streamed answer is for). */
  recipient?: string | null
}

export interface ReplyDelivery {
  deliver(target: DeliveryTarget): Promise<DeliveryResult>
  /**
   * Storing the message is delivering it (web chat: the insert broadcast it to the widget):
   * a reply is then marked sent, and its job completed, in the call that records it.
   */
  deliveredOnRecord?: boolean
  /** A visible "working on it" while the model thinks (Slack); best effort. */
  showThinking?(target: ThinkingTarget): Promise<void>
  /** Takes that "working on it" away when no answer will replace it (an answer withheld). */
  clearThinking?(target: ThinkingTarget): Promise<void>
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
  deliveredOnRecord: true,
  async deliver() {
    return { externalId: null }
  },
}

export interface ChannelDeliveryDeps {
  /** The connection's bot token / access token from Vault (api.get_channel_token). */
  getChannelToken(connectionId: string): Promise<string | null>
  /** Where a message's delivery progress is kept (api.get_outbound_delivery / record_delivery_progress). */
  progressStore(tenantId: string, messageId: string): DeliveryProgressStore
  fetch?: typeof fetch
  slackApiUrl?: string
  whatsappApiUrl?: string
  whatsappApiVersion?: string
  now?: () => Date
}

/** Where a Slack conversation's replies go: channel_context first, then the thread key `C…:ts`. */
export function slackThreadOf(conversation: ConversationRecord): SlackThreadRef | null {
  const stored = readSlackChannelContext(conversation.channel_context)
  if (stored) return stored
  const context = conversation.channel_context
  const channel = typeof context['channel_id'] === 'string' ? context['channel_id'] : null
  const threadTs = typeof context['thread_ts'] === 'string' ? context['thread_ts'] : null
  if (channel) return { channelId: channel, threadTs }
  const match = /^([A-Z0-9]+)(?::(\d+\.\d+))?$/.exec(conversation.thread_key)
  return match ? { channelId: match[1]!, threadTs: match[2] ?? null } : null
}

/** A sender's outcome as the worker's: sent, or DeliveryFailed (permanent or not). */
function settle(outcome: DeliveryOutcome): DeliveryResult {
  if (outcome.outcome === 'sent') return { externalId: outcome.externalId }
  if (outcome.outcome === 'undeliverable') throw new DeliveryFailed(outcome.reason, true)
  throw new DeliveryFailed(outcome.reason, false, outcome.retryAfterMs)
}

function inReplyTo(target: DeliveryTarget): string | null {
  const value = target.message.metadata['in_reply_to']
  return typeof value === 'string' ? value : null
}

export function createSlackDelivery(deps: ChannelDeliveryDeps): ReplyDelivery {
  const slackConfig = async (connectionId: string) => {
    const token = await deps.getChannelToken(connectionId)
    if (!token) throw new DeliveryFailed('the Slack connection has no bot token', true)
    return { token, apiUrl: deps.slackApiUrl, fetch: deps.fetch }
  }
  return {
    async showThinking(target) {
      const thread = slackThreadOf(target.conversation)
      if (!thread) return
      await showSlackThinking({
        slack: await slackConfig(target.connection.connection_id),
        thread,
        progress: deps.progressStore(target.conversation.tenant_id, target.inboundMessageId),
        assistantThread: target.conversation.channel_context['slack_channel_type'] === 'im',
        recipient: {
          userId: target.recipient ?? null,
          teamId: stringOf(target.conversation.channel_context['slack_team_id']) ?? target.connection.slack_team_id,
        },
      })
    },
    // The "_Thinking…_" placeholder (or the opened stream, closed first) is deleted (a
    // member is about to write in the thread; a note from the bot would only be noise), or
    // an assistant thread's status cleared.
    async clearThinking(target) {
      const thread = slackThreadOf(target.conversation)
      const progress = deps.progressStore(target.conversation.tenant_id, target.inboundMessageId)
      const recorded = await progress.load()
      const { token, apiUrl, fetch } = await slackConfig(target.connection.connection_id)
      const slack = createSlackWebClient({ token, apiUrl, fetch })
      const streamTs = stringOf(recorded['slack_stream_ts'])
      if (streamTs && thread) {
        await slack.stopStream({ channel: thread.channelId, ts: streamTs }).catch(() => {})
        try {
          await slack.deleteMessage({ channel: thread.channelId, ts: streamTs })
        } catch (error) {
          if (!(error instanceof SlackApiError && error.code === 'message_not_found')) throw error
        }
        await progress.save({ slack_stream_ts: null, slack_stream_deleted_ts: streamTs })
        return
      }
      const placeholderTs = recorded['slack_placeholder_ts']
      if (typeof placeholderTs === 'string' && placeholderTs) {
        const channel = typeof recorded['slack_channel'] === 'string' ? recorded['slack_channel'] : thread?.channelId
        if (!channel) return
        try {
          await slack.deleteMessage({ channel, ts: placeholderTs })
        } catch (error) {
          if (!(error instanceof SlackApiError && error.code === 'message_not_found')) throw error
        }
        await progress.save({ slack_placeholder_ts: null, slack_placeholder_deleted_ts: placeholderTs })
        return
      }
      if (thread?.threadTs && target.conversation.channel_context['slack_channel_type'] === 'im') {
        await slack.setAssistantStatus({ channelId: thread.channelId, threadTs: thread.threadTs, status: '' })
      }
    },
    async deliver(target) {
      const thread = slackThreadOf(target.conversation)
      if (!thread) throw new DeliveryFailed('the conversation does not say which Slack channel it is in', true)
      const slack = await slackConfig(target.connection.connection_id)
      // The stream opened (or the "thinking" placeholder posted) for the message being
      // answered becomes the answer.
      const inbound = inReplyTo(target)
      let placeholderTs: string | null = null
      let streamTs: string | null = null
      if (inbound) {
        const recorded = await deps.progressStore(target.conversation.tenant_id, inbound).load()
        placeholderTs = stringOf(recorded['slack_placeholder_ts'])
        streamTs = stringOf(recorded['slack_stream_ts'])
      }
      const confirmation = confirmationOf(target.message.metadata)
      return settle(
        await deliverSlackReply({
          slack,
          thread,
          message: { id: target.message.id, text: outboundText(target) },
          progress: deps.progressStore(target.conversation.tenant_id, target.message.id),
          placeholderTs,
          streamTs,
          confirmation: confirmation ? { toolCallId: confirmation.toolCallId } : null,
        }),
      )
    },
  }
}

function stringOf(value: unknown): string | null {
  return typeof value === 'string' && value ? value : null
}

export function createWhatsAppDelivery(deps: ChannelDeliveryDeps): ReplyDelivery {
  const now = deps.now ?? (() => new Date())
  return {
    async deliver(target) {
      const phoneNumberId = target.connection.whatsapp_phone_number_id
      if (!phoneNumberId) throw new DeliveryFailed('the WhatsApp connection has no phone number id', true)
      if (!target.recipient) throw new DeliveryFailed('the contact has no WhatsApp number', true)
      const token = await deps.getChannelToken(target.connection.connection_id)
      if (!token) throw new DeliveryFailed('the WhatsApp connection has no access token', true)
      const confirmation = confirmationOf(target.message.metadata)
      const lastInbound = target.conversation.last_inbound_at ? new Date(target.conversation.last_inbound_at) : null
      return settle(
        await deliverWhatsAppReply({
          whatsapp: {
            accessToken: token,
            apiUrl: deps.whatsappApiUrl,
            apiVersion: deps.whatsappApiVersion,
            fetch: deps.fetch,
          },
          phoneNumberId,
          to: target.recipient,
          message: { id: target.message.id, text: outboundText(target) },
          progress: deps.progressStore(target.conversation.tenant_id, target.message.id),
          lastInboundAt: lastInbound,
          now: now(),
          template: whatsAppTemplateOf(target.connection.settings),
          confirmation: confirmation ? { toolCallId: confirmation.toolCallId } : null,
        }),
      )
    },
  }
}

export function createReplyDeliveries(deps: ChannelDeliveryDeps): ReplyDeliveries {
  return {
    web_chat: webChatDelivery,
    slack: createSlackDelivery(deps),
    whatsapp: createWhatsAppDelivery(deps),
  }
}
