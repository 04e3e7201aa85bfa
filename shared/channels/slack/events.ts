// Turns a verified Slack Events API body into the few things Konstruct acts on: a user's
// message to an agent (mention, DM or reply in a thread), an uninstall, a token revocation,
// or the URL handshake. Everything else is classified as ignored with a reason, because
// Slack expects a 200 for events we do not handle (a non-2xx only earns retries).
import { isRecord, parseJson, recordArrayField, recordField, stringField, type JsonRecord } from '../payload-fields.ts'
import { slackFileAttachments, type SlackAttachment } from '../attachments.ts'

/** How the user addressed the agent; the ingest call decides whether a thread reply is for us. */
export type SlackMessageKind = 'app_mention' | 'direct_message' | 'thread_reply'

export interface SlackInboundMessage {
  kind: SlackMessageKind
  teamId: string
  enterpriseId: string | null
  channelId: string
  /** 'im' for DMs; 'channel', 'group' or 'mpim' otherwise. */
  channelType: string
  /** The thread to answer in: the parent's ts, or this message's own ts to start a thread. */
  threadTs: string
  /** The message's own ts: with channelId, Slack's unique id for it. */
  ts: string
  /** True when the message was written inside an existing thread (e.g. to answer a plain DM top-level). */
  inThread: boolean
  userId: string
  /** The text with mentions of our own bot removed (Slack's own markup otherwise kept). */
  text: string
  /** Unique per event across retries; the idempotency key for ingest. */
  eventId: string
  eventTime: Date | null
  /** Our bot's user id in this workspace, when Slack told us. */
  botUserId: string | null
  /** Files shared with the message (subtype file_share), as stored attachments. */
  files: SlackAttachment[]
}

export type SlackIgnoreReason =
  | 'bot_message'
  | 'own_message'
  | 'edited'
  | 'deleted'
  | 'membership_change'
  | 'hidden'
  | 'unsupported_subtype'
  | 'no_user'
  | 'channel_message_not_for_agent'
  | 'mention_delivered_as_app_mention'
  | 'unsupported_event'
  | 'app_rate_limited'

export type SlackEvent =
  | { type: 'url_verification'; challenge: string }
  | { type: 'message'; message: SlackInboundMessage }
  | { type: 'app_uninstalled'; teamId: string; enterpriseId: string | null; eventId: string }
  | {
      type: 'tokens_revoked'
      teamId: string
      enterpriseId: string | null
      eventId: string
      /** User ids whose bot tokens were revoked (our bot user when the bot token went). */
      botUserIds: string[]
      oauthUserIds: string[]
    }
  | { type: 'ignored'; reason: SlackIgnoreReason; teamId: string | null; eventId: string | null; detail?: string }

export type SlackEventParse = { ok: true; event: SlackEvent } | { ok: false; error: 'invalid_json' | 'invalid_payload' }

export interface SlackEventParseOptions {
  /** Our bot user id if already known for the team (from the stored installation). */
  botUserId?: string | null
}

// Subtypes that are still a person talking to us; every other subtype is ignored.
const USER_SUBTYPES = new Set(['file_share', 'thread_broadcast'])
const MEMBERSHIP_SUBTYPES = new Set([
  'channel_join',
  'channel_leave',
  'group_join',
  'group_leave',
  'channel_topic',
  'channel_purpose',
  'channel_name',
])

/** Parses the raw (already verified) request body. */
export function parseSlackEventBody(body: string, options: SlackEventParseOptions = {}): SlackEventParse {
  const json = parseJson(body)
  if (!json.ok) return { ok: false, error: 'invalid_json' }
  return parseSlackEvent(json.value, options)
}

export function parseSlackEvent(payload: unknown, options: SlackEventParseOptions = {}): SlackEventParse {
  if (!isRecord(payload)) return { ok: false, error: 'invalid_payload' }
  const type = stringField(payload, 'type')

  if (type === 'url_verification') {
    const challenge = stringField(payload, 'challenge')
    return challenge ? { ok: true, event: { type: 'url_verification', challenge } } : invalid()
  }
  if (type === 'app_rate_limited') {
    // Slack tells us it dropped events for this workspace; nothing to store, only to log.
    return ignored('app_rate_limited', stringField(payload, 'team_id') ?? null, null)
  }
  if (type !== 'event_callback') return invalid()

  const event = recordField(payload, 'event')
  const eventId = stringField(payload, 'event_id')
  const envelopeTeam = stringField(payload, 'team_id')
  if (!event || !eventId) return invalid()
  const teamId = envelopeTeam ?? stringField(event, 'team') ?? null
  if (!teamId) return invalid()
  const enterpriseId = stringField(payload, 'enterprise_id') ?? null
  const botUserId = options.botUserId ?? ourBotUserId(payload)

  switch (stringField(event, 'type')) {
    case 'app_uninstalled':
      return { ok: true, event: { type: 'app_uninstalled', teamId, enterpriseId, eventId } }
    case 'tokens_revoked': {
      const tokens = recordField(event, 'tokens') ?? {}
      return {
        ok: true,
        event: {
          type: 'tokens_revoked',
          teamId,
          enterpriseId,
          eventId,
          botUserIds: stringArray(tokens['bot']),
          oauthUserIds: stringArray(tokens['oauth']),
        },
      }
    }
    case 'app_mention':
      return classifyMessage(event, { kind: 'app_mention', teamId, enterpriseId, eventId, payload, botUserId })
    case 'message':
      return classifyMessage(event, { kind: null, teamId, enterpriseId, eventId, payload, botUserId })
    default:
      return ignored('unsupported_event', teamId, eventId, stringField(event, 'type'))
  }
}

