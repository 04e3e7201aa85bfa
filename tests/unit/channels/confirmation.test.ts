// Confirmations are one protocol on every channel (shared/channels/confirmation.ts): the
// buttons a reply carries on Slack and WhatsApp, what a click comes back as, and how the
// worker reads it against the pending tool call.
import { describe, expect, it } from 'vitest'
import { confirmationButtons, readButtonValue, readConfirmationAnswer } from '../../../shared/channels/confirmation.ts'
import { readSlackButton, slackConfirmationActions } from '../../../shared/channels/slack/buttons.ts'

const toolCallId = '5f0c3a5e-2b1d-4c6e-9a7b-1d2e3f4a5b6c'
const other = '99999999-0000-4000-8000-000000000002'

describe('the confirmation buttons', () => {
  it('offer yes, cancel and a human, and each click reads back as what the person chose', () => {
    const buttons = confirmationButtons(toolCallId)
    expect(buttons.map((b) => b.label)).toEqual(['Yes, go ahead', 'Cancel', 'Talk to a human'])
    expect(buttons.map((b) => readButtonValue(b.value))).toEqual([
      { kind: 'tool', choice: 'confirm', toolCallId },
      { kind: 'tool', choice: 'cancel', toolCallId },
      { kind: 'human' },
    ])
    expect(confirmationButtons(toolCallId, false).map((b) => b.choice)).toEqual(['confirm', 'cancel'])
  })

  it('a click answers its own tool call exactly as a typed yes or no does, and no other', () => {
    const [confirm, cancel] = confirmationButtons(toolCallId)
    expect(readConfirmationAnswer(confirm!.value, toolCallId)).toBe('approve')
    expect(readConfirmationAnswer(cancel!.value, toolCallId)).toBe('cancel')
    expect(readConfirmationAnswer('Yes please!', toolCallId)).toBe('approve')
    expect(readConfirmationAnswer('no thanks', toolCallId)).toBe('cancel')
    // A button of another proposal is not an answer to this one.
    expect(readConfirmationAnswer(confirmationButtons(other)[0]!.value, toolCallId)).toBeNull()
    expect(readConfirmationAnswer('what would that cost?', toolCallId)).toBeNull()
  })

  it('reads nothing into values it did not make', () => {
    for (const value of [null, '', 'confirm', 'confirm:', 'confirm:42', 'approve:' + toolCallId, 'Human', toolCallId])
      expect(readButtonValue(value)).toBeNull()
  })
})

describe('on Slack', () => {
  it('the actions block carries the shared values and reads back through our action ids only', () => {
    const block = slackConfirmationActions(toolCallId) as {
      elements: { action_id: string; value: string; text: { text: string } }[]
    }
    expect(block.elements.map((e) => [e.text.text, e.value])).toEqual(
      confirmationButtons(toolCallId).map((b) => [b.label, b.value]),
    )
    expect(block.elements.map((e) => readSlackButton(e.action_id, e.value))).toEqual([
      { kind: 'tool', choice: 'confirm', toolCallId },
      { kind: 'tool', choice: 'cancel', toolCallId },
      { kind: 'human' },
    ])
    // Another app's button with a value that looks like ours is not a decision.
    expect(readSlackButton('someone_elses_button', `confirm:${toolCallId}`)).toBeNull()
  })
})
