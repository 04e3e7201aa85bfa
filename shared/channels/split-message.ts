// Splits a long, already rendered answer into messages a channel will accept, cutting
// where a reader would pause: between paragraphs, then lines, then sentences, then words,
// and only as a last resort mid-word. A code block cut in two is closed at the end of one
// part and reopened at the start of the next, so both render as code.

const FENCE = '```'
// Room kept in every part for a fence we may have to close ("\n```") or reopen ("```\n").
const FENCE_RESERVE = 8

export function splitMessage(text: string, maxLength: number): string[] {
  if (maxLength < 40) throw new Error('maxLength must be at least 40')
  const parts: string[] = []
  let rest = text.trim()
  let reopenFence = false
  while (rest.length > 0) {
    const prefix: string = reopenFence ? `${FENCE}\n` : ''
    if (prefix.length + rest.length <= maxLength) {
      parts.push(prefix + rest)
      break
    }
    const cut = findCut(rest, maxLength - prefix.length - FENCE_RESERVE)
    let part: string = prefix + rest.slice(0, cut).trimEnd()
    rest = rest.slice(cut).trimStart()
    // An odd number of fences means the part ends inside a code block.
    reopenFence = countFences(part) % 2 === 1
    if (reopenFence) part += `\n${FENCE}`
    parts.push(part)
  }
  return parts.filter((p) => p.trim().length > 0)
}

function countFences(text: string): number {
  return text.split(FENCE).length - 1
}

function findCut(text: string, budget: number): number {
  const window = text.slice(0, budget + 1)
  // A cut earlier than this wastes too much of the message; try a finer boundary instead.
  const floor = Math.floor(budget * 0.5)
  const candidates: Array<() => number> = [
    () => window.lastIndexOf('\n\n'),
    () => window.lastIndexOf('\n'),
    () => lastSentenceEnd(window),
    () => lastWhitespace(window),
  ]
  for (const candidate of candidates) {
    const at = candidate()
    if (at >= floor && at <= budget) return avoidSplittingMarkup(text, at)
  }
  return avoidSplittingMarkup(text, safeHardCut(text, budget))
}

function lastSentenceEnd(window: string): number {
  let best = -1
  for (const match of window.matchAll(/[.!?…]["')\]]?\s/g)) best = match.index + match[0].length - 1
  return best
}

function lastWhitespace(window: string): number {
  for (let i = window.length - 1; i >= 0; i--) if (/\s/.test(window[i]!)) return i
  return -1
}

// Never cut between the two halves of a surrogate pair (an emoji, say).
function safeHardCut(text: string, at: number): number {
  const code = text.charCodeAt(at - 1)
  return code >= 0xd800 && code <= 0xdbff ? at - 1 : at
}

// Slack links and mentions (<url|label>) break if cut; move the cut before the "<".
function avoidSplittingMarkup(text: string, at: number): number {
  const open = text.lastIndexOf('<', at - 1)
  const close = text.lastIndexOf('>', at - 1)
  if (open > close && open > 0 && text.indexOf('>', open) >= at) return open
  return at
}
