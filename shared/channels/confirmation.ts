// Confirmations, the same on every channel. A side-effecting tool call waits for the
// person it was proposed to: the reply that asks carries three buttons (Slack buttons,
// WhatsApp reply buttons), and a click comes back as a message whose text is the button's
// value, `confirm:<tool call id>` or `cancel:<tool call id>`, so the worker reads a click
// exactly like a typed "yes" or "no" (readConfirmationAnswer). "Talk to a human" carries
// `human` and hands the conversation off instead.
//
// A value alone reaches nothing: the worker matches it against the pending confirmation of
// the conversation the click arrived in, and its author against the person asked.

/** What the reply that asks for a confirmation carries to the channel sender. */
export interface ConfirmationButtons {
  toolCallId: string
}

export type ConfirmationChoice = 'confirm' | 'cancel' | 'human'

export interface ConfirmationButton {
  choice: ConfirmationChoice
  /** What comes back on a click: a Slack button's value, a WhatsApp reply button's id. */
  value: string
  label: string
}

const HUMAN_VALUE = 'human'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The answer a click stands for: the message text the worker reads. */
export function confirmationAnswerText(choice: 'confirm' | 'cancel', toolCallId: string): string {
  return `${choice}:${toolCallId}`
}

/** The buttons under a reply that asks to confirm a tool call, in the order shown. */
export function confirmationButtons(toolCallId: string, offerHuman = true): ConfirmationButton[] {
  const buttons: ConfirmationButton[] = [
    { choice: 'confirm', value: confirmationAnswerText('confirm', toolCallId), label: 'Yes, go ahead' },
    { choice: 'cancel', value: confirmationAnswerText('cancel', toolCallId), label: 'Cancel' },
  ]
  if (offerHuman) buttons.push({ choice: 'human', value: HUMAN_VALUE, label: 'Talk to a human' })
  return buttons
}

export type ButtonDecision =
  { kind: 'tool'; choice: 'confirm' | 'cancel'; toolCallId: string } | { kind: 'human' } | null

/** Reads a clicked button's value (Slack) or reply id (WhatsApp); null for anything else. */
export function readButtonValue(value: string | null | undefined): ButtonDecision {
  if (!value) return null
  if (value === HUMAN_VALUE) return { kind: 'human' }
  const colon = value.indexOf(':')
  if (colon < 0) return null
  const choice = value.slice(0, colon)
  const toolCallId = value.slice(colon + 1)
  if ((choice !== 'confirm' && choice !== 'cancel') || !UUID.test(toolCallId)) return null
  return { kind: 'tool', choice, toolCallId }
}

/** What the person answered to a pending confirmation: a button's value, or a plain yes/no. */
export function readConfirmationAnswer(text: string | null, toolCallId: string): 'approve' | 'cancel' | null {
  if (!text) return null
  const clean = text.trim().toLowerCase()
  if (clean === confirmationAnswerText('confirm', toolCallId)) return 'approve'
  if (clean === confirmationAnswerText('cancel', toolCallId)) return 'cancel'
  const words = clean.replace(/[^\p{L}\p{N}' ]+/gu, ' ').trim()
  if (
    /^(yes|y|yep|yeah|sure|ok|okay|go ahead|yes please|please do|do it|confirm|confirmed|approve)( please)?$/.test(
      words,
    )
  )
    return 'approve'
  if (/^(no|n|nope|cancel|stop|don't|do not|no thanks|no thank you|abort)( please)?$/.test(words)) return 'cancel'
  return null
}
