-- Hybrid search at volume (issue 11): a large tenant's vector ranking is planned for that
-- tenant on every call. PL/pgSQL keeps a generic plan for a statement after five calls in a
-- session when it looks no dearer than the custom ones, and a generic plan knows the tenant
-- only as a parameter: with a thousand tenants in app.knowledge_chunks it expects a handful
-- of chunks, so it ranked them by the tenant's btree index and a sort, reading every vector
-- of the tenant. For a tenant of 100,000 chunks that is every one of them (300,000 buffers a
-- call) where the HNSW index reads a few thousand. Measured with bench:sql's volume (1,000
-- tenants of 100 chunks and one of 100,000; native PostgreSQL 15, pgbench, one client): the
-- large tenant's search 555 ms a call with the generic plan, 14.4 ms planned per call.
--
-- Only the vector ranking of a tenant above the exact-scan limit is planned per call, in
-- app.nearest_chunks: planning the whole search on every call cost 0.8 ms (empty database,
-- p50 0.67 -> 1.46 ms), and the full-text search every reply makes has no vector in it. The
-- search itself keeps one plan per session (force_generic_plan): with the helper's function
-- scan in it, a custom plan, which drops the ranking it does not need, always looked
-- cheaper than the generic one, so 'auto' planned it again on every call all the same. In
-- the generic plan each ranking runs only when its condition holds at run time.
-- app.rank_knowledge_text keeps its generic plan too: it is driven by the question's terms.

-- The SET clause of app.nearest_chunks names a pgvector setting, which exists only once the
-- extension's library is loaded in this session; a role that is not a superuser (Supabase's
-- postgres) may not set a parameter that does not exist yet. Reading a vector loads it.
do $$ begin perform '[0]'::extensions.vector; end $$;

create function app.nearest_chunks(tenant_id uuid, query_embedding extensions.vector, n integer)
returns table (id uuid, distance double precision)
language plpgsql
stable
-- Planned with this tenant's statistics on every call (see above).
set plan_cache_mode = force_custom_plan
-- Iterative index scans (pgvector 0.8): when most of the shared HNSW index belongs to
-- other tenants, the scan goes on past the first ef_search neighbours until enough of
-- this tenant's chunks are found. Set here, so it holds for this call only.
set hnsw.iterative_scan = 'relaxed_order'
set search_path = ''
as $$
begin
  return query
    select c.id, c.embedding operator(extensions.<=>) nearest_chunks.query_embedding
    from app.knowledge_chunks c
    where c.tenant_id = nearest_chunks.tenant_id and c.embedding is not null
    order by c.embedding operator(extensions.<=>) nearest_chunks.query_embedding
    limit nearest_chunks.n;
end
$$;
comment on function app.nearest_chunks(uuid, extensions.vector, integer) is 'A tenant''s n knowledge chunks nearest to query_embedding (cosine distance), by the shared HNSW index with iterative scans where the planner, given this tenant''s statistics, finds that cheaper. Planned on every call. For api.search_knowledge (tenants above the exact-scan limit).';
revoke all on function app.nearest_chunks(uuid, extensions.vector, integer) from public, anon;
-- api.search_knowledge runs as its caller (a member, under RLS) or service_role.
grant execute on function app.nearest_chunks(uuid, extensions.vector, integer) to authenticated, service_role;

create or replace function api.search_knowledge(tenant_id uuid, query_text text, query_embedding extensions.vector default null,
  match_count integer default 5)
returns table (chunk_id uuid, source_id uuid, source_title text, content text, score double precision,
  fts_rank integer, vector_rank integer, coverage double precision)
language plpgsql
set plan_cache_mode = force_generic_plan
set search_path = ''
as $$
declare
  k integer := least(greatest(coalesce(search_knowledge.match_count, 5), 1), 50);
  -- A tenant this small (2,000 chunks; the session setting konstruct.exact_vector_limit
  -- may lower it, as the tests do) is ranked by an exact scan of its own chunks (a few
  -- milliseconds), so its nearest chunks are found however crowded the shared index is.
  -- The question is read in its own language first, then in each language of the
  -- tenant's knowledge (a short question may not tell its language).
  configs regconfig[] := (
    select array_agg(l.cfg order by l.first_at) from (
      select c.cfg, min(c.at) as first_at
      from unnest(array[app.detect_language(search_knowledge.query_text)]
        || coalesce((select s.languages from app.knowledge_stats s where s.tenant_id = search_knowledge.tenant_id), '{}'))
        with ordinality c(cfg, at)
      where c.cfg is not null
      group by c.cfg) l);
  exact_vectors boolean := coalesce((select s.chunk_count <= coalesce(
      nullif(current_setting('konstruct.exact_vector_limit', true), '')::integer, 2000)
    from app.knowledge_stats s where s.tenant_id = search_knowledge.tenant_id), true);
begin
  if not pg_catalog.pg_has_role(current_user, 'service_role', 'usage') then
    perform app.require_read(search_knowledge.tenant_id, 'knowledge search');
  end if;
  -- Reciprocal rank fusion (k = 60) of BM25 (app.rank_knowledge_text) and a vector
  -- ranking; both see only this tenant's chunks. Without an embedding, BM25 alone.
  return query
    with full_text as (
      select r.chunk_id as id, r.rank_ix, r.coverage
      from app.rank_knowledge_text(search_knowledge.tenant_id, search_knowledge.query_text, configs, k * 4) r
    ),
    nearest as materialized (
      select n.id, n.distance
      from app.nearest_chunks(search_knowledge.tenant_id, search_knowledge.query_embedding, k * 4) n
      where search_knowledge.query_embedding is not null and not exact_vectors
    ),
    nearest_exact as materialized (
      select c.id, c.embedding operator(extensions.<=>) search_knowledge.query_embedding as distance
      from app.knowledge_chunks c
      where c.tenant_id = search_knowledge.tenant_id and search_knowledge.query_embedding is not null
        and c.embedding is not null and exact_vectors
      -- "+ 0" keeps the planner off the shared HNSW index: an exact scan of this tenant's chunks.
      order by (c.embedding operator(extensions.<=>) search_knowledge.query_embedding) + 0, c.id
      limit k * 4
    ),
    semantic as (
      select v.id, (row_number() over (order by v.distance, v.id))::integer as rank_ix
      from (select * from nearest union all select * from nearest_exact) v
    ),
    fused as (
      select coalesce(f.id, s.id) as id,
        coalesce(1.0 / (60 + f.rank_ix), 0.0) + coalesce(1.0 / (60 + s.rank_ix), 0.0) as fused_score,
        f.rank_ix as f_rank, s.rank_ix as s_rank, f.coverage
      from full_text f full outer join semantic s on s.id = f.id
    )
    select c.id, c.source_id, c.title, c.content, best.fused_score::double precision, best.f_rank, best.s_rank,
      coalesce(best.coverage, 0)::double precision
    from (select * from fused
          order by fused.fused_score desc, coalesce(fused.f_rank, 2147483647), coalesce(fused.s_rank, 2147483647), fused.id
          limit k) best
    -- Primary-key lookups of the k best only ("offset 0" keeps them nested loops).
    cross join lateral (select c.id, c.source_id, src.title, c.content
                        from app.knowledge_chunks c join app.knowledge_sources src on src.id = c.source_id
                        where c.id = best.id and c.tenant_id = search_knowledge.tenant_id offset 0) c
    order by best.fused_score desc, coalesce(best.f_rank, 2147483647), coalesce(best.s_rank, 2147483647), best.id;
end
$$;
