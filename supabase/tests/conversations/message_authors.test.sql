-- Several people in one thread: each inbound message records its author, the agent answers
-- the last writer with that person's contact card and memories (never the thread starter's),
-- and a pending confirmation names the person it was proposed to.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(7);

do $$
declare
  web uuid := tests.get('web_channel')::uuid;
  tenant uuid := tests.get('tenant')::uuid;
  agent uuid := tests.get('agent')::uuid;
  first jsonb;
  second jsonb;
begin
  perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
  first := api.ingest_message(web, 'thread-1-a', 'shared-thread', 'person-a', 'Please refund my order', 'Ana');
  second := api.ingest_message(web, 'thread-1-b', 'shared-thread', 'person-b', 'Yes, do it', 'Ben');
  perform api.save_memory(tenant, (first ->> 'contact_id')::uuid, agent, 'Ana prefers tea');
  perform api.save_memory(tenant, (second ->> 'contact_id')::uuid, agent, 'Ben prefers coffee');
  perform api.record_tool_call(tenant, (first ->> 'conversation_id')::uuid, 'http_request', '{"method": "POST"}',
    'awaiting_confirmation', null, null, agent, (first ->> 'message_id')::uuid, 'confirm-test');
  insert into tests.fx values ('a_msg', first ->> 'message_id'), ('b_msg', second ->> 'message_id'),
    ('a_contact', first ->> 'contact_id'), ('b_contact', second ->> 'contact_id'),
    ('thread_conv', first ->> 'conversation_id');
  perform set_config('request.jwt.claims', '', true);
end $$;

select is(tests.get('thread_conv'), (select m.conversation_id::text from app.messages m where m.id = tests.get('b_msg')::uuid),
  'two people writing in one thread share one conversation');
select isnt(tests.get('a_contact'), tests.get('b_contact'), 'they are two contacts');
select is((select m.author_contact_id::text from app.messages m where m.id = tests.get('b_msg')::uuid), tests.get('b_contact'),
  'the second person''s message is filed under the second person, not the thread''s starter');
select is((select m.author_contact_id::text from app.messages m where m.id = tests.get('a_msg')::uuid), tests.get('a_contact'),
  'the first person''s message is filed under the first person');

select tests.become('service');
select is((api.get_agent_context(tests.get('tenant')::uuid, tests.get('thread_conv')::uuid)) -> 'contact' ->> 'id',
  tests.get('b_contact'), 'the agent answers the last writer as themselves');
select is(
  (select array_agg(x ->> 'content') from jsonb_array_elements(
    api.get_agent_context(tests.get('tenant')::uuid, tests.get('thread_conv')::uuid) -> 'memories') x),
  array['Ben prefers coffee'], 'with their own memories only, never the thread starter''s');
select is(api.get_pending_confirmation(tests.get('tenant')::uuid, tests.get('thread_conv')::uuid) ->> 'proposed_to_contact_id',
  tests.get('a_contact'), 'a pending confirmation names the person it was proposed to');
reset role;

select * from finish();
rollback;
