// The slack-interactions function: Slack's interactivity endpoint (button clicks).
//
// 1. Raw body, v0 signature (opaque 401, nothing stored), then the form's `payload` JSON.
// 2. Route by team id; unknown or disabled workspaces are acknowledged and logged.
// 3. block_actions:
//    - confirm / cancel → the user's answer `confirm:<tool_call_id>` / `cancel:<id>` is
//      ingested in the clicked thread (idempotent on the click's trigger id); the agent
//      worker reads it against that conversation's pending confirmation;
//    - "talk to a human" → api.escalate_channel_thread for the clicked thread.
//    Other interaction types are acknowledged and ignored. Slack wants a 200 within 3 s.
import { readRawBody } from '../request-body.ts'
import { parseSlackInteractionBody, verifySlackRequest, type SlackBlockActions } from '../slack/mod.ts'
import { consoleLog, describeError, requireEnv, text, unauthorized, type Env, type Log } from './http.ts'
import { serviceRpcFromEnv, type ServiceRpc } from './service-rpc.ts'
import { readButtonDecision } from './slack-actions.ts'
import { slackThreadKey } from './slack-threads.ts'

export interface SlackInteractionsConfig {
  signingSecret: string
  rpc: ServiceRpc
  now?: () => Date
  log?: Log
}

export function slackInteractionsConfigFromEnv(env: Env): SlackInteractionsConfig {
  return { signingSecret: requireEnv(env, 'SLACK_SIGNING_SECRET'), rpc: serviceRpcFromEnv(env) }
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
      for (const action of interaction.actions) {
        await handleAction(config.rpc, log, connection.connection_id, interaction, action.actionId, action.value)
      }
      return text(200, '')
    } catch (error) {
      log('slack_interactions.failed', { error: describeError(error) })
      return text(503, 'try again')
    }
  }
}

async function handleAction(
  rpc: ServiceRpc,
  log: Log,
  connectionId: string,
  click: SlackBlockActions,
  actionId: string,
  value: string | null,
): Promise<void> {
  const decision = readButtonDecision(actionId, value)
  const threadKey = clickedThreadKey(click)
  if (!decision || !threadKey || !click.channelId) {
    log('slack_interactions.unknown_action', { action_id: actionId })
    return
  }
  if (decision.kind === 'human') {
    const conversation = await rpc<unknown>('escalate_channel_thread', {
      connection_id: connectionId,
      thread_key: threadKey,
      reason: 'Asked for a human (Slack button)',
    })
    log('slack_interactions.escalated', { thread_key: threadKey, found: conversation !== null })
    return
  }
  // The click is the user's answer in that thread, exactly as if they had typed it; the agent
  // worker matches it against the conversation's own pending confirmation, so a button can
  // only ever answer the tool call of the thread it was clicked in.
  const result = await rpc<{ message_id: string; duplicate: boolean }>('ingest_message', {
    connection_id: connectionId,
    external_id: `${click.channelId}:action:${click.triggerId ?? `${click.messageTs}:${actionId}`}`,
    thread_key: threadKey,
    external_user_id: click.userId,
    text: `${decision.decision === 'confirmed' ? 'confirm' : 'cancel'}:${decision.toolCallId}`,
    channel_context: {
      slack_team_id: click.teamId,
      slack_channel_id: click.channelId,
      slack_channel_type: click.channelId.startsWith('D') ? 'im' : 'channel',
      slack_thread_ts: threadKey === click.channelId ? null : threadKey.slice(click.channelId.length + 1),
    },
    metadata: { slack_action_id: actionId, slack_button: decision.decision },
  })
  log('slack_interactions.answered', {
    tool_call_id: decision.toolCallId,
    decision: decision.decision,
    duplicate: result.duplicate,
  })
}
