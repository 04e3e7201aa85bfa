-- Waking the agent worker through pg_net: nothing (and a warning) without the Vault
-- secrets; once configured, one request per transaction to <functions_url>/agent-worker,
-- signed with the worker secret, with no secret anywhere in the queued row (every role
-- can read pg_net's queue); a rolled-back transaction wakes nothing; configuration by the
-- owner only, and checked.
begin;
create extension if not exists pgtap with schema extensions;
select plan(16);

delete from vault.secrets where name in ('konstruct_functions_url', 'konstruct_worker_secret');
create temp table baseline as select coalesce(max(id), 0) as id from net.http_request_queue;
create temp view requests as select q.* from net.http_request_queue q where q.id > (select id from baseline);

create temp table wake_row as
  select w.ctid::text || '/' || w.xmin::text as version from app.worker_wakes w where w.queue_name = 'agent_jobs';
select is(app.wake_agent_worker('test'), null, 'without the Vault secrets the worker is not woken');
select is((select count(*)::integer from requests), 0, 'and no request is queued');
select ok((select count(*) = 1 from app.worker_wakes w where w.queue_name = 'agent_jobs'), 'the queue has its wake-up row');
select is((select w.ctid::text || '/' || w.xmin::text from app.worker_wakes w where w.queue_name = 'agent_jobs'),
  (select version from wake_row),
  'which is left as it was, not written: no lock on it is held until commit, so ingests do not wait for each other');

select lives_ok($$select app.configure_functions('http://127.0.0.1:54321/functions/v1/', 'wake-test-secret-0123456789abcdef0123')$$,
  'the owner configures where the functions are and the worker secret');
select is((select count(*)::integer from vault.decrypted_secrets
    where name in ('konstruct_functions_url', 'konstruct_worker_secret')), 2,
  'both live in Vault');
select lives_ok($$select app.configure_functions('http://127.0.0.1:54321/functions/v1', 'wake-test-secret-0123456789abcdef0123')$$,
  'configuring again replaces them');

select set_config('konstruct.worker_woken', '', true);
select set_config('role', 'service_role', true);
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
savepoint before_ingest;
select api.ingest_message('30000000-0000-4000-8000-000000000001', 'wake-0', 'wake-visitor', 'wake-visitor', 'Lost') is not null;
rollback to savepoint before_ingest;
reset role;
select is((select count(*)::integer from requests), 0, 'a rolled-back ingest leaves no wake-up to send');

select set_config('konstruct.worker_woken', '', true);
select set_config('role', 'service_role', true);
select api.ingest_message('30000000-0000-4000-8000-000000000001', 'wake-1', 'wake-visitor', 'wake-visitor', 'Hello') is not null;
select api.ingest_message('30000000-0000-4000-8000-000000000001', 'wake-2', 'wake-visitor', 'wake-visitor', 'Again') is not null;
reset role;

select is((select count(*)::integer from requests), 1, 'two jobs in one transaction wake the worker once');
select is((select url from requests), 'http://127.0.0.1:54321/functions/v1/agent-worker',
  'at <functions_url>/agent-worker');
select is((select position('wake-test-secret' in r::text) from requests r), 0,
  'the queued row holds no secret');
select ok((select not (headers ? 'Authorization') from requests), 'and no Authorization header');
select is(
  (select split_part(split_part(headers ->> 'x-konstruct-signature', ',v1=', 1), 't=', 2) || ':' ||
     split_part(headers ->> 'x-konstruct-signature', ',v1=', 2) from requests),
  (select split_part(split_part(headers ->> 'x-konstruct-signature', ',v1=', 1), 't=', 2) || ':' ||
     encode(extensions.hmac(convert_to(split_part(split_part(headers ->> 'x-konstruct-signature', ',v1=', 1), 't=', 2)
       || '.' || convert_from(body, 'UTF8'), 'UTF8'), convert_to('wake-test-secret-0123456789abcdef0123', 'UTF8'), 'sha256'), 'hex')
   from requests),
  'signed: v1 is the HMAC-SHA256 of "<t>.<body>" with the worker secret');
select ok((select abs(split_part(split_part(headers ->> 'x-konstruct-signature', ',v1=', 1), 't=', 2)::bigint
    - extract(epoch from clock_timestamp())) < 300 from requests),
  'and timestamped now');

select set_config('role', 'service_role', true);
select throws_ok($$select app.configure_functions('http://evil.example/functions/v1', repeat('x', 40))$$, '42501', null,
  'only the database owner can configure where the worker is woken');
reset role;
select throws_ok($$select app.configure_functions('ftp://example.com', repeat('x', 40))$$, '22023', null,
  'a URL that is not http(s) is refused');

select * from finish();
rollback;
