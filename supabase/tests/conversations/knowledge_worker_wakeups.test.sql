-- Documents are read apart from the replies: a queued knowledge source wakes
-- <functions_url>/knowledge-worker, a customer message <functions_url>/agent-worker, each
-- once per transaction; the safety net wakes each function whose queue has visible work.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(7);

select app.configure_functions('http://127.0.0.1:54321/functions/v1', 'wake-test-secret-0123456789abcdef0123');
create temp table baseline as select coalesce(max(id), 0) as id from net.http_request_queue;
create temp view requests as select q.* from net.http_request_queue q where q.id > (select id from baseline);

select set_config('konstruct.worker_woken', '', true);
select tests.become('admin');
select api.create_knowledge_source(tests.get('tenant')::uuid, 'Manual', encode(convert_to(E'%PDF-1.4\n%fake', 'UTF8'), 'base64'), 'pdf') is not null;
select api.create_knowledge_source(tests.get('tenant')::uuid, 'Prices', E'Plan,Price\nPro,29', 'csv') is not null;
reset role;
select tests.become('service');
select api.ingest_message(tests.get('web_channel')::uuid, 'split-1', 'split-visitor', 'split-visitor', 'Hello') is not null;
select api.ingest_message(tests.get('web_channel')::uuid, 'split-2', 'split-visitor', 'split-visitor', 'Again') is not null;
reset role;

select is((select count(*)::integer from requests where url = 'http://127.0.0.1:54321/functions/v1/knowledge-worker'), 1,
  'two uploads wake the knowledge worker once');
select is((select convert_from(body, 'UTF8')::jsonb ->> 'queue' from requests where url like '%/knowledge-worker'),
  'knowledge_jobs', 'for the knowledge queue');
select is((select count(*)::integer from requests where url = 'http://127.0.0.1:54321/functions/v1/agent-worker'), 1,
  'two messages wake the agent worker once');
select is((select count(*)::integer from requests), 2, 'and nothing else');

-- The safety net: work on both queues wakes both functions. (Jobs sent in this transaction
-- become visible at their send time, after now(): make them due.)
update pgmq.q_agent_jobs set vt = now() - interval '1 second' where true;
update pgmq.q_knowledge_jobs set vt = now() - interval '1 second' where true;
delete from net.http_request_queue where id > (select id from baseline);
select set_config('konstruct.worker_woken', '', true);
select app.wake_workers_if_pending() is not null;
select set_eq($$select url from requests$$,
  array['http://127.0.0.1:54321/functions/v1/agent-worker', 'http://127.0.0.1:54321/functions/v1/knowledge-worker'],
  'the safety net wakes each worker whose queue has visible jobs');

-- Only knowledge work: only the knowledge worker.
delete from net.http_request_queue where id > (select id from baseline);
select set_config('konstruct.worker_woken', '', true);
delete from pgmq.q_agent_jobs where true;
select app.wake_workers_if_pending() is not null;
select is((select array_agg(url) from requests), array['http://127.0.0.1:54321/functions/v1/knowledge-worker'],
  'an idle agent queue wakes no agent worker');
select is((select position('wake-test-secret' in r::text) from requests r), 0, 'the queued rows hold no secret');

select * from finish();
rollback;
