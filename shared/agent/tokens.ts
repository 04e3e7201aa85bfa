// A cheap, deterministic token estimate, used for budgeting the context and
// for metering when a server omits `usage`. No tokenizer is shipped: it would
// be model-specific, large, and the budget only needs to be roughly right and
// on the safe side.
//
// The estimate is the larger of:
//   - characters: ASCII at ~4 characters per token (English BPE averages ~4),
//     every non-ASCII character as one token (CJK is ~1 token per character;
//     accented Latin is over-counted, which errs towards a smaller context);
//   - words: 4 tokens per 3 words (English averages ~0.75 words per token),
//     a floor for short-word text where 4 characters/token undercounts.
// Each chat message adds a fixed overhead for its role and separators.

export const MESSAGE_OVERHEAD_TOKENS = 4

export function estimateTokens(text: string): number {
  if (!text) return 0
  let ascii = 0
  let other = 0
  for (const char of text) {
    if (char.charCodeAt(0) < 128) ascii++
    else other++
  }
  const byCharacters = Math.ceil(ascii / 4) + other
  const words = text.split(/\s+/).filter(Boolean).length
  const byWords = Math.ceil((words * 4) / 3)
  return Math.max(byCharacters, byWords)
}

/** Estimate for a list of chat messages, including tool-call arguments. */
export function estimateMessagesTokens(
  messages: ReadonlyArray<{
    content?: string | null
    tool_calls?: ReadonlyArray<{ function: { name: string; arguments: string } }>
  }>,
): number {
  let total = 0
  for (const message of messages) {
    total += MESSAGE_OVERHEAD_TOKENS + estimateTokens(message.content ?? '')
    for (const call of message.tool_calls ?? []) {
      total += estimateTokens(call.function.name) + estimateTokens(call.function.arguments)
    }
  }
  return total
}
