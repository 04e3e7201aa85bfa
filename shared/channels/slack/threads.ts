// How a Slack message maps onto a Konstruct conversation, shared by the events and
// interactions functions and the outbound delivery so all three agree on it.
//
// A thread is one conversation: `<channel>:<thread_ts>`. A plain DM (written outside any
// thread) is one running conversation per DM channel, `<channel>`, answered top-level, as
// people expect from a direct message.

export interface SlackThreadRef {
  channelId: string
  /** The thread to reply in; null for a DM conversation answered top-level. */
  threadTs: string | null
}

export function slackThreadKey(ref: SlackThreadRef): string {
  return ref.threadTs ? `${ref.channelId}:${ref.threadTs}` : ref.channelId
}

/** What the conversation stores in channel_context for the Slack sender. */
export interface SlackChannelContext {
  slack_team_id: string
  slack_channel_id: string
  slack_channel_type: string
  slack_thread_ts: string | null
}

export function readSlackChannelContext(context: unknown): SlackThreadRef | null {
  if (typeof context !== 'object' || context === null) return null
  const record = context as Record<string, unknown>
  const channelId = record['slack_channel_id']
  const threadTs = record['slack_thread_ts']
  if (typeof channelId !== 'string' || !channelId) return null
  return { channelId, threadTs: typeof threadTs === 'string' && threadTs ? threadTs : null }
}
