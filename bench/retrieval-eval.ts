// Retrieval quality of api.search_knowledge (full text only, as without an embedding
// model) beside BM25 computed in TypeScript on the very same chunks, on a public labelled
// set: three SQuAD articles (bench/data/README.md: source and licence). Each article is
// one knowledge source created through api.create_knowledge_source (so the product's own
// chunking applies); a chunk is relevant to a question when it holds the text around the
// question's answer. Searches run as the agent's worker does: service_role, match_count 10.
// Prints one JSON object: recall@1, recall@5 (a relevant chunk in the top k), MRR@10,
// nDCG@10 for both, and the product's search latency.
// Usage: npm run bench:retrieval [-- --native]   (native: a throwaway PostgreSQL 15)
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { LocalDb } from '../local/db.ts'
import { startPostgres, type NativePostgres } from '../local/postgres.ts'
import { buildBm25 } from './bm25.ts'
import { percentile } from './latency.ts'

export interface Question {
  id: string
  question: string
  answerable: boolean
  answer: { text: string; start: number } | null
}
export interface Article {
  title: string
  paragraphs: Array<{ context: string; questions: Question[] }>
}

const root = fileURLToPath(new URL('..', import.meta.url))
const OWNER = '00000000-0000-4000-8000-000000000001' // the seed's admin
const TENANT = '10000000-0000-4000-8000-00000000e7a1'
const K = 10

export interface Metrics {
  recall_at_1: number
  recall_at_5: number
  mrr_at_10: number
  ndcg_at_10: number
}

/** Binary-relevance metrics of ranked ids against each question's relevant ids. */
export function score(runs: ReadonlyArray<{ ranked: readonly string[]; relevant: ReadonlySet<string> }>): Metrics {
  let r1 = 0
  let r5 = 0
  let mrr = 0
  let ndcg = 0
  for (const { ranked, relevant } of runs) {
    const top = ranked.slice(0, K)
    const first = top.findIndex((id) => relevant.has(id))
    if (first === 0) r1++
    if (first >= 0 && first < 5) r5++
    if (first >= 0) mrr += 1 / (first + 1)
    let dcg = 0
    top.forEach((id, i) => {
      if (relevant.has(id)) dcg += 1 / Math.log2(i + 2)
    })
    let ideal = 0
    for (let i = 0; i < Math.min(relevant.size, K); i++) ideal += 1 / Math.log2(i + 2)
    ndcg += ideal > 0 ? dcg / ideal : 0
  }
  const n = Math.max(runs.length, 1)
  const round = (x: number) => Math.round((x / n) * 1000) / 1000
  return { recall_at_1: round(r1), recall_at_5: round(r5), mrr_at_10: round(mrr), ndcg_at_10: round(ndcg) }
}

const squash = (text: string) => text.replace(/\s+/g, ' ').trim()

/** The text around an answer (sentence-sized), to find the chunk that holds it. */
function answerWindow(context: string, answer: { text: string; start: number }): string {
  const from = Math.max(0, answer.start - 40)
  return squash(context.slice(from, answer.start + answer.text.length + 40))
}

/** The q-quantile of samples in ms, to two decimals. */
const latency = (samples: number[], q: number) => Math.round(percentile(samples, q) * 100) / 100

export interface EvalDb {
  db: LocalDb
  engine: string
  close(): Promise<void>
}

/** PGlite in memory, or (--native) a throwaway PostgreSQL 15 cluster. */
export async function openEvalDb(native: boolean): Promise<EvalDb> {
  let server: NativePostgres | undefined
  if (native) server = await startPostgres({ root })
  const db = await LocalDb.open({ root, url: server?.url })
  return {
    db,
    engine: native ? 'postgresql-15' : 'pglite',
    async close() {
      await db.close()
      await server?.stop()
    },
  }
}

export function readSquad(): Article[] {
  return (
    JSON.parse(readFileSync(new URL('./data/squad-subset.json', import.meta.url), 'utf8')) as { articles: Article[] }
  ).articles
}

export interface Chunk {
  id: string
  source_id: string
  heading: string | null
  content: string
}

