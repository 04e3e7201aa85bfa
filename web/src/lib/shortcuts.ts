// Inbox keyboard shortcuts: single keys, ignored while typing and with modifier keys.
export const SHORTCUTS: ReadonlyArray<{ keys: string; action: string }> = [
  { keys: 'j', action: 'Next conversation' },
  { keys: 'k', action: 'Previous conversation' },
  { keys: 'r', action: 'Reply' },
  { keys: 'n', action: 'Write an internal note' },
  { keys: 'a', action: 'Assign to me' },
  { keys: 'c', action: 'Close the conversation' },
  { keys: '/', action: 'Search conversations' },
  { keys: '?', action: 'Show these shortcuts' },
]

/** The key of a shortcut press, or null when the person is typing or holds a modifier. */
export function shortcutKey(event: KeyboardEvent): string | null {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return null
  const target = event.target as HTMLElement | null
  if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return null
  return event.key
}
