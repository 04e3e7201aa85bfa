-- The knowledge page lists every source, past a thousand: api.list_knowledge_sources pages
-- by keyset (created_at, id), newest first, without gaps or repeats, and only the tenant's.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(5);

-- 1,204 more sources in tenant A (1,205 with the fixture's), many sharing a created_at.
insert into app.knowledge_sources (tenant_id, title, kind, content, status, created_at)
select tests.get('tenant')::uuid, 'Source ' || g, 'text', 'x', 'ready', now() - make_interval(secs => g / 3)
from generate_series(1, 1204) g;

create temp table pages (page integer, position integer, id uuid, created_at timestamptz);
grant all on pages to authenticated;

select tests.become('operator');
do $$
declare
  cursor_at timestamptz;
  cursor_id uuid;
  page_no integer := 0;
  got integer;
begin
  loop
    page_no := page_no + 1;
    insert into pages
    select page_no, row_number() over (), s.id, s.created_at
    from api.list_knowledge_sources(tests.get('tenant')::uuid, cursor_at, cursor_id, 500) s;
    get diagnostics got = row_count;
    exit when got < 500 or page_no > 5;
    select p.created_at, p.id into cursor_at, cursor_id from pages p where p.page = page_no order by p.position desc limit 1;
  end loop;
end $$;
reset role;

select is((select count(*)::integer from pages), 1205, 'three pages of 500 hold all 1,205 sources');
select is((select count(distinct id)::integer from pages), 1205, 'no source appears twice');
select is((select max(page) from pages), 3, 'the third page is the last');
select is((select count(*)::integer from pages p join app.knowledge_sources s on s.id = p.id
           where s.tenant_id <> tests.get('tenant')::uuid), 0, 'no other tenant''s source is listed');
select is((select count(*)::integer from (select id, created_at, lag(created_at) over (order by page, position) as prev from pages) x
           where x.prev < x.created_at), 0, 'newest first across pages');

select * from finish();
rollback;
