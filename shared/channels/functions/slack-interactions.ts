// The slack-interactions function: Slack's interactivity endpoint (button clicks).
//
// 1. Raw body, v0 signature (opaque 401, nothing stored), then the form's `payload` JSON.
// 2. Route by team id; unknown or disabled workspaces are acknowledged and logged.
// 3. block_actions:
//    - confirm / cancel → api.decide_tool_call (scoped to this connection; a second click
//      changes nothing; the agent carries on from the queue);
//    - "talk to a human" → api.escalate_channel_thread for the clicked thread.
//    Other interaction types are acknowledged and ignored. Slack wants a 200 within 3 s.
import { readRawBody } from '../request-body.ts'
import { parseSlackInteractionBody, verifySlackRequest, type SlackBlockActions } from '../slack/mod.ts'
import { consoleLog, describeError, requireEnv, text, unauthorized, type Env, type Log } from './http.ts'
import { RpcError, serviceRpcFromEnv, type ServiceRpc } from './service-rpc.ts'
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
  if (!decision) {
    log('slack_interactions.unknown_action', { action_id: actionId })
    return
  }
  if (decision.kind === 'tool') {
    try {
      const result = await rpc<{ status: string; changed: boolean }>('decide_tool_call', {
        connection_id: connectionId,
        tool_call_id: decision.toolCallId,
        decision: decision.decision,
        decided_by: `slack:${click.userId}`,
      })
      log('slack_interactions.tool_decided', {
        tool_call_id: decision.toolCallId,
        status: result.status,
        changed: result.changed,
      })
    } catch (error) {
      // Another workspace's or an unknown tool call: nothing to do, and nothing to tell.
      if (error instanceof RpcError && (error.code === '42501' || error.code === 'P0002')) {
        log('slack_interactions.tool_refused', { tool_call_id: decision.toolCallId, code: error.code })
        return
      }
      throw error
    }
    return
  }
  const threadKey = clickedThreadKey(click)
  if (!threadKey) return
  const conversation = await rpc<unknown>('escalate_channel_thread', {
    connection_id: connectionId,
    thread_key: threadKey,
    reason: 'Asked for a human (Slack button)',
  })
  log('slack_interactions.escalated', { thread_key: threadKey, found: conversation !== null })
}
