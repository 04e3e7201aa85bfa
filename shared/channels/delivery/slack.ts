// Outbound Slack: the agent's answer in the thread the user wrote in.
//
// - showSlackThinking: while the agent works, a visible status. In an assistant thread
//   (Slack's AI app surface) assistant.threads.setStatus; elsewhere a "_Thinking…_"
//   placeholder in the thread, posted once per inbound message (its ts is recorded, so a
//   retried job reuses it) and later replaced in place by the answer.
// - updateSlackDraft: progressive answers, by editing the placeholder in place.
// - deliverSlackReply: Markdown → mrkdwn, split into Slack-sized parts; the first part
//   replaces the placeholder (chat.update is idempotent), the rest are posted in the
//   thread; each part's ts is recorded the moment Slack returns it, so a retried delivery
//   resumes instead of posting twice. The client waits out 429 Retry-After (up to
//   maxRetryAfterSeconds) and resends: Slack did not process a rate-limited call.
//   Channel errors come back as outcomes: retry (rate limit, outage) or undeliverable
//   (token revoked, channel gone).
import {
  createSlackWebClient,
  SlackApiError,
  SlackRateLimitedError,
  toSlackMessages,
  type Sleep,
} from '../slack/mod.ts'
import { slackConfirmationActions } from '../slack/buttons.ts'
import type { SlackThreadRef } from '../slack/threads.ts'
import { partsRecord, type DeliveryOutcome, type DeliveryProgressStore } from './progress.ts'
import type { ConfirmationButtons } from '../confirmation.ts'

export { readSlackChannelContext, type SlackThreadRef } from '../slack/threads.ts'

export interface SlackClientConfig {
  /** The connection's bot token (api.get_channel_token). */
  token: string
  /** SLACK_API_URL; Slack itself by default. */
  apiUrl?: string
  fetch?: typeof fetch
  sleep?: Sleep
  /** A longer Retry-After is handed back as a retry outcome instead of slept through. */
  maxRetryAfterSeconds?: number
}

const PLACEHOLDER_TEXT = '_Thinking…_'

function client(config: SlackClientConfig) {
  return createSlackWebClient({
    token: config.token,
    apiUrl: config.apiUrl,
    fetch: config.fetch,
    sleep: config.sleep,
    maxRetryAfterSeconds: config.maxRetryAfterSeconds,
  })
}

export interface ShowSlackThinkingInput {
  slack: SlackClientConfig
  thread: SlackThreadRef
  /** Progress of the inbound message being answered (its placeholder is recorded there). */
  progress: DeliveryProgressStore
  /** Use assistant.threads.setStatus (assistant threads only) instead of a placeholder. */
  assistantThread?: boolean
  status?: string
}

/** Shows that the agent is working; returns the placeholder's ts (null with a status line). */
export async function showSlackThinking(input: ShowSlackThinkingInput): Promise<string | null> {
  const slack = client(input.slack)
  if (input.assistantThread && input.thread.threadTs) {
    try {
      await slack.setAssistantStatus({
        channelId: input.thread.channelId,
        threadTs: input.thread.threadTs,
        status: input.status ?? 'is thinking…',
      })
      return null
    } catch {
      // Not an assistant thread after all: fall back to a placeholder.
    }
  }
  const recorded = await input.progress.load()
  const existing = recorded['slack_placeholder_ts']
  if (typeof existing === 'string' && existing) return existing
  const posted = await slack.postMessage({
    channel: input.thread.channelId,
    threadTs: input.thread.threadTs ?? undefined,
    text: input.status ? `_${input.status}_` : PLACEHOLDER_TEXT,
  })
  await input.progress.save({ slack_placeholder_ts: posted.ts, slack_channel: posted.channel })
  return posted.ts
}

/** Replaces the placeholder with the answer so far (streamed / progressive answers). */
export async function updateSlackDraft(input: {
  slack: SlackClientConfig
  thread: SlackThreadRef
  placeholderTs: string
  markdown: string
}): Promise<void> {
  const [first] = toSlackMessages(input.markdown || '…')
  await client(input.slack).updateMessage({
    channel: input.thread.channelId,
    ts: input.placeholderTs,
    text: first ?? '…',
  })
}

export interface DeliverSlackReplyInput {
  slack: SlackClientConfig
  thread: SlackThreadRef
  /** The recorded reply: its id, Markdown text, and where its delivery progress lives. */
  message: { id: string; text: string }
  progress: DeliveryProgressStore
  /** The "thinking" placeholder to turn into the first part of the answer. */
  placeholderTs?: string | null
  confirmation?: ConfirmationButtons | null
}

export async function deliverSlackReply(input: DeliverSlackReplyInput): Promise<DeliveryOutcome> {
  const slack = client(input.slack)
  const parts = toSlackMessages(input.message.text.trim() ? input.message.text : '…')
  try {
    const progress = await input.progress.load()
    const done = partsRecord(progress, 'slack_parts')
    const resumed = Object.keys(done).length > 0
    for (const [index, part] of parts.entries()) {
      if (done[String(index)]) continue
      const last = index === parts.length - 1
      const blocks =
        last && input.confirmation
          ? [
              { type: 'section', text: { type: 'mrkdwn', text: part } },
              slackConfirmationActions(input.confirmation.toolCallId),
            ]
          : undefined
      let ts: string
      if (index === 0 && input.placeholderTs) {
        // Editing in place is idempotent: a retry rewrites the same message.
        ts = (
          await slack.updateMessage({ channel: input.thread.channelId, ts: input.placeholderTs, text: part, blocks })
        ).ts
      } else {
        ts = (
          await slack.postMessage({
            channel: input.thread.channelId,
            threadTs: input.thread.threadTs ?? undefined,
            text: part,
            blocks,
            metadata: { event_type: 'konstruct_reply', event_payload: { message_id: input.message.id, part: index } },
          })
        ).ts
      }
      done[String(index)] = ts
      await input.progress.save({ slack_parts: { ...done }, slack_channel: input.thread.channelId })
    }
    return { outcome: 'sent', externalId: done['0']!, parts: parts.length, resumed, via: 'text' }
  } catch (error) {
    return slackOutcome(error)
  }
}

function slackOutcome(error: unknown): DeliveryOutcome {
  if (error instanceof SlackRateLimitedError) {
    return { outcome: 'retry', reason: error.message, retryAfterMs: error.retryAfterSeconds * 1000 }
  }
  if (error instanceof SlackApiError) {
    const permanent =
      error.isAuthError ||
      ['channel_not_found', 'not_in_channel', 'is_archived', 'msg_too_long', 'message_not_found'].includes(error.code)
    return permanent
      ? { outcome: 'undeliverable', reason: `Slack refused the message: ${error.code}` }
      : { outcome: 'retry', reason: error.message, retryAfterMs: null }
  }
  return {
    outcome: 'retry',
    reason: error instanceof Error ? error.message : 'Slack could not be reached',
    retryAfterMs: null,
  }
}
