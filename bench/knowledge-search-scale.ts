// Full-text knowledge search latency at scale on a native PostgreSQL 15 (a throwaway
// cluster, local/postgres.ts): one tenant with BENCH_CHUNKS chunks (default 100,000)
// beside BENCH_TENANTS small tenants of 100 chunks, written by the server itself (words
// drawn log-uniformly from the SQuAD subset's vocabulary, so common words match a large
// share of the chunks, as in real text), through the same triggers that keep the BM25
// statistics in production. Then the SQuAD questions are asked of the large tenant as
// the agent's worker asks them (service_role, api.search_knowledge, match_count 10), one
// round trip each. Prints one JSON object; latency includes the client round trip and
// the machine's load average is printed beside it.
// Usage: npm run bench:search-scale   (BENCH_CHUNKS, BENCH_TENANTS, BENCH_QUERIES)
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { startPostgres } from '../local/postgres.ts'

const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 100_000)
const TENANTS = Number(process.env.BENCH_TENANTS ?? 100)
const QUERIES = Number(process.env.BENCH_QUERIES ?? 500)
const WORDS_PER_CHUNK = 80
const BIG = '10000000-0000-4000-8000-0000000b1600'
const root = fileURLToPath(new URL('..', import.meta.url))

const squad = JSON.parse(readFileSync(new URL('./data/squad-subset.json', import.meta.url), 'utf8')) as {
  articles: Array<{ paragraphs: Array<{ context: string; questions: Array<{ question: string }> }> }>
}
const counts = new Map<string, number>()
const questions: string[] = []
for (const article of squad.articles) {
  for (const paragraph of article.paragraphs) {
    for (const word of paragraph.context.toLowerCase().match(/\p{L}+/gu) ?? [])
      counts.set(word, (counts.get(word) ?? 0) + 1)
    for (const q of paragraph.questions) questions.push(q.question)
  }
}
const vocabulary = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w)

function summarize(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100
  return { n: sorted.length, p50_ms: at(0.5), p95_ms: at(0.95), p99_ms: at(0.99), max_ms: at(1) }
}

const server = await startPostgres({ root, settings: { shared_buffers: '512MB', work_mem: '16MB' } })
const client = new pg.Client({ connectionString: server.url })
try {
  await client.connect()
  const loadStarted = performance.now()
  // A chunk of WORDS_PER_CHUNK words; word rank r is drawn with P(r) ~ 1/r (log-uniform).
  const insertChunks = `
    with src as (
      insert into app.knowledge_sources (tenant_id, title, kind, status)
      values ($1, $2, 'text', 'ready') returning id, tenant_id)
    insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, heading)
    select src.tenant_id, src.id, g, (
        select string_agg(($5::text[])[least(floor(exp(random() * ln(${vocabulary.length})))::int, ${vocabulary.length})], ' ')
        from generate_series(1, ${WORDS_PER_CHUNK}) k where g > -k),
      $2
    from src, generate_series($3::int, $4::int) g`
  await client.query(`select setseed(0.42)`)
  await client.query(`insert into app.tenants (id, name, slug) values ($1, 'Big', 'big-knowledge')`, [BIG])
  for (let from = 0; from < CHUNKS; from += 5000) {
    await client.query(insertChunks, [
      BIG,
      `Handbook part ${from / 5000 + 1}`,
      from,
      Math.min(from + 5000, CHUNKS) - 1,
      vocabulary,
    ])
  }
  for (let t = 0; t < TENANTS; t++) {
    const id = `20000000-0000-4000-8000-${String(t).padStart(12, '0')}`
    await client.query(`insert into app.tenants (id, name, slug) values ($1, $2, $2)`, [id, `small-${t}`])
    await client.query(insertChunks, [id, 'Small handbook', 0, 99, vocabulary])
  }
  await client.query('vacuum analyze')
  const loadSeconds = (performance.now() - loadStarted) / 1000
  const { rows: sizes } = await client.query<{ chunks: number; postings: number; terms: number }>(
    `select (select count(*) from app.knowledge_chunks where tenant_id = $1)::int as chunks,
            (select count(*) from app.knowledge_postings where tenant_id = $1)::int as postings,
            (select count(*) from app.knowledge_terms where tenant_id = $1)::int as terms`,
    [BIG],
  )

  await client.query('set role service_role')
  const samples: number[] = []
  let hits = 0
  for (let i = 0; i < QUERIES + 20; i++) {
    const question = questions[i % questions.length]!
    const started = performance.now()
    const { rows } = await client.query(`select chunk_id from api.search_knowledge($1, $2, null, 10)`, [BIG, question])
    const elapsed = performance.now() - started
    if (i >= 20) {
      samples.push(elapsed)
      hits += rows.length
    }
  }
  console.log(
    JSON.stringify(
      {
        bench: 'knowledge-search-scale',
        engine: 'postgresql-15',
        node: process.version,
        tenant: { ...sizes[0], words_per_chunk: WORDS_PER_CHUNK, vocabulary: vocabulary.length },
        other_tenants: TENANTS,
        load_seconds: Math.round(loadSeconds),
        queries: QUERIES,
        full_text: { ...summarize(samples), mean_hits: Math.round((hits / QUERIES) * 10) / 10 },
        load_average_1m: Math.round(loadavg()[0]! * 10) / 10,
      },
      null,
      2,
    ),
  )
} finally {
  await client.end().catch(() => {})
  await server.stop()
}
