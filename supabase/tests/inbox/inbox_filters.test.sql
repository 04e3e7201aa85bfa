-- The inbox's filters beyond view, status, channel and search (inbox.test.sql): by agent, by
-- assignee and by the period of the last activity, alone and together, within the tenant only.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(8);

-- A second agent of tenant A answers a second web chat; one conversation on each, plus the
-- fixture's (answered by the first agent).
select tests.claims('owner');
insert into tests.fx values ('agent2', api.deploy_agent_template(tests.get('tenant')::uuid, 'sales_assistant', 'Bo A') ->> 'id');
insert into tests.fx values ('web2', api.create_web_chat_channel(tests.get('tenant')::uuid, 'Web A2', tests.get('agent2')::uuid) ->> 'id');
select set_config('request.jwt.claims', '', true);
select tests.become('service');
insert into tests.fx select 'conv_ava', api.ingest_message(tests.get('web_channel')::uuid, 'filter-1', 'filter-v1', 'filter-v1', 'Where is my order?') ->> 'conversation_id';
insert into tests.fx select 'conv_bo', api.ingest_message(tests.get('web2')::uuid, 'filter-2', 'filter-v2', 'filter-v2', 'Do you ship abroad?') ->> 'conversation_id';
reset role;
-- Last activity: the fixture's conversation in March, Ava's in April, Bo's in May.
update app.conversations c set last_message_at = v.at
from (values (tests.get('conv')::uuid, timestamptz '2026-03-10 12:00Z'),
             (tests.get('conv_ava')::uuid, timestamptz '2026-04-10 12:00Z'),
             (tests.get('conv_bo')::uuid, timestamptz '2026-05-10 12:00Z')) v(id, at)
where c.id = v.id;
select tests.become('admin');
select api.assign_conversation(tests.get('conv_ava')::uuid, tests.uid('admin'));
select api.assign_conversation(tests.get('conv_bo')::uuid, tests.uid('owner'));

select set_eq(format($$select id from api.list_conversations(%L, agent_id => %L)$$, tests.get('tenant'), tests.get('agent2')),
  format($$values (%L::uuid)$$, tests.get('conv_bo')), 'by agent: only the conversations that agent answers');
select set_eq(format($$select id from api.list_conversations(%L, agent_id => %L)$$, tests.get('tenant'), tests.get('agent')),
  format($$values (%L::uuid), (%L::uuid)$$, tests.get('conv'), tests.get('conv_ava')), 'and the other agent''s');
select set_eq(format($$select id from api.list_conversations(%L, assignee_id => %L)$$, tests.get('tenant'), tests.uid('admin')),
  format($$values (%L::uuid)$$, tests.get('conv_ava')), 'by assignee: only the conversations assigned to that member');
select set_eq(format($$select id from api.list_conversations(%L, from_time => '2026-04-01Z', to_time => '2026-05-01Z')$$, tests.get('tenant')),
  format($$values (%L::uuid)$$, tests.get('conv_ava')), 'by period: last activity from the start, before the end');
select set_eq(format($$select id from api.list_conversations(%L, from_time => '2026-04-01Z')$$, tests.get('tenant')),
  format($$values (%L::uuid), (%L::uuid)$$, tests.get('conv_ava'), tests.get('conv_bo')), 'a period open at the end');
select is((select count(*)::int from api.list_conversations(tests.get('tenant')::uuid, agent_id => tests.get('agent2')::uuid,
  assignee_id => tests.uid('admin'))), 0, 'filters combine: Bo''s conversations assigned to the admin are none');
select is((select count(*)::int from api.list_conversations(tests.get('tenant')::uuid, channel => 'web_chat',
  agent_id => tests.get('agent')::uuid, assignee_id => tests.uid('admin'), from_time => '2026-04-01Z', search => 'order')),
  1, 'every filter at once still finds the one that fits');
reset role;

-- Another tenant's agent filters nothing in: tenant B's member sees only B's.
select tests.become('stranger');
select is((select count(*)::int from api.list_conversations(tests.get('tenant_b')::uuid, agent_id => tests.get('agent2')::uuid)), 0,
  'another tenant''s agent id finds nothing in this tenant');
reset role;

select * from finish();
rollback;
