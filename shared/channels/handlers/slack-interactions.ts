// The slack-interactions function: Slack's interactivity endpoint (button clicks).
//
// 1. Raw body, v0 signature (opaque 401, nothing stored), then the form's `payload` JSON.
// 2. Route by team id; unknown or disabled workspaces are acknowledged and logged.
// 3. block_actions:
//    - confirm / cancel → the user's answer `confirm:<tool_call_id>` / `cancel:<id>` is
//      ingested in the clicked thread (idempotent on the click's trigger id); the agent
//      worker reads it against that conversation's pending confirmation;
//    - "talk to a human" → api.escalate_channel_thread for the clicked thread.
//    A decision is recorded once per message: the answer's idempotency key is the clicked
//    message and tool call, so a second click (a double click, the other button, a stale
//    client) changes nothing. The first click then edits the message (chat.update with the
//    bot token) so its buttons become a line saying what was chosen; that edit is best
//    effort and never delays the ack past a second.
//    Other interaction types are acknowledged and ignored. Slack wants a 200 within 3 s.
import { isRecord, recordField, stringField } from '../payload-fields.ts'
import { readRawBody } from '../../net/request-body.ts'
import {
  createSlackWebClient,
  parseSlackInteractionBody,
  verifySlackRequest,
  type SlackBlockActions,
} from '../slack/mod.ts'
import { type Api } from '../../api/client.ts'
import { projectFromEnv, serviceApi } from '../../api/project.ts'
import { type Env, optionalEnv, requireEnv } from '../../runtime/env.ts'
import { consoleLog, describeError, type Log, text, unauthorized } from '../../runtime/http.ts'
import { isKonstructAction, readSlackButton } from '../slack/buttons.ts'
import { confirmationAnswerText } from '../confirmation.ts'
import { slackThreadKey } from '../slack/threads.ts'

export interface SlackInteractionsConfig {
  signingSecret: string
  rpc: Api
  /** SLACK_API_URL; Slack itself by default. */
  slackApiUrl?: string
  fetch?: typeof fetch
  now?: () => Date
  log?: Log
}

export function slackInteractionsConfigFromEnv(env: Env): SlackInteractionsConfig {
  return {
    signingSecret: requireEnv(env, 'SLACK_SIGNING_SECRET'),
    rpc: serviceApi(projectFromEnv(env)),
    slackApiUrl: optionalEnv(env, 'SLACK_API_URL'),
  }
}

type Chosen = 'confirmed' | 'cancelled' | 'human'

/** The clicked message as Slack sent it along in the payload (absent for ephemeral messages). */
export interface ClickedMessage {
  text: string | null
  blocks: unknown[]
}

export function clickedMessageOf(formBody: string): ClickedMessage | null {
  try {
    const payload: unknown = JSON.parse(new URLSearchParams(formBody).get('payload') ?? 'null')
    const message = isRecord(payload) ? recordField(payload, 'message') : undefined
    if (!message) return null
    return {
      text: stringField(message, 'text') ?? null,
      blocks: Array.isArray(message['blocks']) ? message['blocks'] : [],
    }
  } catch {
    return null
  }
}

const CHOSEN_LINE: Record<Chosen, (user: string) => string> = {
  confirmed: (user) => `:white_check_mark: <@${user}> confirmed.`,
  cancelled: (user) => `:x: <@${user}> cancelled.`,
  human: (user) => `:raising_hand: <@${user}> asked for a person; someone from the team will reply here.`,
}

/** The clicked message's blocks with our buttons replaced by a line saying what was chosen. */
export function blocksAfterChoice(click: SlackBlockActions, message: ClickedMessage, chosen: Chosen): unknown[] {
  const original = message.blocks
  const kept = original.filter((block) => {
    if (typeof block !== 'object' || block === null) return true
    const { type, elements } = block as { type?: unknown; elements?: unknown }
    if (type !== 'actions' || !Array.isArray(elements)) return true
    return !elements.some(
      (e) => typeof e === 'object' && e !== null && isKonstructAction((e as { action_id?: unknown }).action_id),
    )
  })
  const body =
    kept.length > 0 || !message.text ? kept : [{ type: 'section', text: { type: 'mrkdwn', text: message.text } }]
  return [...body, { type: 'context', elements: [{ type: 'mrkdwn', text: CHOSEN_LINE[chosen](click.userId) }] }]
}

/** The conversation a click belongs to, by the same rule the events function uses. */
export function clickedThreadKey(click: SlackBlockActions): string | null {
  if (!click.channelId) return null
  if (click.threadTs) return slackThreadKey({ channelId: click.channelId, threadTs: click.threadTs })
  // A top-level message in a DM belongs to the DM's running conversation.
  if (click.channelId.startsWith('D')) return slackThreadKey({ channelId: click.channelId, threadTs: null })
  return click.messageTs ? slackThreadKey({ channelId: click.channelId, threadTs: click.messageTs }) : null
}

