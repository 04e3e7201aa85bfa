-- The portal's test chat: a visitor the web-chat function marked for a member of the widget's
-- tenant (api.begin_test_chat) gets test conversations, shown as such and never counted
-- toward the plan; nobody else can mark a visitor, and no existing conversation turns into one.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(12);

create function tests.plan_messages() returns bigint language sql as $$
  select coalesce((select sum(u.messages)::bigint from app.tenant_usage u
    where u.tenant_id = tests.get('tenant')::uuid and u.period_start = app.usage_period(now())), 0)
$$;

select tests.become('service');
insert into tests.fx values ('before', tests.plan_messages()::text);
-- An operator of tenant A starts a test chat on A's widget.
select is(api.begin_test_chat(tests.get('web_channel')::uuid, 'test-visitor', tests.get('operator')::uuid) ->> 'test',
  'true', 'a member''s verified test chat marks its visitor');
insert into tests.fx
select 'test_conv', api.ingest_message(tests.get('web_channel')::uuid, 'test-1', 'test-visitor', 'test-visitor', 'Hi, testing') ->> 'conversation_id';
select api.ingest_message(tests.get('web_channel')::uuid, 'test-2', 'test-visitor', 'test-visitor', 'And again');
select is((select c.is_test from app.conversations c where c.id = tests.get('test_conv')::uuid), true,
  'the conversation it starts is a test');
select is(tests.plan_messages(), tests.get('before')::bigint, 'its messages do not count toward the plan');
select isnt(api.ingest_message(tests.get('web_channel')::uuid, 'test-3', 'test-visitor', 'test-visitor', 'Answered?') ->> 'job_id',
  null, 'and the agent still answers it');

-- A plain visitor on the same widget: not a test, counted.
insert into tests.fx
select 'plain_conv', api.ingest_message(tests.get('web_channel')::uuid, 'plain-1', 'plain-visitor', 'plain-visitor', 'Hello') ->> 'conversation_id';
select is((select c.is_test from app.conversations c where c.id = tests.get('plain_conv')::uuid), false,
  'a plain visitor''s conversation is not a test');
select is(tests.plan_messages(), tests.get('before')::bigint + 1, 'and counts toward the plan');

-- Who asks: a member of another tenant cannot mark a visitor of A's widget.
select throws_ok($$select api.begin_test_chat(tests.get('web_channel')::uuid, 'stolen-visitor', tests.get('stranger')::uuid)$$,
  '42501', null, 'a member of another tenant cannot mark a visitor of this widget');
select throws_ok($$select api.begin_test_chat(tests.get('web_channel')::uuid, 'stolen-visitor', null)$$,
  '42501', null, 'nor can nobody');
-- An existing conversation never becomes a test one.
select api.begin_test_chat(tests.get('web_channel')::uuid, 'plain-visitor', tests.get('owner')::uuid);
select api.ingest_message(tests.get('web_channel')::uuid, 'plain-2', 'plain-visitor', 'plain-visitor', 'Still me');
select is((select c.is_test from app.conversations c where c.id = tests.get('plain_conv')::uuid), false,
  'marking a visitor later does not turn its existing conversation into a test');
reset role;

-- The inbox shows it: the list and the conversation say is_test.
select tests.become('admin');
select is((select l.is_test from api.list_conversations(tests.get('tenant')::uuid) l where l.id = tests.get('test_conv')::uuid),
  true, 'the inbox list marks the test conversation');
select is((select l.is_test from api.list_conversations(tests.get('tenant')::uuid) l where l.id = tests.get('plain_conv')::uuid),
  false, 'and not the others');
select is(api.get_conversation(tests.get('test_conv')::uuid) ->> 'is_test', 'true', 'so does the conversation');
reset role;

select * from finish();
rollback;
