-- The widget's allowances: fixed windows per client IP, visitor and tenant, counted in one
-- table every web-chat instance shares; a window that ended starts afresh; stale rows are
-- deleted a bounded number at a time by the calls themselves.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(9);

select tests.become('service');
select is(api.take_widget_allowance(tests.get('web_channel')::uuid, 'v1', '203.0.113.1', 2, 100, 1000) ->> 'allowed', 'true', 'first use allowed');
select is(api.take_widget_allowance(tests.get('web_channel')::uuid, 'v1', '203.0.113.1', 2, 100, 1000) ->> 'allowed', 'true', 'second use allowed');
select is(api.take_widget_allowance(tests.get('web_channel')::uuid, 'v1', '203.0.113.1', 2, 100, 1000) - 'retry_after_seconds',
  '{"allowed": false, "scope": "visitor"}'::jsonb, 'the third in the window is refused for the visitor');
select ok((api.take_widget_allowance(tests.get('web_channel')::uuid, 'v1', '203.0.113.1', 2, 100, 1000) ->> 'retry_after_seconds')::int between 1 and 60,
  'with the seconds left in the window');
select is(api.take_widget_allowance(tests.get('web_channel')::uuid, null, '203.0.113.1', 2, 5, 1000) ->> 'scope', 'ip',
  'the address is out too after five uses, whoever the visitor');
reset role;

-- A window that ended starts afresh.
update app.widget_allowances set window_started_at = now() - interval '2 minutes'
where key = 'visitor:' || tests.get('web_channel') || ':v1';
select tests.become('service');
select is(api.take_widget_allowance(tests.get('web_channel')::uuid, 'v1', '203.0.113.2', 2, 100, 1000) ->> 'allowed', 'true',
  'after the window the visitor may write again');
reset role;
select is((select used from app.widget_allowances where key = 'visitor:' || tests.get('web_channel') || ':v1'), 1,
  'counted from one in the new window');

-- Stale rows go a few per call: bounded work, and the table keeps only recent keys.
insert into app.widget_allowances (key, tenant_id, window_started_at, used)
select 'visitor:stale:' || n, tests.get('tenant')::uuid, now() - interval '1 hour', 1 from generate_series(1, 30) n;
select tests.become('service');
select api.take_widget_allowance(tests.get('web_channel')::uuid, 'v9', null);
reset role;
select is((select count(*)::int from app.widget_allowances where key like 'visitor:stale:%'), 10,
  'one call deletes at most 20 stale rows');
select tests.become('service');
select api.take_widget_allowance(tests.get('web_channel')::uuid, 'v9', null);
reset role;
select is((select count(*)::int from app.widget_allowances where key like 'visitor:stale:%'), 0, 'the next call the rest');

select * from finish();
rollback;