/** A tenant owned by the seed's admin, each article one text source created through the api. */
export async function loadArticles(db: LocalDb, tenant: string, articles: readonly Article[]) {
  await db.asOwner(async (tx) => {
    await tx.query(`insert into app.tenants (id, name, slug, created_by) values ($1, 'Retrieval eval', $2, $3)`, [
      tenant,
      `eval-${tenant.slice(-6)}`,
      OWNER,
    ])
    await tx.query(
      `insert into app.memberships (tenant_id, user_id, role) values ($1, $2, 'owner') on conflict do nothing`,
      [tenant, OWNER],
    )
  })
  const sourceOf = new Map<Article, string>()
  for (const article of articles) {
    const text = article.paragraphs.map((p) => p.context).join('\n\n')
    const { rows } = await db.asRequest({ role: 'authenticated', sub: OWNER }, (tx) =>
      tx.query<{ s: { id: string } }>(`select api.create_knowledge_source($1, $2, $3, 'text') as s`, [
        tenant,
        article.title,
        text,
      ]),
    )
    sourceOf.set(article, rows[0]!.s.id)
  }
  const { rows: chunks } = await db.asOwner((tx) =>
    tx.query<Chunk>(
      `select id, source_id, heading, content from app.knowledge_chunks where tenant_id = $1 order by source_id, chunk_index`,
      [tenant],
    ),
  )
  return { sourceOf, chunks }
}

async function main() {
  const native = process.argv.includes('native') || process.argv.includes('--native')
  const evalDb = await openEvalDb(native)
  const db = evalDb.db
  try {
    const articles = readSquad()
    const { sourceOf, chunks } = await loadArticles(db, TENANT, articles)

    // Labels: the chunks of the article's source holding the text around the answer.
    const labelled: Array<{ question: string; relevant: Set<string> }> = []
    for (const article of articles) {
      const own = chunks.filter((c) => c.source_id === sourceOf.get(article))
      for (const paragraph of article.paragraphs) {
        for (const q of paragraph.questions) {
          if (!q.answerable || !q.answer) continue
          const window = answerWindow(paragraph.context, q.answer)
          let relevant = own.filter((c) => squash(c.content).includes(window))
          // The window straddles a chunk boundary: the chunks holding the answer and part of its paragraph.
          if (relevant.length === 0) {
            const head = squash(paragraph.context).slice(0, 60)
            relevant = own.filter((c) => squash(c.content).includes(head) || squash(c.content).includes(q.answer!.text))
          }
          if (relevant.length > 0) labelled.push({ question: q.question, relevant: new Set(relevant.map((c) => c.id)) })
        }
      }
    }

    const baseline = buildBm25(chunks.map((c) => ({ id: c.id, text: `${c.heading ?? ''}\n${c.content}` })))
    const product: Array<{ ranked: string[]; relevant: Set<string> }> = []
    const reference: Array<{ ranked: string[]; relevant: Set<string> }> = []
    const latencies: number[] = []
    for (const { question, relevant } of labelled) {
      const started = performance.now()
      const { rows } = await db.asRequest({ role: 'service_role' }, (tx) =>
        tx.query<{ chunk_id: string }>(`select chunk_id from api.search_knowledge($1, $2, null, $3)`, [
          TENANT,
          question,
          K,
        ]),
      )
      latencies.push(performance.now() - started)
      product.push({ ranked: rows.map((r) => r.chunk_id), relevant })
      reference.push({ ranked: baseline.search(question, K), relevant })
    }

    console.log(
      JSON.stringify(
        {
          bench: 'retrieval-eval',
          engine: evalDb.engine,
          dataset: 'SQuAD subset (3 articles, CC BY-SA 4.0; bench/data/README.md)',
          chunks: chunks.length,
          questions: labelled.length,
          product: score(product),
          bm25_typescript: score(reference),
          product_latency_ms: { p50: latency(latencies, 0.5), p95: latency(latencies, 0.95) },
        },
        null,
        2,
      ),
    )
  } finally {
    await evalDb.close()
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
