-- The source view: api.view_knowledge_source shows a source's passages in order with their
-- section, a keyset page at a time (each page one index range of one source, however much
-- knowledge the tenant has), to the tenant's members only: another tenant's admin, and a
-- guessed id, get "not found"; anon may not call it.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(17);

-- Tenant A: a manual of 130 passages in three sections, beside 40 other sources of 100
-- passages each (4,000 more chunks the view must never read).
insert into app.knowledge_sources (id, tenant_id, title, kind, content, status, chunk_count)
values ('5a000000-0000-4000-8000-000000000001', tests.get('tenant')::uuid, 'Manual', 'markdown', 'x', 'ready', 130);
insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, heading)
select tests.get('tenant')::uuid, '5a000000-0000-4000-8000-000000000001', i, 'Passage ' || i,
  'Manual › ' || case when i < 40 then 'Setup' when i < 90 then 'Use' else 'Care' end
from generate_series(0, 129) i;
insert into app.knowledge_sources (id, tenant_id, title, kind, content, status, chunk_count)
select ('5b000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, tests.get('tenant')::uuid, 'Other ' || g, 'text',
  'x', 'ready', 100
from generate_series(1, 40) g;
insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, heading)
select tests.get('tenant')::uuid, ('5b000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, i, 'Other passage ' || i,
  'Other ' || g
from generate_series(1, 40) g, generate_series(0, 99) i;
analyze app.knowledge_chunks, app.knowledge_sources;

-- Every page an operator of tenant A sees, following next_after.
create temp table pages (page integer, answer jsonb);
grant all on pages to authenticated;
select tests.become('operator');
do $$
declare
  cursor_at integer;
  page_no integer := 0;
  answer jsonb;
begin
  loop
    page_no := page_no + 1;
    answer := api.view_knowledge_source('5a000000-0000-4000-8000-000000000001', cursor_at, 50);
    insert into pages values (page_no, answer);
    cursor_at := (answer ->> 'next_after')::integer;
    exit when cursor_at is null or page_no > 5;
  end loop;
end $$;
reset role;
select set_config('request.jwt.claims', '', true);

select is((select count(*)::integer from pages), 3, 'three pages of 50 hold 130 passages');
select is((select p.answer -> 'source' ->> 'title' from pages p where p.page = 1), 'Manual', 'the page names its source');
select is((select (p.answer -> 'source' ->> 'chunk_count')::integer from pages p where p.page = 1), 130,
  'and how many passages it has');
select is(
  (select array_agg((x ->> 'chunk_index')::integer order by p.page, x.ord)
   from pages p, jsonb_array_elements(p.answer -> 'passages') with ordinality x(x, ord)),
  (select array_agg(i) from generate_series(0, 129) i),
  'every passage once, in order, across the pages');
select is((select p.answer -> 'passages' -> 0 ->> 'content' from pages p where p.page = 2), 'Passage 50',
  'a passage shows its text');
select is((select p.answer -> 'passages' -> 40 ->> 'heading' from pages p where p.page = 2), 'Manual › Care',
  'and its section');
select is((select p.answer ->> 'next_after' from pages p where p.page = 3), null, 'the last page says no more follow');
select is((select jsonb_array_length(p.answer -> 'passages') from pages p where p.page = 3), 30,
  'the last page holds the rest');
select is(tests.value_as('operator', $$select jsonb_array_length(api.view_knowledge_source(
    '5a000000-0000-4000-8000-000000000001', null, 100000) -> 'passages')$$), '130',
  'a huge page_size is held to 200');

-- Reading one page reads one page of chunks: no scan of the tenant's 4,130 chunks.
create temp table reads_before as
select pg_stat_get_xact_numscans('app.knowledge_chunks'::regclass) as seq_scans,
  pg_stat_get_xact_tuples_fetched('app.knowledge_chunks'::regclass)
    + pg_stat_get_xact_tuples_returned('app.knowledge_chunks'::regclass)
    + coalesce((select sum(pg_stat_get_xact_tuples_returned(i.indexrelid)) from pg_index i
                where i.indrelid = 'app.knowledge_chunks'::regclass), 0) as rows_read;
select tests.become('admin');
select api.view_knowledge_source('5a000000-0000-4000-8000-000000000001', 60, 50) is not null as read_a_page;
reset role;
select set_config('request.jwt.claims', '', true);
select cmp_ok(
  (select pg_stat_get_xact_tuples_fetched('app.knowledge_chunks'::regclass)
    + pg_stat_get_xact_tuples_returned('app.knowledge_chunks'::regclass)
    + coalesce((select sum(pg_stat_get_xact_tuples_returned(i.indexrelid)) from pg_index i
                where i.indrelid = 'app.knowledge_chunks'::regclass), 0)
    - r.rows_read from reads_before r),
  '<=', 2 * 51::numeric, 'a page reads at most its own 51 chunks (index entries and rows)');
select is((select pg_stat_get_xact_numscans('app.knowledge_chunks'::regclass) - r.seq_scans from reads_before r), 0::bigint,
  'and never scans the table');

-- Who may read it.
select is(tests.outcome('stranger', $$select api.view_knowledge_source('5a000000-0000-4000-8000-000000000001')$$),
  'P0002', 'another tenant''s owner gets not found, as for an id that does not exist');
select is(tests.outcome('admin', $$select api.view_knowledge_source(tests.get('source_b')::uuid)$$),
  'P0002', 'an admin of tenant A cannot read tenant B''s source either');
select is(tests.outcome('admin', $$select api.view_knowledge_source(gen_random_uuid())$$), 'P0002',
  'an unknown id is not found');
select is(tests.outcome('anon', $$select api.view_knowledge_source('5a000000-0000-4000-8000-000000000001')$$), '42501',
  'anon may not call it');
select is(tests.value_as('stranger', $$select (api.view_knowledge_source(tests.get('source_b')::uuid) -> 'source' ->> 'title')$$),
  'Refunds B', 'tenant B''s owner reads its own source');
select tests.become('platform');
select jsonb_array_length(api.view_knowledge_source('5a000000-0000-4000-8000-000000000001') -> 'passages') as platform_read;
reset role;
select set_config('request.jwt.claims', '', true);
select is((select count(*)::integer from app.audit_log a where a.tenant_id = tests.get('tenant')::uuid
    and a.action = 'platform_admin.read' and a.details ->> 'what' = 'knowledge'), 1,
  'a platform admin reads it, and the tenant''s audit log says so');

select * from finish();
rollback;
