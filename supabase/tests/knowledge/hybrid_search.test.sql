-- Hybrid knowledge search: filtered by tenant before ranking, full text without embeddings.
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(9);

create function tests.unit_vector(i integer) returns extensions.vector language sql immutable as $$
  select (select array_agg(case when g = i then 1.0 else 0.0 end order by g) from generate_series(1, 1536) g)::real[]::extensions.vector
$$;

-- Tenant B holds the passage that is closest to the query in every way: same words,
-- identical embedding. Tenant A holds a weaker match.
update app.knowledge_chunks set embedding = tests.unit_vector(1) where source_id = tests.get('source_b')::uuid;
update app.knowledge_chunks set embedding = tests.unit_vector(2) where source_id = tests.get('source')::uuid;

select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'refunds paid within 10 business days tenant B',
     tests.unit_vector(1), 10) s where s.source_id <> tests.get('source')::uuid
     and s.source_id in (select id from app.knowledge_sources where tenant_id <> tests.get('tenant')::uuid)),
  0, 'hybrid search never returns another tenant''s chunk, even the closest one');
select is(
  (select s.source_id from api.search_knowledge(tests.get('tenant')::uuid, 'refunds paid within 10 business days tenant B',
     tests.unit_vector(1), 10) s limit 1),
  tests.get('source')::uuid, 'it returns the tenant''s own best passage');
select is(
  (select s.source_id from api.search_knowledge(tests.get('tenant_b')::uuid, 'refunds', tests.unit_vector(1), 10) s limit 1),
  tests.get('source_b')::uuid, 'the other tenant finds its own passage');

-- Without embeddings: full text alone.
update app.knowledge_chunks set embedding = null where tenant_id in (tests.get('tenant')::uuid, tests.get('tenant_b')::uuid);
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'refunds business days')),
  1, 'with no embeddings at all, full-text search still answers');
select is(
  (select fts_rank || '/' || coalesce(vector_rank::text, 'none') from api.search_knowledge(tests.get('tenant')::uuid, 'refunds', tests.unit_vector(2))),
  '1/none', 'a query embedding with no embedded chunks falls back to full text');

-- Vector only: a passage with no shared words is found by its embedding.
update app.knowledge_chunks set embedding = tests.unit_vector(3) where source_id = tests.get('source')::uuid;
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'zebra', tests.unit_vector(3))),
  1, 'a semantically close passage is found without shared words');
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant')::uuid, 'zebra')),
  0, 'and nothing is made up when neither ranking matches');

-- As a member (RLS and the function's own tenant filter together).
select tests.become('stranger');
select is(
  (select count(*)::integer from api.search_knowledge(tests.get('tenant_b')::uuid, 'refunds', tests.unit_vector(3), 10) s
   where s.source_id = tests.get('source')::uuid), 0, 'a member of B searching B never sees A''s passage');
reset role;

select ok(exists (select 1 from pg_indexes where schemaname = 'app' and tablename = 'knowledge_chunks'
                  and indexdef ~ 'USING hnsw \(embedding (extensions\.)?vector_cosine_ops\)'),
  'knowledge chunks have an HNSW cosine index');

select * from finish();
rollback;
