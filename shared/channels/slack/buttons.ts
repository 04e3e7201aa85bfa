// The buttons Konstruct puts on Slack messages and reads back in slack-interactions.
// Button values carry the pending tool call's id (`confirm:<id>` / `cancel:<id>`, the same
// values the WhatsApp reply buttons use); the click's own workspace, channel and thread
// say which conversation it belongs to, so a value alone can never reach another tenant's
// data (api.decide_tool_call checks the connection).
import { CANCEL_VALUE_PREFIX, CONFIRM_VALUE_PREFIX, HUMAN_VALUE } from '../delivery/progress.ts'

export const SLACK_ACTION_CONFIRM = 'konstruct_confirm'
export const SLACK_ACTION_CANCEL = 'konstruct_cancel'
export const SLACK_ACTION_HUMAN = 'konstruct_talk_to_human'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export type ButtonDecision =
  { kind: 'tool'; decision: 'confirmed' | 'cancelled'; toolCallId: string } | { kind: 'human' } | null

/** Reads a button (Slack action id + value, or a WhatsApp reply id) as a decision. */
export function readButtonDecision(actionId: string | null, value: string | null): ButtonDecision {
  if (actionId === SLACK_ACTION_HUMAN || value === HUMAN_VALUE) return { kind: 'human' }
  let decision: 'confirmed' | 'cancelled' | null =
    actionId === SLACK_ACTION_CONFIRM ? 'confirmed' : actionId === SLACK_ACTION_CANCEL ? 'cancelled' : null
  let id = value ?? ''
  if (id.startsWith(CONFIRM_VALUE_PREFIX)) {
    decision = 'confirmed'
    id = id.slice(CONFIRM_VALUE_PREFIX.length)
  } else if (id.startsWith(CANCEL_VALUE_PREFIX)) {
    decision = 'cancelled'
    id = id.slice(CANCEL_VALUE_PREFIX.length)
  }
  return decision && UUID.test(id) ? { kind: 'tool', decision, toolCallId: id } : null
}

/** The actions block under a reply that asks to confirm a tool call. */
export function slackConfirmationActions(toolCallId: string, offerHuman = true): unknown {
  const elements: unknown[] = [
    {
      type: 'button',
      action_id: SLACK_ACTION_CONFIRM,
      style: 'primary',
      text: { type: 'plain_text', text: 'Yes, go ahead' },
      value: `${CONFIRM_VALUE_PREFIX}${toolCallId}`,
    },
    {
      type: 'button',
      action_id: SLACK_ACTION_CANCEL,
      text: { type: 'plain_text', text: 'Cancel' },
      value: `${CANCEL_VALUE_PREFIX}${toolCallId}`,
    },
  ]
  if (offerHuman) {
    elements.push({
      type: 'button',
      action_id: SLACK_ACTION_HUMAN,
      text: { type: 'plain_text', text: 'Talk to a human' },
      value: HUMAN_VALUE,
    })
  }
  return { type: 'actions', block_id: `konstruct_confirm_${toolCallId}`, elements }
}