interface MessageContext {
  kind: 'app_mention' | null
  teamId: string
  enterpriseId: string | null
  eventId: string
  payload: JsonRecord
  botUserId: string | null
}

function classifyMessage(event: JsonRecord, context: MessageContext): SlackEventParse {
  const { teamId, eventId, botUserId } = context
  const skip = (reason: SlackIgnoreReason, detail?: string) => ignored(reason, teamId, eventId, detail)
  const subtype = stringField(event, 'subtype')

  // Rules, in order; the first that matches decides.
  // 1. Anything a bot wrote, ours included, would make agents answer each other forever.
  if (event['bot_id'] !== undefined || subtype === 'bot_message') return skip('bot_message')
  // 2. Edits and deletions are not new questions.
  if (subtype === 'message_changed' || event['edited'] !== undefined) return skip('edited')
  if (subtype === 'message_deleted') return skip('deleted')
  // 3. Joins, leaves, topic changes: channel housekeeping.
  if (subtype && MEMBERSHIP_SUBTYPES.has(subtype)) return skip('membership_change', subtype)
  if (event['hidden'] === true) return skip('hidden')
  if (subtype && !USER_SUBTYPES.has(subtype)) return skip('unsupported_subtype', subtype)

  const userId = stringField(event, 'user')
  const channelId = stringField(event, 'channel')
  const ts = stringField(event, 'ts')
  if (!channelId || !ts) return invalid()
  // 4. A message without a human author (or from our own bot user) is not addressed to us.
  if (!userId) return skip('no_user')
  if (botUserId && userId === botUserId) return skip('own_message')

  const rawText = stringField(event, 'text') ?? ''
  const parentTs = stringField(event, 'thread_ts')
  const channelType = stringField(event, 'channel_type') ?? (channelId.startsWith('D') ? 'im' : 'channel')

  let kind: SlackMessageKind
  if (context.kind === 'app_mention') {
    kind = 'app_mention'
  } else if (channelType === 'im') {
    kind = 'direct_message'
  } else {
    // 5. In channels, a message mentioning the bot also arrives as app_mention (another
    //    event id); answering both would reply twice, so the app_mention wins.
    if (botUserId && mentions(rawText, botUserId)) return skip('mention_delivered_as_app_mention')
    // 6. Only replies inside a thread can be for an agent without a mention; whether the
    //    agent already speaks in that thread is known only to the database.
    if (!parentTs || parentTs === ts) return skip('channel_message_not_for_agent')
    kind = 'thread_reply'
  }

  const eventTime = context.payload['event_time']
  return {
    ok: true,
    event: {
      type: 'message',
      message: {
        kind,
        teamId,
        enterpriseId: context.enterpriseId,
        channelId,
        channelType,
        threadTs: parentTs ?? ts,
        ts,
        inThread: parentTs !== undefined && parentTs !== ts,
        userId,
        text: botUserId ? stripMention(rawText, botUserId) : rawText.trim(),
        eventId,
        eventTime: typeof eventTime === 'number' ? new Date(eventTime * 1000) : null,
        botUserId,
        files: slackFileAttachments(event['files']),
      },
    },
  }
}

// The authorization Slack delivered this event for; with a bot token it is our bot user.
function ourBotUserId(payload: JsonRecord): string | null {
  for (const auth of recordArrayField(payload, 'authorizations')) {
    if (auth['is_bot'] === true) return stringField(auth, 'user_id') ?? null
  }
  return null
}

function mentionPattern(userId: string): RegExp {
  return new RegExp(`<@${userId.replace(/[^A-Za-z0-9]/g, '')}(?:\\|[^>]*)?>`, 'g')
}

function mentions(text: string, userId: string): boolean {
  return mentionPattern(userId).test(text)
}

function stripMention(text: string, userId: string): string {
  return text
    .replace(mentionPattern(userId), ' ')
    .replace(/[ \t]{2,}/g, ' ')
    .trim()
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

function ignored(
  reason: SlackIgnoreReason,
  teamId: string | null,
  eventId: string | null,
  detail?: string,
): SlackEventParse {
  return { ok: true, event: { type: 'ignored', reason, teamId, eventId, ...(detail ? { detail } : {}) } }
}

function invalid(): SlackEventParse {
  return { ok: false, error: 'invalid_payload' }
}
