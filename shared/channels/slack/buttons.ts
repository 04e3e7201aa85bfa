// The confirmation buttons as Slack shows them (an actions block under the reply) and
// reads them back in slack-interactions. Values and labels are the channel-neutral ones of
// ../confirmation.ts; the click's own workspace, channel and thread say which conversation
// it belongs to, so a value alone can never reach another tenant's data
// (api.decide_tool_call checks the connection).
import { confirmationButtons, readButtonValue, type ButtonDecision, type ConfirmationChoice } from '../confirmation.ts'

const ACTION_ID: Record<ConfirmationChoice, string> = {
  confirm: 'konstruct_confirm',
  cancel: 'konstruct_cancel',
  human: 'konstruct_talk_to_human',
}

/** Whether an action id is one of the buttons Konstruct puts on a message. */
export function isKonstructAction(actionId: unknown): boolean {
  return Object.values(ACTION_ID).includes(String(actionId))
}

/** Reads a click on one of our buttons as a decision; null for anyone else's action. */
export function readSlackButton(actionId: string, value: string | null): ButtonDecision {
  return isKonstructAction(actionId) ? readButtonValue(value) : null
}

/** The actions block under a reply that asks to confirm a tool call. */
export function slackConfirmationActions(toolCallId: string, offerHuman = true): unknown {
  const elements = confirmationButtons(toolCallId, offerHuman).map((button) => ({
    type: 'button',
    action_id: ACTION_ID[button.choice],
    ...(button.choice === 'confirm' ? { style: 'primary' } : {}),
    text: { type: 'plain_text', text: button.label },
    value: button.value,
  }))
  return { type: 'actions', block_id: `konstruct_confirm_${toolCallId}`, elements }
}
