// When the offline answer (shared/agent/offline.ts) quotes and when it declines, measured
// on the SQuAD subset (bench/data/README.md): a tenant's knowledge holds two articles
// (Super Bowl 50, Normans). Asked of it, as the worker asks (api.search_knowledge, 5
// passages, no embedding):
//   - answerable: those articles' answerable questions; it should quote, and the quote
//     should hold the answer;
//   - off-topic: the third article's questions (Notre Dame), which the knowledge cannot
//     answer; it should decline and offer a person;
//   - adversarial: SQuAD 2.0's unanswerable Normans questions, written to look answerable
//     from the article (hard for any lexical test).
// Prints one JSON object: for each coverage threshold, the share answered / declined,
// and at OFFLINE_MIN_COVERAGE the share whose quote holds the answer.
// Usage: npm run bench:offline [-- --native]
import { answerOffline, OFFLINE_MIN_COVERAGE } from '../shared/agent/offline.ts'
import { loadArticles, openEvalDb, readSquad } from './retrieval-eval.ts'

const TENANT = '10000000-0000-4000-8000-00000000e7a2'
const round = (x: number) => Math.round(x * 1000) / 1000
const squash = (text: string) => text.replace(/\s+/g, ' ').trim().toLowerCase()

const native = process.argv.includes('--native')
const evalDb = await openEvalDb(native)
try {
  const articles = readSquad()
  const known = articles.filter((a) => a.title !== 'University of Notre Dame')
  const unknown = articles.filter((a) => a.title === 'University of Notre Dame')
  await loadArticles(evalDb.db, TENANT, known)

  interface Asked {
    kind: 'answerable' | 'off_topic' | 'adversarial'
    question: string
    answer: string | null
  }
  const asked: Asked[] = []
  for (const article of known) {
    for (const paragraph of article.paragraphs) {
      for (const q of paragraph.questions) {
        asked.push({
          kind: q.answerable ? 'answerable' : 'adversarial',
          question: q.question,
          answer: q.answer?.text ?? null,
        })
      }
    }
  }
  for (const article of unknown) {
    for (const paragraph of article.paragraphs) {
      for (const q of paragraph.questions) asked.push({ kind: 'off_topic', question: q.question, answer: null })
    }
  }

  const results: Array<Asked & { coverage: number; quoted: boolean; quoteHoldsAnswer: boolean }> = []
  for (const item of asked) {
    const { rows } = await evalDb.db.asRequest({ role: 'service_role' }, (tx) =>
      tx.query<{ content: string; source_title: string | null; coverage: number | null }>(
        `select content, source_title, coverage from api.search_knowledge($1, $2, null, 5)`,
        [TENANT, item.question],
      ),
    )
    const passages = rows.map((r) => ({ text: r.content, title: r.source_title, coverage: r.coverage }))
    const answer = answerOffline(item.question, passages)
    const quote = answer.passage ? squash(answer.text) : ''
    results.push({
      ...item,
      coverage: rows[0]?.coverage ?? 0,
      quoted: answer.passage !== null,
      quoteHoldsAnswer: !!item.answer && quote.includes(squash(item.answer)),
    })
  }

  const share = (kind: Asked['kind'], test: (r: (typeof results)[number]) => boolean) => {
    const of = results.filter((r) => r.kind === kind)
    return round(of.filter(test).length / Math.max(of.length, 1))
  }
  const sweep = [0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7].map((threshold) => ({
    threshold,
    answerable_answered: share('answerable', (r) => r.coverage >= threshold),
    off_topic_declined: share('off_topic', (r) => r.coverage < threshold),
    adversarial_declined: share('adversarial', (r) => r.coverage < threshold),
  }))
  console.log(
    JSON.stringify(
      {
        bench: 'offline-answer',
        engine: evalDb.engine,
        questions: {
          answerable: results.filter((r) => r.kind === 'answerable').length,
          off_topic: results.filter((r) => r.kind === 'off_topic').length,
          adversarial: results.filter((r) => r.kind === 'adversarial').length,
        },
        at_min_coverage: {
          min_coverage: OFFLINE_MIN_COVERAGE,
          answerable_answered: share('answerable', (r) => r.quoted),
          answerable_quote_holds_answer: share('answerable', (r) => r.quoteHoldsAnswer),
          off_topic_declined: share('off_topic', (r) => !r.quoted),
          adversarial_declined: share('adversarial', (r) => !r.quoted),
        },
        sweep,
      },
      null,
      2,
    ),
  )
} finally {
  await evalDb.close()
}
