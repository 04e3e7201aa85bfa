// Outbound Slack: the agent's answer in the thread the user wrote in.
//
// - showSlackThinking: while the agent works, a visible status. In an assistant thread
//   (Slack's AI app surface) assistant.threads.setStatus; in any other thread Slack's
//   native streaming (../slack/stream.ts): the answer's message is opened at once with
//   chat.startStream and shows Slack's own "working" state. Where streaming is not
//   available (the method is refused, or a DM answered top-level, which is no thread) a
//   "_Thinking…_" placeholder in the thread. Either is made once per inbound message (its
//   ts is recorded, so a retried job reuses it).
// - updateSlackDraft: progressive answers, by editing the placeholder in place.
// - deliverSlackReply: into an open stream, the Markdown as it is (chat.appendStream in
//   pieces Slack accepts, then chat.stopStream with the confirmation buttons); otherwise
//   Markdown → mrkdwn, split into Slack-sized parts; the first part replaces the
//   placeholder (chat.update is idempotent), the rest are posted in the thread. Each step
//   is recorded the moment Slack accepts it, so a retried delivery resumes instead of
//   posting twice; a stream a retry cannot be sure of (an append may have landed
//   unrecorded) is closed and rewritten in place with chat.update. The text client waits
//   out 429 Retry-After (up to maxRetryAfterSeconds) and resends: Slack did not process a
//   rate-limited call. Channel errors come back as outcomes: retry (rate limit, outage)
//   or undeliverable (token revoked, channel gone).
import {
  createSlackWebClient,
  SlackApiError,
  SlackRateLimitedError,
  toSlackMessages,
  type Sleep,
} from '../slack/mod.ts'
import { slackConfirmationActions } from '../slack/buttons.ts'
import { streamingRefused, streamPieces } from '../slack/stream.ts'
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
  /** Who the answer is for (Slack user and team ids); a stream outside a DM needs them. */
  recipient?: { userId: string | null; teamId: string | null }
}

/**
 * Shows that the agent is working; returns the ts of the message the answer will take
 * over (the stream's or the placeholder's), or null with a status line.
 */
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
  const stream = recorded['slack_stream_ts']
  if (typeof stream === 'string' && stream) return stream
  const existing = recorded['slack_placeholder_ts']
  if (typeof existing === 'string' && existing) return existing
  if (input.thread.threadTs) {
    try {
      const started = await slack.startStream({
        channel: input.thread.channelId,
        thread_ts: input.thread.threadTs,
        ...(input.recipient?.userId ? { recipient_user_id: input.recipient.userId } : {}),
        ...(input.recipient?.teamId ? { recipient_team_id: input.recipient.teamId } : {}),
      })
      await input.progress.save({ slack_stream_ts: started.ts, slack_channel: started.channel })
      return started.ts
    } catch (error) {
      if (!streamingRefused(error)) throw error
      // Streaming is not available here: the placeholder stands in for it.
    }
  }
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
  /** The stream opened while the agent worked (showSlackThinking): the answer goes into it. */
  streamTs?: string | null
  confirmation?: ConfirmationButtons | null
}

export async function deliverSlackReply(input: DeliverSlackReplyInput): Promise<DeliveryOutcome> {
  if (input.streamTs) {
    const streamed = await streamSlackReply(input, input.streamTs)
    if (streamed) return streamed
    // The stream could not take the answer: the stream's message is rewritten in place.
    return deliverSlackText({ ...input, placeholderTs: input.streamTs })
  }
  return deliverSlackText(input)
}

const replyMetadata = (messageId: string, part: number) => ({
  event_type: 'konstruct_reply',
  event_payload: { message_id: messageId, part },
})

/**
 * The answer into its open stream: appended in pieces, then stopped with the buttons.
 * Returns null when the stream cannot take it (Slack refused, or a retry cannot know
 * what an earlier attempt appended); the caller then rewrites the message in place.
 */
async function streamSlackReply(input: DeliverSlackReplyInput, ts: string): Promise<DeliveryOutcome | null> {
  const slack = client(input.slack)
  const channel = input.thread.channelId
  try {
    const progress = await input.progress.load()
    if (progress['slack_stream_stopped'] === ts) {
      return { outcome: 'sent', externalId: ts, parts: 1, resumed: true, via: 'stream' }
    }
    if (progress['slack_stream_appending'] === ts) {
      await slack.stopStream({ channel, ts }).catch(() => {})
      return null
    }
    await input.progress.save({ slack_stream_appending: ts, slack_channel: channel })
    for (const piece of streamPieces(input.message.text.trim() ? input.message.text : '…')) {
      await slack.appendStream({ channel, ts, markdown_text: piece })
    }
    await slack.stopStream({
      channel,
      ts,
      ...(input.confirmation ? { blocks: [slackConfirmationActions(input.confirmation.toolCallId) as never] } : {}),
      metadata: replyMetadata(input.message.id, 0),
    })
    await input.progress.save({ slack_stream_stopped: ts, slack_parts: { '0': ts } })
    return { outcome: 'sent', externalId: ts, parts: 1, resumed: false, via: 'stream' }
  } catch (error) {
    if (error instanceof SlackApiError && !error.isAuthError) {
      await slack.stopStream({ channel, ts }).catch(() => {})
      return null
    }
    return slackOutcome(error)
  }
}

async function deliverSlackText(input: DeliverSlackReplyInput): Promise<DeliveryOutcome> {
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
            metadata: replyMetadata(input.message.id, index),
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
