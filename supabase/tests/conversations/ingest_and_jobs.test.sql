-- Ingest is idempotent and enqueues exactly one job only while the agent handles the
-- conversation; takeover, member replies, release; jobs keep to their tenant, retry and dead-letter.
begin;
create extension if not exists pgtap with schema extensions;

-- Test helpers, created inside this file's transaction (rolled back at the end), so
-- the file runs alone under `supabase test db` and under `npm run test:db`.
create schema tests;
grant usage on schema tests to public;
create table tests.people (persona text primary key, user_id uuid, email text);
grant select on tests.people to public;

-- A user in auth.users, remembered under a persona name.
create function tests.create_user(persona text) returns uuid language plpgsql as $$
declare
  uid uuid := gen_random_uuid();
begin
  insert into auth.users (id, email, aud, role) values (uid, persona || '@tests.konstruct.local', 'authenticated', 'authenticated');
  insert into tests.people values (persona, uid, persona || '@tests.konstruct.local');
  return uid;
end $$;
create function tests.uid(persona text) returns uuid language sql stable as $$
  select user_id from tests.people where people.persona = uid.persona
$$;

-- Become a persona for the rest of the transaction (or subtransaction): a user by
-- persona name, 'anon', or 'service'. Undo with `reset role`.
create function tests.become(persona text) returns void language plpgsql as $$
begin
  if persona = 'anon' then
    perform set_config('request.jwt.claims', '{"role": "anon"}', true);
    perform set_config('role', 'anon', true);
  elsif persona = 'service' then
    perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
    perform set_config('role', 'service_role', true);
  else
    perform set_config('request.jwt.claims', (select json_build_object('sub', p.user_id, 'role', 'authenticated',
      'email', p.email)::text from tests.people p where p.persona = become.persona), true);
    perform set_config('role', 'authenticated', true);
  end if;
end $$;

-- Runs sql as a persona and rolls its effects back; returns 'ok' or the SQLSTATE.
create function tests.outcome(persona text, sql text) returns text language plpgsql as $$
begin
  begin
    perform tests.become(persona);
    execute sql;
    raise exception 'rolled back on purpose' using errcode = 'TT000';
  exception when others then
    if sqlstate = 'TT000' then
      return 'ok';
    end if;
    return sqlstate;
  end;
end $$;

-- Runs a query returning one value as a persona, rolled back; the value or the SQLSTATE.
create function tests.value_as(persona text, sql text) returns text language plpgsql as $$
declare
  result text;
begin
  begin
    perform tests.become(persona);
    execute sql into result;
    raise exception using errcode = 'TT000', message = coalesce(result, '<null>');
  exception when others then
    if sqlstate = 'TT000' then
      return sqlerrm;
    end if;
    return sqlstate;
  end;
end $$;

-- Two tenants and every kind of row, named in tests.fx for the tests below:
-- tenant A: owner, admin, operator, member2 (operator); tenant B: stranger (owner);
-- platform: a platform admin in no tenant.
create table tests.fx (key text primary key, value text);
grant select, insert on tests.fx to public;
create function tests.get(name text) returns text language sql stable as $$ select f.value from tests.fx f where f.key = get.name $$;
create function tests.claims(persona text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', tests.uid(persona), 'role', 'authenticated',
    'email', persona || '@tests.konstruct.local')::text, true)
$$;
create function tests.setup_two_tenants() returns void language plpgsql as $$
declare
  a uuid; b uuid; agent jsonb; agent_b jsonb; web jsonb; wa jsonb; web_b jsonb; ing jsonb; ing_b jsonb;
  inv jsonb; src jsonb; src_b jsonb; tc jsonb; msg_out jsonb;
