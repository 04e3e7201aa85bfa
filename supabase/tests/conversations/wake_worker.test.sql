-- Waking the agent worker through pg_net: nothing without configuration, one request
-- per transaction with the configured URL and bearer token, configuration by the owner only.
begin;
create extension if not exists pgtap with schema extensions;
select plan(6);

delete from app.settings where key = 'functions_url';
create temp table baseline as select coalesce(max(id), 0) as id from net.http_request_queue;
create temp view requests as select q.* from net.http_request_queue q where q.id > (select id from baseline);
select set_config('app.functions_url', '', true);

select is(app.wake_agent_worker('test'), null, 'with no functions_url the worker is not woken');
select is((select count(*)::integer from requests), 0, 'and no request is queued');

select app.configure_functions('http://127.0.0.1:54321/functions/v1/', 'test-bearer-token');
select set_config('konstruct.worker_woken', '', true);
select set_config('role', 'service_role', true);
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select api.ingest_message('30000000-0000-4000-8000-000000000001', 'wake-1', 'wake-visitor', 'wake-visitor', 'Hello') is not null;
select api.ingest_message('30000000-0000-4000-8000-000000000001', 'wake-2', 'wake-visitor', 'wake-visitor', 'Again') is not null;
reset role;

select is((select count(*)::integer from requests), 1, 'two jobs in one transaction wake the worker once');
select is((select url from requests), 'http://127.0.0.1:54321/functions/v1/agent-worker',
  'at <functions_url>/agent-worker');
select is((select headers ->> 'Authorization' from requests), 'Bearer test-bearer-token',
  'with the bearer token from Vault');

select set_config('role', 'service_role', true);
select throws_ok($$select app.configure_functions('http://evil.example/functions/v1')$$, '42501', null,
  'only the database owner can configure where the worker is woken');
reset role;

select * from finish();
rollback;
