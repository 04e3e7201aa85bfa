-- Ingest is idempotent and enqueues exactly one job only while the agent handles the
-- conversation; takeover, member replies, release; jobs keep to their tenant, retry and dead-letter.
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(34);

-- Idempotent ingest ------------------------------------------------------------------------
select tests.become('service');
insert into tests.fx select 'first', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.1', '15551234567', '15551234567',
  'Where is my order?', 'Ada', '[]', '{"wa_id": "15551234567"}')::text;
insert into tests.fx select 'again', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.1', '15551234567', '15551234567',
  'Where is my order?', 'Ada', '[]', '{"wa_id": "15551234567"}')::text;
reset role;

select is((tests.get('first')::jsonb ->> 'duplicate')::boolean, false, 'the first delivery is new');
select is((tests.get('again')::jsonb ->> 'duplicate')::boolean, true, 'the same external id again is a duplicate');
select is(tests.get('again')::jsonb ->> 'message_id', tests.get('first')::jsonb ->> 'message_id', 'and returns the same message');
select is((select count(*)::integer from app.messages where connection_id = tests.get('wa_channel')::uuid and external_id = 'wamid.1'),
  1, 'one message stored');
select is((select count(*)::integer from pgmq.q_agent_jobs where message ->> 'message_id' = tests.get('first')::jsonb ->> 'message_id'),
  1, 'one job enqueued');
select is((tests.get('again')::jsonb ->> 'enqueued')::boolean, false, 'the duplicate enqueues nothing');
select is((select message ->> 'tenant_id' from pgmq.q_agent_jobs where msg_id = (tests.get('first')::jsonb ->> 'job_id')::bigint),
  tests.get('tenant'), 'the job carries its tenant');

select tests.become('service');
insert into tests.fx select 'second', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.2', '15551234567', '15551234567',
  'Hello?', 'Ada')::text;
reset role;
select is(tests.get('second')::jsonb ->> 'conversation_id', tests.get('first')::jsonb ->> 'conversation_id',
  'the same thread is the same conversation');
select is((select count(*)::integer from app.contact_identities where external_user_id = '15551234567'), 1,
  'one identity per channel user');
select is((select last_message_preview from app.conversations where id = (tests.get('first')::jsonb ->> 'conversation_id')::uuid),
  'Hello?', 'the conversation shows its last message');
select is((select channel_context ->> 'wa_id' from app.conversations where id = (tests.get('first')::jsonb ->> 'conversation_id')::uuid),
  '15551234567', 'the conversation keeps what the channel needs to reply');

-- A human takes over: the agent stays silent --------------------------------------------------
select tests.become('admin');
select lives_ok(format('select api.takeover_conversation(%L)', tests.get('first')::jsonb ->> 'conversation_id'), 'an admin takes over');
reset role;
select tests.become('service');
insert into tests.fx select 'during', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.3', '15551234567', '15551234567',
  'Are you a human?')::text;
reset role;
select is((tests.get('during')::jsonb ->> 'enqueued')::boolean, false, 'no agent job while a human has the conversation');
select is(tests.get('during')::jsonb ->> 'conversation_status', 'human', 'and ingest says so');
select ok(exists (select 1 from app.audit_log where action = 'conversation.takeover'
                  and entity_id = tests.get('first')::jsonb ->> 'conversation_id' and actor_user_id = tests.uid('admin')),
  'the takeover is audited');

-- A member's reply is stored and queued for delivery -------------------------------------------------
select tests.become('admin');
insert into tests.fx select 'member_reply', api.reply_as_member((tests.get('first')::jsonb ->> 'conversation_id')::uuid, 'Yes, I am Grace.', '[]', 'click-1')::text;
insert into tests.fx select 'member_reply_again', api.reply_as_member((tests.get('first')::jsonb ->> 'conversation_id')::uuid, 'Yes, I am Grace.', '[]', 'click-1')::text;
reset role;
select is((select author_kind || '/' || direction || '/' || delivery_status from app.messages
           where id = (tests.get('member_reply')::jsonb ->> 'message_id')::uuid), 'member/out/pending', 'the reply is an outbound pending member message');
select is((select message ->> 'kind' from pgmq.q_agent_jobs where msg_id = (tests.get('member_reply')::jsonb ->> 'job_id')::bigint),
  'deliver', 'and a delivery job is queued');
