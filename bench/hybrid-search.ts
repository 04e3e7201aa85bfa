// Hybrid knowledge search latency (api.search_knowledge: full text OR of the question's
// words + pgvector cosine, fused by reciprocal rank, tenant-filtered before ranking) on a
// fresh in-memory local stack: 2,000 chunks in two tenants, each chunk with a 1536-dim
// embedding (deterministic bag-of-words vectors from the fake OpenAI server). Queries go
// through supabase-js as the service role, with and without a query embedding.
// Prints one JSON object. Usage: npm run bench:search  (BENCH_CHUNKS, BENCH_QUERIES)
import { fileURLToPath } from 'node:url'
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'
import { chosenDatabase, startStack } from '../local/server.ts'
import { fakeEmbedding } from '../tests/fakes/fake-openai.ts'
import { summarize } from './latency.ts'

const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 2000)
const QUERIES = Number(process.env.BENCH_QUERIES ?? 200)
const WARMUP = 10
const TENANT_A = '10000000-0000-4000-8000-000000000001'
const TENANT_B = '10000000-0000-4000-8000-0000000000be'

const VOCABULARY = (
  'refund shipping delivery order invoice payment card warranty return exchange size colour linen cotton ' +
  'jacket shirt store opening hours sunday holiday discount coupon loyalty points account password email ' +
  'phone address parcel courier tracking customs europe portugal lisbon porto express standard business ' +
  'days week month plan starter team price euros trial cancel subscription billing support agent chat'
).split(' ')

let seed = 42
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
const sentence = (words: number) =>
  Array.from({ length: words }, () => VOCABULARY[Math.floor(random() * VOCABULARY.length)]).join(' ')

const stack = await startStack({ root: fileURLToPath(new URL('..', import.meta.url)), port: 0, db: chosenDatabase() })
try {
  const loadStarted = performance.now()
  await stack.db.asOwner(async (tx) => {
    await tx.query(`insert into app.tenants (id, name, slug) values ($1, 'Bench B', 'bench-b')`, [TENANT_B])
    for (const [tenant, source] of [
      [TENANT_A, '40000000-0000-4000-8000-0000000000a1'],
      [TENANT_B, '40000000-0000-4000-8000-0000000000b1'],
    ] as const) {
      await tx.query(
        `insert into app.knowledge_sources (id, tenant_id, title, kind, status) values ($1, $2, 'Bench corpus', 'text', 'ready')`,
        [source, tenant],
      )
      for (let i = 0; i < CHUNKS / 2; i += 50) {
        const rows = Array.from({ length: Math.min(50, CHUNKS / 2 - i) }, (_, j) => {
          const content = `${sentence(30)}. ${sentence(25)}.`
          return { index: i + j + 100, content, embedding: `[${fakeEmbedding(content, 1536).join(',')}]` }
        })
        await tx.query(
          `insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, embedding)
           select $1, $2, (r ->> 'index')::int, r ->> 'content', (r ->> 'embedding')::extensions.vector
           from jsonb_array_elements($3::jsonb) r`,
          [tenant, source, JSON.stringify(rows)],
        )
      }
    }
  })
  const loadSeconds = (performance.now() - loadStarted) / 1000

  const service = createClient(stack.url, stack.keys.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket as never },
    db: { schema: 'api' },
  })
  const questions = Array.from({ length: QUERIES + WARMUP }, () => `How long does ${sentence(4)} take?`)
  async function run(withEmbedding: boolean) {
    const samples: number[] = []
    let hits = 0
    for (const [i, question] of questions.entries()) {
      const embedding = withEmbedding ? `[${fakeEmbedding(question, 1536).join(',')}]` : null
      const t0 = performance.now()
      const { data, error } = await service.rpc('search_knowledge', {
        tenant_id: TENANT_A,
        query_text: question,
        query_embedding: embedding,
        match_count: 5,
      })
      const t1 = performance.now()
      if (error) throw new Error(`search failed: ${error.message}`)
      if (i >= WARMUP) {
        samples.push(t1 - t0)
        hits += (data as unknown[]).length
      }
    }
    return { ...summarize(samples, 2), mean_hits: Math.round((hits / QUERIES) * 10) / 10 }
  }
  const fullText = await run(false)
  const hybrid = await run(true)
  const [counts] = (
    await stack.db.pg.query<{ a: number; b: number }>(
      `select count(*) filter (where tenant_id = $1)::int as a, count(*) filter (where tenant_id = $2)::int as b from app.knowledge_chunks`,
      [TENANT_A, TENANT_B],
    )
  ).rows

  console.log(
    JSON.stringify(
      {
        bench: 'hybrid-search',
        database: await stack.db.engine(),
        node: process.version,
        chunks: { tenant_a: counts!.a, tenant_b: counts!.b, embedding_dimensions: 1536 },
        load_seconds: Math.round(loadSeconds * 10) / 10,
        queries: QUERIES,
        full_text_only: fullText,
        hybrid_with_embedding: hybrid,
      },
      null,
      2,
    ),
  )
} finally {
  await stack.close()
}
