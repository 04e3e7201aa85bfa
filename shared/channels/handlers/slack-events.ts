// The slack-events function: Slack's Events API endpoint for every installed workspace.
//
// 1. Read the raw body once (413 over 1 MiB) and verify the v0 signature on it; any
//    failure is an opaque 401 and nothing is stored.
// 2. Answer url_verification.
// 3. Route by team id to the tenant's connection; an unknown or disabled workspace is
//    acknowledged and logged, nothing stored.
// 4. Uninstall / token revocation disables the connection.
// 5. A user's message is stored through api.ingest_message, idempotent on the Slack
//    message (channel + ts): a retry (X-Slack-Retry-Num) or a repeated event id returns
//    the stored message and enqueues nothing. The agent runs from the queue, never here.
//    Routing and storing are one call (api.ingest_slack_message), so a message's ack takes
//    one request to the database; workspace events, and a message whose bot user id is not
//    the stored one (parsed again with it), take the longer way. Under a burst, the messages
//    that arrive while that call is in flight go together in the next one
//    (api.ingest_slack_messages, a group commit): one request and one transaction for many.
//    Lock waits are bounded (1 s each, what is left of 2 s a call, then 1 ms; unbounded on
//    Slack's last delivery), so a message stuck behind a lock answers 503 with the later messages
//    of its thread (Slack delivers them again, in order) instead of holding the others past
//    Slack's 3 s.
import { z } from 'zod'
import { readRawBody } from '../../net/request-body.ts'
import { parseSlackEventBody, readSlackRetry, verifySlackRequest, type SlackInboundMessage } from '../slack/mod.ts'
import { type Api, ApiError } from '../../api/client.ts'
import { groupCalls, type ItemOutcome } from '../../api/group-calls.ts'
import { projectFromEnv, serviceApi } from '../../api/project.ts'
import { type Env, requireEnv } from '../../runtime/env.ts'
import { consoleLog, describeError, json, type Log, text, unauthorized } from '../../runtime/http.ts'
import { reportUnstorable } from './unstorable.ts'
import { isUnstorable } from '../../api/storable-text.ts'
import { slackThreadKey, type SlackChannelContext } from '../slack/threads.ts'

export interface SlackEventsConfig {
  signingSecret: string
  rpc: Api
  now?: () => Date
  log?: Log
}

/** The parts of api.resolve_slack_connection's answer used here. */
interface SlackConnection {
  connection_id: string
  tenant_id: string
  status: string
  slack_bot_user_id: string | null
}

interface IngestResult {
  message_id: string
  conversation_id: string
  duplicate: boolean
  enqueued: boolean
}

export function slackEventsConfigFromEnv(env: Env): SlackEventsConfig {
  return { signingSecret: requireEnv(env, 'SLACK_SIGNING_SECRET'), rpc: serviceApi(projectFromEnv(env)) }
}

/** One event's answer in api.ingest_slack_messages (its own result, or its own SQLSTATE). */
const ingestAnswerSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), code: z.string(), message: z.string().nullable().default(null) }),
])

/**
 * Routes by team id and stores (api.ingest_slack_messages), the messages that arrive while
 * a call is under way together in the next: at most 12 a call (the function's limit) and
 * about 1 MiB of them, two calls under way at once, so the database works on one group
 * while the next gathers. Each caller gets its own answer, or an ApiError with its code.
 */
function groupedSlackIngest(rpc: Api): (args: RoutedIngestArgs) => Promise<RoutedIngest> {
  const fn = 'ingest_slack_messages'
  return groupCalls<RoutedIngestArgs, RoutedIngest>(
    async (events) => {
      // A failure of the whole call reaches each caller as GroupCallFailed, never as its own
      // SQLSTATE (a 22xxx would mean "can never be stored", acknowledged and dropped): each
      // answers 503, and Slack delivers again.
      const data = await rpc<unknown>(fn, { events })
      const answers = z.array(ingestAnswerSchema).safeParse(data)
      if (!answers.success) throw new ApiError(fn, 200, 'shape', z.prettifyError(answers.error))
      return answers.data.map((answer): ItemOutcome<RoutedIngest> =>
        answer.ok
          ? { ok: true, value: answer.result as RoutedIngest }
          : { ok: false, error: new ApiError(fn, 200, answer.code, answer.message) },
      )
    },
    { maxItems: 12, maxInFlight: 2, size: (event) => JSON.stringify(event).length, maxSize: 1024 * 1024 },
  )
}