begin
  perform tests.create_user('owner'); perform tests.create_user('admin'); perform tests.create_user('operator');
  perform tests.create_user('member2'); perform tests.create_user('stranger'); perform tests.create_user('platform');
  perform tests.create_user('invitee');
  insert into app.platform_admins (user_id) values (tests.uid('platform'));

  perform tests.claims('owner');
  a := (api.create_tenant('Tenant A', 'tenant-a') ->> 'id')::uuid;
  insert into app.memberships (tenant_id, user_id, role) values
    (a, tests.uid('admin'), 'admin'), (a, tests.uid('operator'), 'operator'), (a, tests.uid('member2'), 'operator');
  agent := api.deploy_agent_template(a, 'customer_support_rep', 'Ava A');
  web := api.create_web_chat_channel(a, 'Web A', (agent ->> 'id')::uuid);
  wa := api.create_whatsapp_channel(a, 'WhatsApp A', '5550001', 'waba-a', 'token-a', null, (agent ->> 'id')::uuid);
  inv := api.create_invitation(a, 'invitee@tests.konstruct.local', 'operator');
  src := api.create_knowledge_source(a, 'Refunds A', 'Refunds are paid within 5 business days in tenant A.');

  perform tests.claims('stranger');
  b := (api.create_tenant('Tenant B', 'tenant-b') ->> 'id')::uuid;
  agent_b := api.deploy_agent_template(b, 'sales_assistant', 'Sam B');
  web_b := api.create_web_chat_channel(b, 'Web B', (agent_b ->> 'id')::uuid);
  src_b := api.create_knowledge_source(b, 'Refunds B', 'Refunds are paid within 10 business days in tenant B.');
  perform set_config('request.jwt.claims', '', true);

  ing := api.ingest_message((web ->> 'id')::uuid, 'ext-a-1', 'visitor-a', 'visitor-a', 'Hello from A', 'Visitor A');
  ing_b := api.ingest_message((web_b ->> 'id')::uuid, 'ext-b-1', 'visitor-b', 'visitor-b', 'Hello from B', 'Visitor B');
  msg_out := api.record_reply(a, (ing ->> 'conversation_id')::uuid, 'Hi, I am Ava', 'job:fixture');
  tc := api.record_tool_call(a, (ing ->> 'conversation_id')::uuid, 'knowledge_search', '{"query": "refunds"}');
  perform api.record_usage(a, 'gpt-4o-mini', 100, 20, 0.001, (agent ->> 'id')::uuid, (ing ->> 'conversation_id')::uuid);
  perform api.record_usage(b, 'gpt-4o-mini', 300, 50, 0.003, (agent_b ->> 'id')::uuid, (ing_b ->> 'conversation_id')::uuid);
  perform api.save_memory(a, (ing ->> 'contact_id')::uuid, (agent ->> 'id')::uuid, 'Prefers email');
  perform api.save_memory(b, (ing_b ->> 'contact_id')::uuid, (agent_b ->> 'id')::uuid, 'Prefers phone');

  insert into tests.fx values
    ('tenant', a::text), ('tenant_b', b::text), ('agent', agent ->> 'id'), ('agent_b', agent_b ->> 'id'),
    ('web_channel', web ->> 'id'), ('wa_channel', wa ->> 'id'), ('web_channel_b', web_b ->> 'id'),
    ('widget_key', web ->> 'widget_key'), ('invitation', inv ->> 'id'), ('invite_token', inv ->> 'token'),
    ('source', src ->> 'id'), ('source_b', src_b ->> 'id'), ('conv', ing ->> 'conversation_id'),
    ('conv_b', ing_b ->> 'conversation_id'), ('message', ing ->> 'message_id'), ('job', ing ->> 'job_id'),
    ('job_b', ing_b ->> 'job_id'), ('contact', ing ->> 'contact_id'), ('contact_b', ing_b ->> 'contact_id'),
    ('reply', msg_out ->> 'message_id'), ('tool_call', tc ->> 'tool_call_id'),
    ('owner', tests.uid('owner')::text), ('admin', tests.uid('admin')::text), ('operator', tests.uid('operator')::text),
    ('member2', tests.uid('member2')::text), ('stranger', tests.uid('stranger')::text);
end $$;

-- Replaces {key} placeholders in sql with fixture values.
create function tests.fill(sql text) returns text language plpgsql stable as $$
declare
  r record;
begin
  for r in select key, value from tests.fx loop
    sql := replace(sql, '{' || r.key || '}', r.value);
  end loop;
  return sql;
end $$;

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
