import type { ConversationMessage } from '../context.ts'

/** A stored message as the prompt's conversation sees it: the contact, a member, or the agent. */
export function toConversationMessage(m: { author_kind: string; text: string | null }): ConversationMessage {
  const author = m.author_kind === 'contact' ? 'contact' : m.author_kind === 'member' ? 'member' : 'agent'
  return { author, text: m.text ?? '' }
}
