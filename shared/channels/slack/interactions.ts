// Parses Slack interactivity requests (button clicks). Slack posts them form-encoded with
// a single `payload` field holding JSON; the signature covers that raw form body, so verify
// first and parse after. Only block_actions matter to Konstruct (confirm / cancel a tool
// call, "talk to a human"); other interaction types are reported as ignored.
import { isRecord, parseJson, recordArrayField, recordField, stringField } from '../payload-fields.ts'

export interface SlackBlockAction {
  actionId: string
  blockId: string | null
  /** The button's value: Konstruct puts the pending action's id here. */
  value: string | null
  type: string | null
}

export interface SlackBlockActions {
  type: 'block_actions'
  teamId: string
  userId: string
  channelId: string | null
  /** The message carrying the buttons. */
  messageTs: string | null
  /** Its thread, so follow-ups land in the same conversation. */
  threadTs: string | null
  responseUrl: string | null
  triggerId: string | null
  actions: SlackBlockAction[]
}

export type SlackInteraction = SlackBlockActions | { type: 'ignored'; interactionType: string }

export type SlackInteractionParse =
  | { ok: true; interaction: SlackInteraction }
  | { ok: false; error: 'missing_payload' | 'invalid_json' | 'invalid_payload' }

export function parseSlackInteractionBody(body: string): SlackInteractionParse {
  const raw = new URLSearchParams(body).get('payload')
  if (!raw) return { ok: false, error: 'missing_payload' }
  const json = parseJson(raw)
  if (!json.ok) return { ok: false, error: 'invalid_json' }
  return parseSlackInteraction(json.value)
}

export function parseSlackInteraction(payload: unknown): SlackInteractionParse {
  if (!isRecord(payload)) return { ok: false, error: 'invalid_payload' }
  const type = stringField(payload, 'type')
  if (!type) return { ok: false, error: 'invalid_payload' }
  if (type !== 'block_actions') return { ok: true, interaction: { type: 'ignored', interactionType: type } }

  const user = recordField(payload, 'user')
  const team = recordField(payload, 'team')
  const userId = user && stringField(user, 'id')
  const teamId = (team && stringField(team, 'id')) ?? (user && stringField(user, 'team_id'))
  if (!userId || !teamId) return { ok: false, error: 'invalid_payload' }

  const actions: SlackBlockAction[] = []
  for (const action of recordArrayField(payload, 'actions')) {
    const actionId = stringField(action, 'action_id')
    if (!actionId) continue
    // Buttons carry `value`; select menus carry `selected_option.value`.
    const selected = recordField(action, 'selected_option')
    actions.push({
      actionId,
      blockId: stringField(action, 'block_id') ?? null,
      value: stringField(action, 'value') ?? (selected && stringField(selected, 'value')) ?? null,
      type: stringField(action, 'type') ?? null,
    })
  }
  if (actions.length === 0) return { ok: false, error: 'invalid_payload' }

  const container = recordField(payload, 'container') ?? {}
  const channel = recordField(payload, 'channel')
  const message = recordField(payload, 'message')
  return {
    ok: true,
    interaction: {
      type: 'block_actions',
      teamId,
      userId,
      channelId: stringField(container, 'channel_id') ?? (channel && stringField(channel, 'id')) ?? null,
      messageTs: stringField(container, 'message_ts') ?? (message && stringField(message, 'ts')) ?? null,
      threadTs: stringField(container, 'thread_ts') ?? (message && stringField(message, 'thread_ts')) ?? null,
      responseUrl: stringField(payload, 'response_url') ?? null,
      triggerId: stringField(payload, 'trigger_id') ?? null,
      actions,
    },
  }
}