export function createSlackInteractionsHandler(config: SlackInteractionsConfig): (req: Request) => Promise<Response> {
  if (!config.signingSecret) throw new Error('SLACK_SIGNING_SECRET is not set')
  const now = config.now ?? (() => new Date())
  const log = config.log ?? consoleLog

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
      log('slack_interactions.rejected', { reason: verification.reason })
      return unauthorized()
    }
    const parsed = parseSlackInteractionBody(body.text)
    if (!parsed.ok) return text(400, 'bad request')
    const interaction = parsed.interaction
    if (interaction.type !== 'block_actions') {
      log('slack_interactions.ignored', { type: interaction.interactionType })
      return text(200, '')
    }

    try {
      const connection = await config.rpc<{ connection_id: string; status: string } | null>(
        'resolve_slack_connection',
        { team_id: interaction.teamId },
      )
      if (!connection || connection.status !== 'active') {
        log('slack_interactions.unknown_team', { team_id: interaction.teamId })
        return text(200, '')
      }
      let chosen: Chosen | null = null
      for (const action of interaction.actions) {
        chosen =
          (await handleAction(config.rpc, log, connection.connection_id, interaction, action.actionId, action.value)) ??
          chosen
      }
      const message = chosen ? clickedMessageOf(body.text) : null
      if (chosen && message) await closeButtons(config, log, connection.connection_id, interaction, message, chosen)
      return text(200, '')
    } catch (error) {
      log('slack_interactions.failed', { error: describeError(error) })
      return text(503, 'try again')
    }
  }
}

/** Edits the clicked message so its buttons are gone; best effort, bounded in time. */
async function closeButtons(
  config: SlackInteractionsConfig,
  log: Log,
  connectionId: string,
  click: SlackBlockActions,
  message: ClickedMessage,
  chosen: Chosen,
): Promise<void> {
  if (!click.channelId || !click.messageTs) return
  try {
    const token = await config.rpc<string | null>('get_channel_token', { connection_id: connectionId })
    if (!token) return
    const slack = createSlackWebClient({
      token,
      apiUrl: config.slackApiUrl,
      fetch: config.fetch,
      maxRetryAfterSeconds: 0,
      timeoutMs: 1000,
    })
    await slack.updateMessage({
      channel: click.channelId,
      ts: click.messageTs,
      text: message.text ?? CHOSEN_LINE[chosen](click.userId),
      blocks: blocksAfterChoice(click, message, chosen),
    })
  } catch (error) {
    log('slack_interactions.buttons_not_closed', { error: describeError(error) })
  }
}

/** Records one click; returns what was chosen when it was the first answer (null otherwise). */
async function handleAction(
  rpc: Api,
  log: Log,
  connectionId: string,
  click: SlackBlockActions,
  actionId: string,
  value: string | null,
): Promise<Chosen | null> {
  const decision = readSlackButton(actionId, value)
  const threadKey = clickedThreadKey(click)
  if (!decision || !threadKey || !click.channelId) {
    log('slack_interactions.unknown_action', { action_id: actionId })
    return null
  }
  if (decision.kind === 'human') {
    const conversation = await rpc<unknown>('escalate_channel_thread', {
      connection_id: connectionId,
      thread_key: threadKey,
      reason: 'Asked for a human (Slack button)',
    })
    log('slack_interactions.escalated', { thread_key: threadKey, found: conversation !== null })
    return conversation !== null ? 'human' : null
  }
  const chosen: Chosen = decision.choice === 'confirm' ? 'confirmed' : 'cancelled'
  // The click is the clicker's answer in that thread, exactly as if they had typed it; the
  // agent worker matches it against the conversation's own pending confirmation and its
  // author against the person it was proposed to, so a button can only ever answer the tool
  // call of the thread it was clicked in, and only for that person.
  const result = await rpc<{ duplicate: boolean; tenant_id: string; conversation_id: string; contact_id?: string }>(
    'ingest_message',
    {
      connection_id: connectionId,
      // One answer per person, message and tool call: their second click, even on the other
      // button, is a duplicate; someone else's click is their own message (which the worker does
      // not count: only the person the call was proposed to can answer it).
      external_id: click.messageTs
        ? `${click.channelId}:action:${click.messageTs}:${decision.toolCallId}:${click.userId}`
        : `${click.channelId}:action:${click.triggerId ?? actionId}:${decision.toolCallId}:${click.userId}`,
      thread_key: threadKey,
      external_user_id: click.userId,
      text: confirmationAnswerText(decision.choice, decision.toolCallId),
      channel_context: {
        slack_team_id: click.teamId,
        slack_channel_id: click.channelId,
        slack_channel_type: click.channelId.startsWith('D') ? 'im' : 'channel',
        slack_thread_ts: threadKey === click.channelId ? null : threadKey.slice(click.channelId.length + 1),
      },
      metadata: { slack_action_id: actionId, slack_button: chosen },
    },
  )
  if (result.duplicate) return null
  // Someone else in the thread clicked: their click is stored as their message (the worker
  // does not count it), and the buttons stay for the person who was asked. (Once the call is
  // no longer pending, the worker has taken an answer: the buttons go.)
  const pending = await rpc<{ tool_call_id: string; proposed_to_contact_id: string | null } | null>(
    'get_pending_confirmation',
    { tenant_id: result.tenant_id, conversation_id: result.conversation_id },
  )
  const asked =
    pending?.tool_call_id !== decision.toolCallId ||
    !pending.proposed_to_contact_id ||
    pending.proposed_to_contact_id === result.contact_id
  log('slack_interactions.answered', { tool_call_id: decision.toolCallId, decision: chosen, asked })
  return asked ? chosen : null
}
