// Offline mode: no model is configured anywhere (no OPENAI_BASE_URL/key, no
// tenant or agent model). The agent still answers, honestly: it quotes the
// knowledge passage that best matches the question and says it is an offline
// answer, or says it found nothing and what can be done. It never pretends
// to be a model and never makes anything up.

import type { KnowledgePassage } from './context.ts'

export interface OfflineAnswer {
  text: string
  passage: KnowledgePassage | null
}

const STOPWORDS = new Set(
  (
    'a an and are as at be but by can could do does for from have how i if in is it me my of on or our please ' +
    'should so tell that the their there this to was we what when where which who why will with would you your ' +
    'about any hi hello hey thanks thank get'
  ).split(' '),
)

function terms(text: string): Set<string> {
  const words =
    text
      .toLowerCase()
      .normalize('NFKD')
      .match(/[\p{L}\p{N}]+/gu) ?? []
  return new Set(words.filter((w) => w.length > 1 && !STOPWORDS.has(w)).map(stem))
}

// Enough stemming to match "refunds" with "refund" and "shipping" with "ship".
function stem(word: string): string {
  let w = word
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) w = w.slice(0, -1)
  if (w.length > 5 && w.endsWith('ing')) w = w.slice(0, -3)
  else if (w.length > 4 && w.endsWith('ed')) w = w.slice(0, -2)
  return w
}

/**
 * Overlap of the question's terms with the passage's, a title match counting
 * double; ties keep the search's ranking.
 */
export function bestPassage(question: string, passages: readonly KnowledgePassage[]): KnowledgePassage | null {
  const wanted = terms(question)
  let best: KnowledgePassage | null = null
  let bestScore = 0
  for (const passage of passages) {
    const inTitle = terms(passage.title ?? '')
    const inText = terms(passage.text)
    let score = 0
    for (const term of wanted) score += (inTitle.has(term) ? 2 : 0) + (inText.has(term) ? 1 : 0)
    if (score > bestScore) {
      best = passage
      bestScore = score
    }
  }
  return best
}

/** Cuts a passage at a sentence end near `maxChars`. */
export function quoteOf(text: string, maxChars = 700): string {
  const clean = text.replace(/\s+/g, ' ').trim()
  if (clean.length <= maxChars) return clean
  const cut = clean.slice(0, maxChars)
  const end = Math.max(cut.lastIndexOf('. '), cut.lastIndexOf('! '), cut.lastIndexOf('? '))
  return end > maxChars / 2 ? cut.slice(0, end + 1) : `${cut.trimEnd()}…`
}

export function answerOffline(question: string, passages: readonly KnowledgePassage[]): OfflineAnswer {
  const passage = bestPassage(question, passages)
  if (!passage) {
    return {
      passage: null,
      text:
        "I'm answering in offline mode (no AI model is configured), so I can only look things up in our " +
        "knowledge base, and I couldn't find anything about that. You can ask to talk to a human, and an " +
        'admin can connect an AI model or add the answer to the knowledge base.',
    }
  }
  const quote = quoteOf(passage.text)
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n')
  const source = passage.title ?? passage.source
  return {
    passage,
    text:
      "Offline answer (no AI model is configured, so I'm quoting our knowledge base):\n\n" +
      `${quote}${source ? `\n\n— ${source}` : ''}\n\nIf this doesn't answer your question, ask to talk to a human.`,
  }
}
