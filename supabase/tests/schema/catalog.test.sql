-- The catalog: row level security, search paths, grants, comments and policies hold for
-- every object, including ones added later.
begin;
create extension if not exists pgtap with schema extensions;


select plan(12);

select is(
  array(select c.relname::text from pg_class c
        where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
          and not (c.relrowsecurity and c.relforcerowsecurity)
        order by 1),
  array[]::text[],
  'every table in app has row level security enabled and forced');

select is(
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace in ('app'::regnamespace, 'api'::regnamespace) and p.prosecdef
          and not coalesce('search_path=""' = any (p.proconfig), false)
        order by 1),
  array[]::text[],
  'every security definer function in app and api has search_path fixed to empty');

-- The only api functions anon may execute. Nothing today: the web chat widget goes
-- through the web-chat edge function, which uses the service role.
select is(
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'api'::regnamespace and has_function_privilege('anon', p.oid, 'execute')
        except select unnest(array[]::text[])
        order by 1),
  array[]::text[],
  'anon can execute no api function outside the allow-list');

select is(
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace in ('app'::regnamespace, 'api'::regnamespace)
          and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) a where a.grantee = 0 and a.privilege_type = 'EXECUTE'))
        order by 1),
  array[]::text[],
  'no function in app or api is executable by PUBLIC');

select is(
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'api'::regnamespace
          and not has_function_privilege('authenticated', p.oid, 'execute')
          and not has_function_privilege('service_role', p.oid, 'execute')
        order by 1),
  array[]::text[],
  'every api function is granted to authenticated or service_role');

select ok(
  not has_schema_privilege('anon', 'app', 'usage')
  and not exists (select 1 from information_schema.role_table_grants g where g.table_schema = 'app' and g.grantee in ('anon', 'PUBLIC')),
  'anon and PUBLIC have no access to the app schema or its tables');

select is(
  array(select c.relname::text from pg_class c
        where c.relnamespace = 'app'::regnamespace and c.relkind = 'r' and obj_description(c.oid, 'pg_class') is null
        union all
        select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace in ('app'::regnamespace, 'api'::regnamespace) and obj_description(p.oid, 'pg_proc') is null
        order by 1),
  array[]::text[],
  'every app table and every app/api function has a comment');

select is(
  array(select format('%s: %s', p.tablename, p.policyname) from pg_policies p
        where p.schemaname = 'app' and (p.roles = '{public}' or p.roles is null)
        order by 1),
  array[]::text[],
  'every policy on app tables names its role');

select is(
  array(select format('%s: %s', p.tablename, p.policyname) from pg_policies p
        where p.schemaname in ('app', 'realtime')
          and (coalesce(p.qual, '') || ' ' || coalesce(p.with_check, '')) ~ '(?<!SELECT )auth\.uid\(\)'
        order by 1),
  array[]::text[],
  'every policy wraps auth.uid() in a select, so it is evaluated once');

select is(
  array(select c.relname::text from pg_class c
        where c.relnamespace = 'app'::regnamespace and c.relkind = 'r'
          -- (worker_wakes: one row per queue, the platform's wake-up state, no tenant's data)
          and c.relname not in ('settings', 'tenants', 'platform_admins', 'agent_templates', 'worker_wakes')
          and not exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
        order by 1),
  array[]::text[],
  'every tenant-owned table carries tenant_id');

select ok(
  (select c.relrowsecurity from pg_class c where c.oid = 'realtime.messages'::regclass)
  and exists (select 1 from pg_policies p where p.schemaname = 'realtime' and p.tablename = 'messages'
              and p.cmd = 'SELECT' and p.roles = '{authenticated}'),
  'realtime.messages has row level security and a select policy for authenticated');

select ok(
  array['audit_log_is_append_only', 'audit_log_refuses_truncate']
    <@ array(select t.tgname::text from pg_trigger t where t.tgrelid = 'app.audit_log'::regclass and t.tgenabled <> 'D'),
  'the audit log has its append-only triggers');

select * from finish();
rollback;