select is(tests.get('member_reply_again')::jsonb ->> 'message_id', tests.get('member_reply')::jsonb ->> 'message_id', 'a retried click stores one reply');

-- Release: the agent answers again --------------------------------------------------------------------
select tests.become('admin');
select api.release_conversation((tests.get('first')::jsonb ->> 'conversation_id')::uuid);
reset role;
select tests.become('service');
select is((api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.4', '15551234567', '15551234567', 'Thanks') ->> 'enqueued')::boolean,
  true, 'after release the agent gets jobs again');
reset role;

-- A paused agent gets no jobs ------------------------------------------------------------------------
select tests.become('owner');
select api.pause_agent(tests.get('agent')::uuid);
reset role;
select tests.become('service');
select is((api.ingest_message(tests.get('web_channel')::uuid, 'w-paused', 'visitor-p', 'visitor-p', 'Anyone?') ->> 'enqueued')::boolean,
  false, 'a paused agent gets no jobs (the message is still stored)');
reset role;

-- A disabled connection ingests nothing -----------------------------------------------------------
update app.channel_connections set status = 'disabled' where id = tests.get('web_channel_b')::uuid;
select tests.become('service');
select throws_ok(format('select api.ingest_message(%L, %L, %L, %L, %L)', tests.get('web_channel_b'), 'w-off', 'v', 'v', 'hi'),
  'KO005', null, 'a disabled connection refuses ingest');
reset role;

-- Jobs: claim, tenant pairing, complete, retry, dead letter ------------------------------------------------
select tests.become('service');
select throws_ok(format('select api.complete_job(%L, %s, %L)', 'agent_jobs', tests.get('job'), tests.get('tenant_b')), '42501', null,
  'a job of tenant A cannot be completed as tenant B');
select throws_ok(format('select api.fail_job(%L, %s, %L)', 'agent_jobs', tests.get('job'), tests.get('tenant_b')), '42501', null,
  'nor failed as tenant B');
select throws_ok(format('select api.get_agent_context(%L, %L)', tests.get('tenant_b'), tests.get('conv')), '42501', null,
  'a conversation of tenant A cannot be loaded as tenant B');
select throws_ok(format('select api.record_reply(%L, %L, %L, %L)', tests.get('tenant_b'), tests.get('conv'), 'hi', 'job:x'), '42501', null,
  'nor answered as tenant B');
select throws_ok($$select * from api.claim_jobs('pgmq_internal_queue')$$, '22023', null, 'only Konstruct''s queues can be claimed');
select ok((select count(*) from api.claim_jobs('agent_jobs', 100, 30)) >= 2, 'the worker claims visible jobs');
select is((select count(*)::integer from api.claim_jobs('agent_jobs', 100, 30)), 0, 'claimed jobs are invisible for the timeout');
select is(api.fail_job('agent_jobs', tests.get('job')::bigint, tests.get('tenant')::uuid, 'model timeout', 3) ->> 'outcome', 'retry',
  'a failed attempt is retried');
select is(api.complete_job('agent_jobs', tests.get('job_b')::bigint, tests.get('tenant_b')::uuid), true, 'a job is completed by its tenant');
select is(api.complete_job('agent_jobs', tests.get('job_b')::bigint, tests.get('tenant_b')::uuid), false, 'completing twice is harmless');
reset role;
update pgmq.q_agent_jobs set read_ct = 3 where msg_id = tests.get('job')::bigint;
select tests.become('service');
select is(api.fail_job('agent_jobs', tests.get('job')::bigint, tests.get('tenant')::uuid, 'model down', 3) ->> 'outcome', 'archived',
  'the last attempt goes to the dead-letter archive');
reset role;
select is((select count(*)::integer from pgmq.a_agent_jobs where msg_id = tests.get('job')::bigint), 1, 'it is in pgmq.a_agent_jobs');

-- Replies are idempotent -----------------------------------------------------------------------------
select tests.become('service');
select is((api.record_reply(tests.get('tenant')::uuid, tests.get('conv')::uuid, 'Hi, I am Ava', 'job:fixture') ->> 'duplicate')::boolean,
  true, 'recording the same reply twice stores it once');
reset role;

select * from finish();
rollback;
