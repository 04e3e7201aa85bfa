// A contact's picture: only Slack's own image hosts over https are loaded (any other URL
// a channel or a visitor could set would let a third party see who opens the portal);
// everyone else gets initials.

const slackImageHost = /^([a-z0-9-]+\.)*slack-edge\.com$/

/** The URL to load as an <img>, or null when it is not an https image from Slack's hosts. */
export function avatarSource(url: string | null | undefined): string | null {
  if (!url) return null
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return null
  }
  if (parsed.protocol !== 'https:' || parsed.username || parsed.password || parsed.port) return null
  return slackImageHost.test(parsed.hostname) ? parsed.href : null
}

/** Up to two initials of a name ('Maria Lopez' → 'ML'); '?' without one. */
export function initials(name: string | null | undefined): string {
  const words = (name ?? '').trim().split(/\s+/).filter(Boolean)
  if (words.length === 0) return '?'
  const letters = words.length === 1 ? [words[0]] : [words[0], words[words.length - 1]]
  return letters.map((w) => Array.from(w)[0].toUpperCase()).join('')
}