export function createSlackEventsHandler(config: SlackEventsConfig): (req: Request) => Promise<Response> {
  if (!config.signingSecret) throw new Error('SLACK_SIGNING_SECRET is not set')
  const now = config.now ?? (() => new Date())
  const log = config.log ?? consoleLog
  const ok = () => text(200, 'ok')
  const ingestRouted = groupedSlackIngest(config.rpc)

  return async (req) => {
    if (req.method !== 'POST') return text(405, 'method not allowed', { allow: 'POST' })
    const body = await readRawBody(req)
    if (!body.ok) return body.reason === 'too_large' ? text(413, 'payload too large') : text(400, 'bad request')

    const verification = await verifySlackRequest({
      signingSecret: config.signingSecret,
      body: body.bytes,
      timestamp: req.headers.get('x-slack-request-timestamp'),
      signature: req.headers.get('x-slack-signature'),
      now: now(),
    })
    if (!verification.ok) {
      log('slack_events.rejected', { reason: verification.reason })
      return unauthorized()
    }

    const retry = readSlackRetry(req.headers)
    let parsed = parseSlackEventBody(body.text)
    if (!parsed.ok) {
      log('slack_events.bad_payload', { error: parsed.error })
      return text(400, 'bad request')
    }
    let event = parsed.event
    if (event.type === 'url_verification') return json(200, { challenge: event.challenge })
    if (event.type === 'ignored') {
      log('slack_events.ignored', { reason: event.reason, team_id: event.teamId, event_id: event.eventId })
      return ok()
    }

    const teamId = event.type === 'message' ? event.message.teamId : event.teamId
    let unstorable: { connection: SlackConnection | null; externalId: string } | null = null
    try {
      // The common case in one call: route by team id and store (api.ingest_slack_message).
      let routed: SlackConnection | null = null
      // A message with files takes the longer way: api.ingest_slack_message stores text only.
      if (event.type === 'message' && event.message.files.length === 0) {
        unstorable = { connection: null, externalId: `${event.message.channelId}:${event.message.ts}` }
        const fast = await ingestRouted(routedIngestArgs(event.message, retry?.retryNum ?? 0))
        if (fast.outcome === 'other_bot') routed = fast.connection
        else {
          if (fast.outcome === 'unknown_team') log('slack_events.unknown_team', { team_id: teamId, type: event.type })
          else if (fast.outcome === 'disabled') {
            log('slack_events.connection_disabled', { connection_id: fast.connection_id })
          } else if (fast.outcome === 'not_for_agent') {
            log('slack_events.ignored', { reason: 'thread_without_agent', event_id: event.message.eventId })
          } else {
            log('slack_events.ingested', {
              connection_id: fast.connection_id,
              message_id: fast.message_id,
              duplicate: fast.duplicate,
              enqueued: fast.enqueued,
              retry_num: retry?.retryNum ?? 0,
            })
          }
          return ok()
        }
      }
      // Otherwise (workspace events, a message with files, or a bot user id that differs from the
      // stored one) step by step.
      const connection =
        routed ?? (await config.rpc<SlackConnection | null>('resolve_slack_connection', { team_id: teamId }))
      if (!connection) {
        log('slack_events.unknown_team', { team_id: teamId, type: event.type })
        return ok()
      }

      if (event.type === 'app_uninstalled' || event.type === 'tokens_revoked') {
        // Only the bot token matters: a user revoking their own user token leaves the bot working.
        if (event.type === 'tokens_revoked' && event.botUserIds.length === 0) return ok()
        const changed = await config.rpc<boolean>('disable_slack_installation', {
          team_id: event.teamId,
          reason: event.type,
        })
        log('slack_events.disabled', { team_id: event.teamId, reason: event.type, changed })
        return ok()
      }

      // The stored bot user id is the authority on "our own" messages; parse again with it.
      if (connection.slack_bot_user_id && event.message.botUserId !== connection.slack_bot_user_id) {
        parsed = parseSlackEventBody(body.text, { botUserId: connection.slack_bot_user_id })
        if (!parsed.ok) return text(400, 'bad request')
        event = parsed.event
        if (event.type !== 'message') {
          log('slack_events.ignored', { reason: event.type === 'ignored' ? event.reason : event.type })
          return ok()
        }
      }
      if (event.type !== 'message') return ok()
      if (connection.status !== 'active') {
        log('slack_events.connection_disabled', { connection_id: connection.connection_id })
        return ok()
      }
      unstorable = { connection, externalId: `${event.message.channelId}:${event.message.ts}` }
      const result = await ingestSlackMessage(config.rpc, connection, event.message, retry?.retryNum ?? 0)
      if (result === 'not_for_agent') {
        log('slack_events.ignored', { reason: 'thread_without_agent', event_id: event.message.eventId })
        return ok()
      }
      log('slack_events.ingested', {
        connection_id: connection.connection_id,
        message_id: result.message_id,
        duplicate: result.duplicate,
        enqueued: result.enqueued,
        retry_num: retry?.retryNum ?? 0,
      })
      return ok()
    } catch (error) {
      // Disabled between the lookup and the ingest: nothing to store, nothing to retry.
      if (error instanceof ApiError && error.code === 'KO005') return ok()
      // A message the database can never take: acknowledged (Slack would retry) and reported.
      if (error instanceof ApiError && isUnstorable(error.code) && unstorable) {
        const { externalId } = unstorable
        const connection =
          unstorable.connection ??
          (await config.rpc<SlackConnection | null>('resolve_slack_connection', { team_id: teamId }).catch(() => null))
        if (connection) {
          await reportUnstorable(config.rpc, log, connection, 'slack', externalId, error).catch(() => {})
        }
        return ok()
      }
      // A database hiccup: 503 makes Slack deliver again, and ingest dedupes the retry.
      log('slack_events.failed', { error: describeError(error) })
      return text(503, 'try again')
    }
  }
}

