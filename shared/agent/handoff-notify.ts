// The hand-off Slack DM: when a conversation starts waiting for a human, the people
// a tenant named on its Slack connection (settings.handoff_notify_user_ids, set with
// api.set_handoff_notifications) get a direct message from that workspace's bot with
// the reason and the end of the transcript. Sent through the Slack Web API
// (conversations.open, then chat.postMessage) from its own queue job, so a Slack
// outage is retried without touching the reply to the user.

import { createSlackWebClient } from '../channels/slack/web-api.ts'

export interface HandoffDmInput {
  reason: string
  source: string | null
  channel: 'slack' | 'whatsapp' | 'web_chat'
  contactName: string | null
  agentName: string | null
  /** Oldest first. */
  transcript: ReadonlyArray<{ author: 'contact' | 'agent' | 'member' | 'system'; text: string }>
  conversationUrl: string | null
}

export const DM_TRANSCRIPT_MESSAGES = 8
const DM_MESSAGE_CHARS = 300

const CHANNEL_NAMES = { slack: 'Slack', whatsapp: 'WhatsApp', web_chat: 'web chat' } as const

/** Slack mrkdwn treats &, < and > as markup; user text must not become links or mentions. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function oneLine(text: string, max: number): string {
  const clean = text.replace(/\s+/g, ' ').trim()
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean
}

/** The DM's text (mrkdwn): who, where, why, the last messages and a link to the portal. */
export function buildHandoffDm(input: HandoffDmInput): string {
  const who = escapeMrkdwn(input.contactName?.trim() || 'A contact')
  const speaker = (author: HandoffDmInput['transcript'][number]['author']) =>
    author === 'contact'
      ? who
      : author === 'member'
        ? 'Teammate'
        : author === 'agent'
          ? (input.agentName ?? 'Agent')
          : 'System'
  // A model alert rides the hand-off DM: same people, same link, its own headline.
  const headline =
    input.source === 'model_failing'
      ? `:warning: *Your agents' model is failing*: ${who} was not answered (${CHANNEL_NAMES[input.channel]})`
      : `:raising_hand: *${who} is waiting for a human* (${CHANNEL_NAMES[input.channel]})`
  const lines = [headline, `*Reason:* ${escapeMrkdwn(oneLine(input.reason, 500))}`]
  const excerpt = input.transcript.filter((m) => m.text.trim()).slice(-DM_TRANSCRIPT_MESSAGES)
  if (excerpt.length) {
    lines.push('', '*Last messages:*')
    for (const m of excerpt)
      lines.push(`> *${escapeMrkdwn(speaker(m.author))}:* ${escapeMrkdwn(oneLine(m.text, DM_MESSAGE_CHARS))}`)
  }
  if (input.conversationUrl) lines.push('', `<${input.conversationUrl}|Open the conversation in Konstruct>`)
  return lines.join('\n')
}

export interface HandoffTarget {
  connectionId: string
  userIds: readonly string[]
}

export interface SendHandoffDmsDeps {
  getChannelToken(connectionId: string): Promise<string | null>
  slackApiUrl?: string
  fetch?: typeof fetch
}

export interface HandoffDmOutcome {
  connectionId: string
  userId: string
  ok: boolean
  channel?: string
  ts?: string
  error?: string
}

const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/

/**
 * DMs every target. A user that cannot be reached (Slack answered ok:false: not in the
 * workspace, bot not allowed) is reported and skipped; anything transient (HTTP 5xx,
 * 429 beyond the client's patience, network) is thrown so the job is retried.
 */
export async function sendHandoffDms(
  targets: readonly HandoffTarget[],
  text: string,
  deps: SendHandoffDmsDeps,
): Promise<HandoffDmOutcome[]> {
  const outcomes: HandoffDmOutcome[] = []
  for (const target of targets) {
    const token = await deps.getChannelToken(target.connectionId)
    if (!token) {
      for (const userId of target.userIds)
        outcomes.push({ connectionId: target.connectionId, userId, ok: false, error: 'no_token' })
      continue
    }
    const slack = createSlackWebClient({ token, apiUrl: deps.slackApiUrl, fetch: deps.fetch })
    for (const userId of target.userIds) {
      if (!SLACK_USER_ID.test(userId)) {
        outcomes.push({ connectionId: target.connectionId, userId, ok: false, error: 'invalid_user_id' })
        continue
      }
      try {
        const { channelId } = await slack.openConversation({ users: [userId] })
        const posted = await slack.postMessage({ channel: channelId, text })
        outcomes.push({ connectionId: target.connectionId, userId, ok: true, channel: posted.channel, ts: posted.ts })
      } catch (error) {
        const name = (error as Error)?.name
        if (name === 'SlackApiError') {
          outcomes.push({
            connectionId: target.connectionId,
            userId,
            ok: false,
            error: (error as { code: string }).code,
          })
          continue
        }
        throw error
      }
    }
  }
  return outcomes
}
