// Offline mode: no model is configured anywhere (no OPENAI_BASE_URL/key, no
// tenant or agent model). The agent still answers, honestly: it quotes the
// sentences of the best knowledge passage that answer the question, names the
// source and says it is an offline answer; when nothing in the knowledge covers
// the question well enough it says so plainly and offers a person instead of
// quoting something unrelated. It never pretends to be a model.

import type { KnowledgePassage } from './context.ts'

export interface OfflineAnswer {
  text: string
  passage: KnowledgePassage | null
}

/**
 * The least share of the question's words (weighted by rarity; api.search_knowledge's
 * coverage) the best passage must hold to be quoted. Measured with
 * `npm run bench:offline` (SQuAD questions asked of knowledge that holds their article,
 * and of knowledge that does not): at 0.4, 0.94 of answerable questions are answered
 * and 0.996 of off-topic ones declined (0.3: 0.98 / 0.94; 0.5: 0.85 / 1.0).
 */
export const OFFLINE_MIN_COVERAGE = 0.4

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
      .replace(/[\u0300-\u036f]/g, '')
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

function overlap(wanted: Set<string>, text: string): number {
  const have = terms(text)
  let n = 0
  for (const term of wanted) if (have.has(term)) n++
  return n
}

/**
 * The passage to quote: the search's best when it reports coverage (its ranking is
 * BM25 fused with vectors), else the best overlap of the question's terms with the
 * passage (a title match counting double).
 */
export function bestPassage(question: string, passages: readonly KnowledgePassage[]): KnowledgePassage | null {
  if (passages.length === 0) return null
  if (typeof passages[0]!.coverage === 'number') return passages[0]!
  const wanted = terms(question)
  let best: KnowledgePassage | null = null
  let bestScore = 0
  for (const passage of passages) {
    const score = 2 * overlap(wanted, passage.title ?? '') + overlap(wanted, passage.text)
    if (score > bestScore) {
      best = passage
      bestScore = score
    }
  }
  return best
}

function sentencesOf(text: string): string[] {
  const clean = text.replace(/\s+/g, ' ').trim()
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' })
  return [...segmenter.segment(clean)].map((s) => s.segment.trim()).filter(Boolean)
}

/**
 * The sentences of a passage that best answer the question, in their order: the best
 * one, and the next best when it is a neighbour and the quote stays short.
 */
export function quoteOf(question: string, text: string, maxChars = 500): string {
  const sentences = sentencesOf(text)
  if (sentences.length === 0) return ''
  const wanted = terms(question)
  const scores = sentences.map((s) => overlap(wanted, s))
  let best = 0
  scores.forEach((score, i) => {
    if (score > scores[best]!) best = i
  })
  let from = best
  let to = best
  const neighbours = [best - 1, best + 1].filter((i) => i >= 0 && i < sentences.length)
  const next = neighbours.sort((a, b) => scores[b]! - scores[a]! || a - b)[0]
  if (next !== undefined && scores[next]! > 0 && sentences[best]!.length + sentences[next]!.length < maxChars) {
    from = Math.min(best, next)
    to = Math.max(best, next)
  }
  const quote = sentences.slice(from, to + 1).join(' ')
  return quote.length <= maxChars ? quote : `${quote.slice(0, maxChars).trimEnd()}…`
}

const DECLINE =
  "I'm answering in offline mode (no AI model is configured), so I can only look things up in our " +
  "knowledge base, and I couldn't find an answer to that there. I'd rather not guess: would you like " +
  'me to connect you with a person? Just say "talk to a human".'

export function answerOffline(question: string, passages: readonly KnowledgePassage[]): OfflineAnswer {
  const passage = bestPassage(question, passages)
  const weak =
    !passage ||
    (typeof passage.coverage === 'number'
      ? passage.coverage < OFFLINE_MIN_COVERAGE
      : overlap(terms(question), `${passage.title ?? ''} ${passage.text}`) === 0)
  if (!passage || weak) return { passage: null, text: DECLINE }
  const quote = quoteOf(question, passage.text)
  const source = passage.title ?? passage.source
  return {
    passage,
    text:
      "Offline answer (no AI model is configured, so I'm quoting our knowledge base):\n\n" +
      `> ${quote}${source ? `\n\n— ${source}` : ''}\n\nIf this doesn't answer your question, ask to talk to a human.`,
  }
}