type RoutedIngest =
  | { outcome: 'unknown_team' }
  | { outcome: 'other_bot'; connection: SlackConnection }
  | { outcome: 'disabled'; connection_id: string }
  | { outcome: 'not_for_agent'; connection_id: string }
  | ({ outcome: 'ingested'; connection_id: string } & IngestResult)

type RoutedIngestArgs = ReturnType<typeof routedIngestArgs>

/** One message's arguments of api.ingest_slack_message. */
function routedIngestArgs(message: SlackInboundMessage, retryNum: number) {
  return {
    team_id: message.teamId,
    bot_user_id: message.botUserId,
    // A reply in a channel thread without a mention is for the agent only if it already speaks there.
    known_thread_only: message.kind === 'thread_reply',
    ...slackIngestArgs(message, retryNum),
  }
}

export async function ingestSlackMessage(
  rpc: Api,
  connection: SlackConnection,
  message: SlackInboundMessage,
  retryNum = 0,
): Promise<IngestResult | 'not_for_agent'> {
  const args = slackIngestArgs(message, retryNum)
  // A reply in a channel thread without a mention is for the agent only if it already speaks there.
  if (message.kind === 'thread_reply') {
    const known = await rpc<unknown>('find_conversation', {
      connection_id: connection.connection_id,
      thread_key: args.thread_key,
    })
    if (!known) return 'not_for_agent'
  }
  return rpc<IngestResult>('ingest_message', {
    connection_id: connection.connection_id,
    ...args,
    attachments: message.files,
  })
}

/** What api.ingest_message stores of a Slack message, whichever way it is routed. */
function slackIngestArgs(message: SlackInboundMessage, retryNum: number) {
  // A plain DM is one running conversation answered top-level; everything else is a thread.
  const topLevelDm = message.kind === 'direct_message' && !message.inThread
  const threadTs = topLevelDm ? null : message.threadTs
  const channelContext: SlackChannelContext = {
    slack_team_id: message.teamId,
    slack_channel_id: message.channelId,
    slack_channel_type: message.channelType,
    slack_thread_ts: threadTs,
  }
  return {
    // Slack's own identity of a message: retries and the app_mention/message pair share it.
    external_id: `${message.channelId}:${message.ts}`,
    thread_key: slackThreadKey({ channelId: message.channelId, threadTs }),
    external_user_id: message.userId,
    text: message.text,
    channel_context: channelContext,
    metadata: {
      slack_event_id: message.eventId,
      slack_kind: message.kind,
      slack_ts: message.ts,
      ...(retryNum > 0 ? { slack_retry_num: retryNum } : {}),
    },
  }
}
