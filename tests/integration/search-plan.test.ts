// A large tenant's hybrid search keeps using the shared HNSW index however many times a
// session calls it, on a native PostgreSQL (bash .ci/native.sh runs it; HNSW builds of this
// size are too slow for PGlite). PL/pgSQL keeps a generic plan for a statement after five
// calls, and a generic plan knows the tenant only as a parameter: with a thousand tenants in
// app.knowledge_chunks it expects a handful of chunks and ranks them by the tenant's btree
// index and a sort, which for a large tenant reads every one of its vectors. So the vector
// ranking is planned for the tenant on each call (app.nearest_chunks).
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NativePostgres } from '../../local/postgres.ts'
import { nativeDb, startNativeDb } from '../support/stack.ts'

const BIG = '40000000-0000-4000-8000-000000000000'
const SMALL_TENANTS = 1000
const SMALL_CHUNKS = 5
const BIG_CHUNKS = 5000

describe.skipIf(!nativeDb)("a large tenant's hybrid search on a native server", () => {
  let server: NativePostgres
  let db: pg.Client

  beforeAll(async () => {
    server = await startNativeDb()
    db = new pg.Client({ connectionString: server.url })
    await db.connect()
    // 1,000 tenants of 5 chunks and one of 5,000: half the index is the large tenant's.
    await db.query(`
      create temp table crowd as
      select g, case when g = 0 then '${BIG}'::uuid else gen_random_uuid() end as id,
        case when g = 0 then ${BIG_CHUNKS} else ${SMALL_CHUNKS} end as chunks
      from generate_series(0, ${SMALL_TENANTS}) g;
      insert into app.tenants (id, name, slug) select id, 'Plan ' || g, 'plan-' || g from crowd;
      insert into app.knowledge_sources (id, tenant_id, title, kind, status) select id, id, 'Handbook', 'text', 'ready' from crowd;
      drop index app.knowledge_chunks_embedding_idx;
      insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, embedding)
      select c.id, c.id, i, 'passage ' || i,
        (select array_agg(random()::real - 0.5)::real[]::extensions.vector from generate_series(1, 1536 + 0 * i))
      from crowd c cross join lateral generate_series(1, c.chunks) i;
      set maintenance_work_mem = '1GB';
      create index knowledge_chunks_embedding_idx on app.knowledge_chunks using hnsw (embedding extensions.vector_cosine_ops);
      reset maintenance_work_mem;
      analyze app.knowledge_chunks;`)
  }, 300_000)

  afterAll(async () => {
    // A server given as KONSTRUCT_DB=postgres://… outlives the test: take the crowd away again.
    await db?.query('delete from app.tenants where id in (select id from crowd)').catch(() => {})
    await db?.end().catch(() => {})
    await server?.stop()
  })

  it('ranks by the HNSW index on every call of a session, not only the first five', async () => {
    await db.query('begin')
    try {
      await db.query('set local role service_role')
      // Above this limit a tenant is ranked by the HNSW index (2,000 by default).
      await db.query(`set local konstruct.exact_vector_limit = 1000`)
      const calls = 10
      for (let i = 0; i < calls; i++) {
        const found = await db.query(
          `select count(*)::int as n from api.search_knowledge($1, 'passage',
             (select array_agg(random()::real - 0.5)::real[]::extensions.vector from generate_series(1, 1536)), 5)`,
          [BIG],
        )
        expect(found.rows[0].n).toBe(5)
      }
      const scans = await db.query(
        `select pg_stat_get_xact_numscans('app.knowledge_chunks_embedding_idx'::regclass)::int as n`,
      )
      expect(scans.rows[0].n).toBe(calls)
    } finally {
      await db.query('rollback')
    }
  })
})
