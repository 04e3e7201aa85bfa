-- api.ingest_whatsapp_message: whatsapp-webhook's one call per message routes a number to the
-- tenant that proved control of it, only when the delivery names that tenant's business
-- account; another tenant's claim of the same number, another account's delivery and an
-- unknown number store nothing; a stored message is exactly what api.ingest_message stores.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(16);

create function tests.wa(phone text, account text, wamid text, sender text, body text) returns jsonb language sql as $$
  select api.ingest_whatsapp_message(phone, account, wamid, sender, body, 'Customer ' || sender, '[]',
    jsonb_build_object('whatsapp_phone_number_id', phone, 'whatsapp_to', sender, 'whatsapp_last_message_id', wamid),
    '{"whatsapp_type": "text"}')
$$;

-- Tenant B claims A's number 5550001 under its own account (waba-b), which it can never
-- prove, and proves 5550002 (waba-b); tenant A proves 5550001 (waba-a).
select tests.claims('stranger');
insert into tests.fx values
  ('wa_b', api.create_whatsapp_channel(tests.get('tenant_b')::uuid, 'WhatsApp B', '5550002', 'waba-b', 'token-b', null,
     tests.get('agent_b')::uuid) ->> 'id'),
  ('wa_b_squat', api.create_whatsapp_channel(tests.get('tenant_b')::uuid, 'WhatsApp B squat', '5550001', 'waba-b', 'token-b2',
     null, tests.get('agent_b')::uuid) ->> 'id');
select set_config('request.jwt.claims', '', true);
select tests.become('service');
select api.confirm_whatsapp_channel(tests.get('wa_channel')::uuid, array['5550001']);
select api.confirm_whatsapp_channel(tests.get('wa_b')::uuid, array['5550002']);

insert into tests.fx values
  ('a', tests.wa('5550001', 'waba-a', 'wamid.A1', '15551230001', 'Where is my order?')::text),
  ('a_again', tests.wa('5550001', 'waba-a', 'wamid.A1', '15551230001', 'Where is my order?')::text),
  ('a_next', tests.wa('5550001', 'waba-a', 'wamid.A2', '15551230001', 'Any news?')::text),
  ('b', tests.wa('5550002', 'waba-b', 'wamid.A1', '15551230001', 'Hello B')::text),
  ('squat', tests.wa('5550001', 'waba-b', 'wamid.S1', '15551230001', 'For B?')::text),
  ('crossed', tests.wa('5550002', 'waba-a', 'wamid.X1', '15551230001', 'For A?')::text),
  ('unknown', tests.wa('5559999', 'waba-a', 'wamid.U1', '15551230001', 'Anyone?')::text);
reset role;

select is(tests.get('a')::jsonb ->> 'outcome', 'ingested', 'a message to a proven number is stored');
select is(tests.get('a')::jsonb ->> 'connection_id', tests.get('wa_channel'), 'on the connection that proved it');
select is((select m.tenant_id::text from app.messages m where m.id = (tests.get('a')::jsonb ->> 'message_id')::uuid),
  tests.get('tenant'), 'in that connection''s tenant');
select is((select c.thread_key from app.conversations c where c.id = (tests.get('a')::jsonb ->> 'conversation_id')::uuid),
  '15551230001', 'in the sender''s conversation');
select is((select c.channel_context ->> 'whatsapp_last_message_id' from app.conversations c
           where c.id = (tests.get('a')::jsonb ->> 'conversation_id')::uuid), 'wamid.A2',
  'whose channel context follows the latest message');
select is((tests.get('a')::jsonb ->> 'enqueued')::boolean, true, 'with a reply job, as api.ingest_message queues');
select is((tests.get('a_again')::jsonb ->> 'duplicate')::boolean, true, 'a redelivered wamid is a duplicate');
select is((tests.get('a_again')::jsonb ->> 'enqueued')::boolean, false, 'that queues nothing');
select is(tests.get('a_next')::jsonb ->> 'conversation_id', tests.get('a')::jsonb ->> 'conversation_id',
  'the sender''s next message joins the same conversation');

select is((select m.tenant_id::text from app.messages m where m.id = (tests.get('b')::jsonb ->> 'message_id')::uuid),
  tests.get('tenant_b'), 'tenant B''s proven number routes to tenant B, with the same wamid and sender');
select isnt(tests.get('b')::jsonb ->> 'conversation_id', tests.get('a')::jsonb ->> 'conversation_id',
  'in a conversation of its own');

select is(tests.get('squat')::jsonb, '{"outcome": "unknown_number"}'::jsonb,
  'another tenant''s unproven claim of a number under its own account routes nowhere');
select is(tests.get('crossed')::jsonb, '{"outcome": "unknown_number"}'::jsonb,
  'a proven number in a delivery of another business account routes nowhere');
select is(tests.get('unknown')::jsonb, '{"outcome": "unknown_number"}'::jsonb, 'an unknown number routes nowhere');
select is((select count(*)::integer from app.messages m where m.external_id in ('wamid.S1', 'wamid.X1', 'wamid.U1')), 0,
  'none of them is stored, in any tenant');

-- A disabled connection stores nothing.
update app.channel_connections set status = 'disabled' where id = tests.get('wa_channel')::uuid;
select tests.become('service');
insert into tests.fx values ('disabled', tests.wa('5550001', 'waba-a', 'wamid.D1', '15551230001', 'Hello?')::text);
reset role;
select is(array[tests.get('disabled')::jsonb ->> 'outcome',
    (select count(*)::text from app.messages m where m.external_id = 'wamid.D1')],
  array['disabled', '0'], 'a disabled connection stores nothing');

select * from finish();
rollback;
