-- An inbound message writes its thread's conversation once (in app.bump_conversation; a
-- message that opens a conversation inserts it as its last and writes it no more), and still
-- reopens a closed conversation, fills a missing agent and merges new channel context.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(11);

insert into tests.fx select 'updates_at_start', pg_stat_get_xact_tuples_updated('app.conversations'::regclass)::text;
select tests.become('service');
insert into tests.fx select 'first', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.w1', '15550001111', '15550001111',
  'Hello', 'Lin', '[]', '{"wa_id": "15550001111"}')::text;
reset role;
insert into tests.fx select 'updates_before', pg_stat_get_xact_tuples_updated('app.conversations'::regclass)::text;
select is(tests.get('updates_before')::bigint - tests.get('updates_at_start')::bigint, 0::bigint,
  'a message that opens a conversation does not write it again after inserting it');
select is((select row(c.last_message_at, c.last_inbound_at, c.last_message_preview, c.last_inbound_seq)::text
           from app.conversations c where c.id = (tests.get('first')::jsonb ->> 'conversation_id')::uuid),
  (select row(m.created_at, m.created_at, m.text, m.seq)::text
   from app.messages m where m.id = (tests.get('first')::jsonb ->> 'message_id')::uuid),
  'which shows that message as its last: time, preview and seq');

select tests.become('service');
insert into tests.fx select 'second', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.w2', '15550001111', '15550001111',
  'Are you there?', 'Lin', '[]', '{"wa_id": "15550001111"}')::text;
reset role;
select is(pg_stat_get_xact_tuples_updated('app.conversations'::regclass) - tests.get('updates_before')::bigint, 1::bigint,
  'a message in an open thread writes its conversation once');
select is(tests.get('second')::jsonb ->> 'conversation_id', tests.get('first')::jsonb ->> 'conversation_id',
  'in the same conversation');
select is((select last_message_preview from app.conversations where id = (tests.get('first')::jsonb ->> 'conversation_id')::uuid),
  'Are you there?', 'which shows the new last message');

-- New channel context is merged into what the conversation keeps.
select tests.become('service');
select api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.w3', '15550001111', '15550001111',
  'One more', 'Lin', '[]', '{"wa_id": "15550001111", "referral": "ad-7"}');
reset role;
select is((select channel_context from app.conversations where id = (tests.get('first')::jsonb ->> 'conversation_id')::uuid),
  '{"wa_id": "15550001111", "referral": "ad-7"}'::jsonb, 'new channel context is merged, the old kept');

-- A closed conversation reopens and the agent answers again.
select tests.become('admin');
select api.close_conversation((tests.get('first')::jsonb ->> 'conversation_id')::uuid);
reset role;
select is((select status from app.conversations where id = (tests.get('first')::jsonb ->> 'conversation_id')::uuid),
  'closed', 'the admin closed it');
select tests.become('service');
insert into tests.fx select 'after_close', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.w4', '15550001111',
  '15550001111', 'Me again', 'Lin', '[]', '{"wa_id": "15550001111"}')::text;
reset role;
select is(tests.get('after_close')::jsonb ->> 'conversation_id', tests.get('first')::jsonb ->> 'conversation_id',
  'a message in a closed thread goes to the same conversation');
select is(tests.get('after_close')::jsonb ->> 'conversation_status', 'open', 'which reopens');
select is((tests.get('after_close')::jsonb ->> 'enqueued')::boolean, true, 'and the agent answers');
select is((select status from app.conversations where id = (tests.get('first')::jsonb ->> 'conversation_id')::uuid),
  'open', 'the inbox sees it open');

select * from finish();
rollback;
