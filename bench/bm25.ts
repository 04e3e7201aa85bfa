// The reference lexical ranking the product is measured against: Okapi BM25 (k1 1.2,
// b 0.75, idf ln(1 + (N - df + 0.5) / (df + 0.5))) over Porter-stemmed words with
// Lucene's English stop words, computed in TypeScript on the same chunks the product
// stores. Exhaustive: every chunk sharing a word with the question is scored.
import { stemmer } from 'stemmer'

// Lucene's EnglishAnalyzer stop set.
const STOP_WORDS = new Set(
  (
    'a an and are as at be but by for if in into is it no not of on or such that the their then there these ' +
    'they this to was will with'
  ).split(' '),
)

export function bm25Terms(text: string): string[] {
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
  return words.filter((w) => !STOP_WORDS.has(w)).map((w) => stemmer(w))
}

export interface Bm25Index {
  search(question: string, limit: number): string[]
}

export function buildBm25(documents: ReadonlyArray<{ id: string; text: string }>, k1 = 1.2, b = 0.75): Bm25Index {
  const postings = new Map<string, Array<{ doc: number; tf: number }>>()
  const lengths: number[] = []
  documents.forEach((document, doc) => {
    const terms = bm25Terms(document.text)
    lengths.push(terms.length)
    const counts = new Map<string, number>()
    for (const term of terms) counts.set(term, (counts.get(term) ?? 0) + 1)
    for (const [term, tf] of counts) {
      let list = postings.get(term)
      if (!list) postings.set(term, (list = []))
      list.push({ doc, tf })
    }
  })
  const n = documents.length
  const avg = lengths.reduce((sum, l) => sum + l, 0) / Math.max(n, 1)
  return {
    search(question, limit) {
      const scores = new Map<number, number>()
      for (const term of new Set(bm25Terms(question))) {
        const list = postings.get(term)
        if (!list) continue
        const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5))
        for (const { doc, tf } of list) {
          const weight = (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * lengths[doc]!) / avg))
          scores.set(doc, (scores.get(doc) ?? 0) + weight)
        }
      }
      return [...scores.entries()]
        .sort((x, y) => y[1] - x[1] || x[0] - y[0])
        .slice(0, limit)
        .map(([doc]) => documents[doc]!.id)
    },
  }
}
