-- A reply in fewer calls: the claim reads a reply job's context beside it, finish_reply
-- records the reply with its usage and audit and, for web chat, marks it sent and completes
-- the job in the same transaction; settle_delivery completes a job only once its message is
-- sent; and none of them reads or writes another tenant's rows.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(32);

select tests.become('service');

create temp table prepared on commit drop as
  select api.prepare_reply(tests.get('tenant')::uuid, tests.get('conv')::uuid, tests.get('message')::uuid,
    'reply:' || tests.get('message'), 20, 8, 5) as p;
select is((select p #>> '{context,conversation,id}' from prepared), tests.get('conv'),
  'prepare_reply reads the conversation''s context');
select ok((select p -> 'existing' = 'null'::jsonb and (p #>> '{entitlement,allowed}')::boolean from prepared),
  'with no reply yet, and the plan''s verdict (allowed)');
select is((select p #>> '{knowledge,query}' from prepared), 'Hello from A',
  'the knowledge it searched is for the newest contact message');
select throws_ok(format($$select api.prepare_reply(%L, %L, %L, 'reply:x')$$, tests.get('tenant'), tests.get('conv_b'),
  tests.get('message')), '42501', null, 'another tenant''s conversation is refused');

-- A forged reply job naming tenant B's conversation under tenant A is still claimed, unprepared.
select app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'reply', 'tenant_id', tests.get('tenant'),
  'conversation_id', tests.get('conv_b'), 'message_id', gen_random_uuid())) is not null;
create temp table claimed on commit drop as
  select * from api.claim_jobs_with_context('agent_jobs', 50, 30, '{"message_limit": 20, "memory_limit": 8, "knowledge_limit": 5}');
select is((select prepared #>> '{context,conversation,id}' from claimed where job_id = tests.get('job')::bigint),
  tests.get('conv'), 'the claim brings a reply job''s context');
select is((select count(*)::integer from claimed where job ->> 'conversation_id' = tests.get('conv_b') and prepared is null), 1,
  'a forged job is claimed with nothing prepared (its own run meets the refusal)');

create temp table finished on commit drop as
  select api.finish_reply(tests.get('tenant')::uuid, tests.get('conv')::uuid,
    jsonb_build_object('text', 'Hello, how can I help?', 'idempotency_key', 'reply:' || tests.get('message'),
      'agent_id', tests.get('agent'), 'metadata', '{"mode": "model"}'::jsonb),
    jsonb_build_array(jsonb_build_object('model', 'gpt-4o-mini', 'input_tokens', 40, 'output_tokens', 8,
      'cost_usd', 0.0001, 'agent_id', tests.get('agent'), 'idempotency_key', 'reply-test:m0')),
    jsonb_build_array(jsonb_build_object('action', 'agent.model_call', 'entity_type', 'conversation',
      'entity_id', tests.get('conv'), 'details', '{"model": "gpt-4o-mini"}'::jsonb)),
    true, 60, true, 'agent_jobs', tests.get('job')::bigint) as f;
select ok((select (f ->> 'settled')::boolean and (f ->> 'completed')::boolean from finished),
  'finish_reply on web chat settles the reply and completes the job');
select is((select delivery_status from app.messages where id = (select (f #>> '{reply,message_id}')::uuid from finished)),
  'sent', 'the reply is sent');
select is((select count(*)::integer from pgmq.q_agent_jobs where msg_id = tests.get('job')::bigint), 0,
  'and its job is gone');
select is((select count(*)::integer from app.usage_events where idempotency_key = 'reply-test:m0'
    and conversation_id = tests.get('conv')::uuid and input_tokens = 40), 1, 'the model call is metered');
select is((select p #>> '{existing,message_id}' from (select api.prepare_reply(tests.get('tenant')::uuid,
    tests.get('conv')::uuid, tests.get('message')::uuid, 'reply:' || tests.get('message')) as p) r),
  (select f #>> '{reply,message_id}' from finished), 'a retry is prepared with the reply already written');

select throws_ok(format($$select api.finish_reply(%L, %L, '{"text": "Hi", "idempotency_key": "reply:forged"}',
    '[{"model": "m", "input_tokens": 1, "output_tokens": 1, "idempotency_key": "forged:m0"}]')$$,
    tests.get('tenant'), tests.get('conv_b')), '42501', null, 'finish_reply refuses another tenant''s conversation');
select is((select count(*)::integer from app.messages where idempotency_key = 'reply:forged')
    + (select count(*)::integer from app.usage_events where idempotency_key = 'forged:m0'), 0,
  'and records nothing of it');

-- settle_delivery: a failed send leaves the job to retry; a sent message completes it.
create temp table deliver on commit drop as
  select app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'deliver', 'tenant_id', tests.get('tenant'),
    'conversation_id', tests.get('conv'), 'message_id', tests.get('reply'))) as job_id;
select is((api.settle_delivery(tests.get('tenant')::uuid, tests.get('reply')::uuid, 'failed', null, 'timeout',
    'agent_jobs', (select job_id from deliver)) ->> 'completed')::boolean, false, 'a failed send completes nothing');
select is((select count(*)::integer from pgmq.q_agent_jobs where msg_id = (select job_id from deliver)), 1,
  'its job stays to retry');
select is((api.settle_delivery(tests.get('tenant')::uuid, tests.get('reply')::uuid, 'sent', 'ext-1', null,
    'agent_jobs', (select job_id from deliver)) ->> 'completed')::boolean, true, 'a sent one completes its job');
select is((select count(*)::integer from pgmq.q_agent_jobs where msg_id = (select job_id from deliver)), 0,
  'which is gone');

-- A sender that gives up records the alert with the status, in one call (20261208110000).
create temp table refused on commit drop as
  select (api.record_reply(tests.get('tenant')::uuid, tests.get('conv')::uuid, 'Refused by the channel',
    'reply:refused') ->> 'message_id') as id;
select throws_ok(format($$select api.settle_delivery(%L, %L, 'undeliverable', null, 'refused', null, null,
    '{"action": "agent.not_an_alert"}')$$, tests.get('tenant'), (select id from refused)), '22023', null,
  'an alert that is not one is refused');
select is((select delivery_status from app.messages where id = (select id from refused)::uuid), 'pending',
  'and changes nothing');
select throws_ok(format($$select api.settle_delivery(%L, %L, 'undeliverable', null, 'refused', null, null,
    '{"action": "alert.delivery_failed", "details": {}}')$$, tests.get('tenant_b'), (select id from refused)), '42501',
  null, 'another tenant cannot settle the message, nor alert through it');
select is((api.settle_delivery(tests.get('tenant')::uuid, (select id from refused)::uuid, 'undeliverable', null,
    'refused', null, null, jsonb_build_object('action', 'alert.delivery_failed', 'entity_type', 'conversation',
      'entity_id', tests.get('conv'), 'details', jsonb_build_object('message_id', (select id from refused))))
  ->> 'delivery_status'), 'undeliverable', 'the status, with the alert');
select is((select delivery_status from app.messages where id = (select id from refused)::uuid), 'undeliverable',
  'is stored');
-- An answer withheld after a takeover: its audit entry goes with the status too (20261208120000).
create temp table withheld on commit drop as
  select (api.record_reply(tests.get('tenant')::uuid, tests.get('conv')::uuid, 'Too late, a member took over',
    'reply:withheld') ->> 'message_id') as id;
select throws_ok(format($$select api.settle_delivery(%L, %L, 'undeliverable', null, 'withheld', null, null, %L)$$,
    tests.get('tenant'), (select id from withheld), e.entry), '22023', null, 'refused: ' || e.why)
from (values ('{"details": {}}', 'an entry without an action'),
             ('{"action": null, "details": {}}', 'a null action'),
             ('{"action": "agent.reply_withheldX", "details": {}}', 'an action that only starts like it'),
             ('{"action": "agent.reply_withheld", "details": []}', 'details that are not an object')) e (entry, why);
select throws_ok(format($$select api.settle_delivery(%L, %L, 'undeliverable', null, 'withheld', null, null,
    '{"action": "agent.reply_withheld", "details": {}}')$$, tests.get('tenant_b'), (select id from withheld)), '42501',
  null, 'another tenant cannot settle it with that entry either');
select is((select delivery_status from app.messages where id = (select id from withheld)::uuid), 'pending',
  'and none of those changed it');
select is((api.settle_delivery(tests.get('tenant')::uuid, (select id from withheld)::uuid, 'undeliverable', null,
    'withheld', null, null, jsonb_build_object('action', 'agent.reply_withheld', 'entity_type', 'conversation',
      'entity_id', tests.get('conv'), 'details', jsonb_build_object('message_id', (select id from withheld))))
  ->> 'delivery_status'), 'undeliverable', 'a withheld answer is settled with its audit entry');
reset role;
select is((select count(*)::integer from app.audit_log where action = 'agent.reply_withheld'
    and tenant_id = tests.get('tenant')::uuid and details ->> 'message_id' = (select id from withheld)), 1,
  'which is recorded once, in the same transaction');
select is((select count(*)::integer from app.audit_log where action = 'alert.delivery_failed'
    and tenant_id = tests.get('tenant')::uuid and details ->> 'message_id' = (select id from refused)), 1,
  'one alert, in the same transaction');
select is((select count(*)::integer from app.audit_log where action = 'alert.delivery_failed'
    and tenant_id = tests.get('tenant_b')::uuid), 0, 'in that tenant''s log only, none in the other''s');
select * from finish();
rollback;
