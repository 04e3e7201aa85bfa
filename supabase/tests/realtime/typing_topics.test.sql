-- Typing indicators: who may receive and send on typing:<conversation id> (RLS on
-- realtime.messages, probed the way Realtime checks a join and a client broadcast), and
-- api.signal_typing, which queues WhatsApp's typing indicator at most once every 20 seconds.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(31);

-- Two widget visitors of tenant A (anonymous users) and one of tenant B, each with a conversation.
create function tests.visitor(persona text, connection_key text) returns void language plpgsql as $$
declare
  uid uuid := tests.create_user(persona);
  ing jsonb;
begin
  update auth.users set is_anonymous = true, email = null where id = uid;
  ing := api.ingest_message(tests.get(connection_key)::uuid, 'ext-' || persona, uid::text, uid::text, 'Hi from ' || persona);
  insert into tests.fx values ('conv_' || persona, ing ->> 'conversation_id');
end $$;
select tests.visitor('visitor1', 'web_channel');
select tests.visitor('visitor2', 'web_channel');
select tests.visitor('visitor_b', 'web_channel_b');

-- Acting as a visitor: an authenticated session that says is_anonymous, as Auth signs it.
create function tests.become_any(persona text) returns void language plpgsql as $$
begin
  if persona like 'visitor%' then
    perform set_config('request.jwt.claims', json_build_object('sub', tests.uid(persona), 'role', 'authenticated',
      'is_anonymous', true)::text, true);
    perform set_config('role', 'authenticated', true);
  else
    perform tests.become(persona);
  end if;
end $$;

-- 'yes' when the persona may receive on the topic: a probe row inserted as the owner is
-- visible to them with realtime.topic() set (Realtime's join check).
create function tests.can_receive(persona text, topic text) returns text language plpgsql as $$
declare
  probe uuid;
  seen integer;
begin
  insert into realtime.messages (topic, extension, private) values (topic, 'broadcast', true) returning id into probe;
  begin
    perform tests.become_any(persona);
    perform set_config('realtime.topic', topic, true);
    select count(*) into seen from realtime.messages m where m.topic = can_receive.topic and m.id = probe;
    raise exception using errcode = 'TT000', message = seen::text;
  exception when others then
    if sqlstate = 'TT000' then
      return case when sqlerrm = '1' then 'yes' else 'no' end;
    end if;
    return sqlstate;
  end;
end $$;

-- 'yes' when the persona may send a broadcast on the topic (Realtime's write check: an insert).
create function tests.can_send(persona text, topic text, extension text default 'broadcast') returns text
language plpgsql as $$
begin
  begin
    perform tests.become_any(persona);
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (topic, extension, private) values (topic, can_send.extension, true);
    raise exception 'rolled back on purpose' using errcode = 'TT000';
  exception when others then
    if sqlstate = 'TT000' then
      return 'yes';
    end if;
    return case when sqlstate = '42501' then 'no' else sqlstate end;
  end;
end $$;

create function tests.typing(key text) returns text language sql stable as $$ select 'typing:' || tests.get(key) $$;

-- The visitor: its own conversation only.
select is(tests.can_receive('visitor1', tests.typing('conv_visitor1')), 'yes', 'a visitor receives typing on its own conversation');
select is(tests.can_send('visitor1', tests.typing('conv_visitor1')), 'yes', 'a visitor sends typing on its own conversation');
select is(tests.can_receive('visitor1', tests.typing('conv_visitor2')), 'no', 'a visitor cannot receive typing of another visitor''s conversation');
select is(tests.can_send('visitor1', tests.typing('conv_visitor2')), 'no', 'a visitor cannot send typing on another visitor''s conversation');
select is(tests.can_receive('visitor1', tests.typing('conv_visitor_b')), 'no', 'nor on a conversation of another tenant');
select is(tests.can_receive('visitor1', tests.typing('conv')), 'no', 'nor on a conversation whose thread is not its id');
select is(tests.can_send('visitor1', tests.typing('conv_visitor1'), 'presence'), 'no', 'a visitor cannot use presence there');
select is(tests.can_receive('visitor1', 'tenant:' || tests.get('tenant')), 'no', 'a visitor still cannot join the tenant topic');

-- Members: their tenant's conversations; owners and admins send, operators only watch.
select is(tests.can_receive('owner', tests.typing('conv_visitor1')), 'yes', 'an owner receives typing on a conversation of its tenant');
select is(tests.can_send('owner', tests.typing('conv_visitor1')), 'yes', 'an owner sends typing there');
select is(tests.can_send('admin', tests.typing('conv_visitor1')), 'yes', 'an admin sends typing there');
select is(tests.can_receive('operator', tests.typing('conv_visitor1')), 'yes', 'an operator receives typing');
select is(tests.can_send('operator', tests.typing('conv_visitor1')), 'no', 'an operator (who cannot reply) cannot send typing');
select is(tests.can_receive('stranger', tests.typing('conv_visitor1')), 'no', 'a member of another tenant cannot receive typing');
select is(tests.can_send('stranger', tests.typing('conv_visitor1')), 'no', 'a member of another tenant cannot send typing');
select is(tests.can_receive('owner', tests.typing('conv_visitor_b')), 'no', 'an owner cannot receive typing of another tenant''s conversation');
select is(tests.can_send('owner', tests.typing('conv_visitor_b')), 'no', 'an owner cannot send typing on another tenant''s conversation');
select is(tests.can_receive('anon', tests.typing('conv_visitor1')), 'no', 'anon cannot receive typing');
select is(tests.can_send('anon', tests.typing('conv_visitor1')), 'no', 'anon cannot send typing');
select is(tests.can_receive('owner', 'typing:' || gen_random_uuid()), 'no', 'a conversation that does not exist is refused');
select is(tests.can_receive('owner', 'typing:not-a-uuid'), 'no', 'a malformed topic is refused, not an error');

-- WhatsApp: a member typing queues the customer's typing indicator, throttled per conversation.
insert into tests.fx values ('wa_conv', api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.customer-1', '15550100',
  '15550100', 'Hello on WhatsApp') ->> 'conversation_id');
create function tests.typing_jobs() returns integer language sql as $$
  select count(*)::integer from pgmq.q_agent_jobs where message ->> 'kind' = 'whatsapp_typing'
$$;

select tests.become('owner');
select is(api.signal_typing(tests.get('wa_conv')::uuid) ->> 'outcome', 'queued',
  'a member typing on a WhatsApp conversation queues the typing indicator');
reset role;
select ok(exists (select 1 from pgmq.q_agent_jobs where message ->> 'kind' = 'whatsapp_typing'
    and message ->> 'conversation_id' = tests.get('wa_conv') and message ->> 'message_external_id' = 'wamid.customer-1'
    and message ->> 'phone_number_id' = '5550001' and message ->> 'tenant_id' = tests.get('tenant')),
  'the job names the customer''s last message and the business number');
select is((select count(*)::integer from pgmq.q_agent_jobs where message ->> 'kind' = 'whatsapp_typing' and message ? 'token'), 0,
  'the job carries no token');
select tests.become('admin');
select is(api.signal_typing(tests.get('wa_conv')::uuid) ->> 'outcome', 'throttled',
  'another member typing within 20 seconds queues nothing more');
reset role;
select is(tests.typing_jobs(), 1, 'one job for a burst of typing');
update app.typing_signals set signalled_at = now() - interval '21 seconds' where conversation_id = tests.get('wa_conv')::uuid;
select tests.become('owner');
select is(api.signal_typing(tests.get('wa_conv')::uuid) ->> 'outcome', 'queued',
  'after 20 seconds the indicator is queued again (it lasts 25)');
reset role;
select is(tests.value_as('owner', format($$select api.signal_typing('%s') ->> 'outcome'$$, tests.get('conv_visitor1'))),
  'channel_has_no_typing', 'web chat typing goes over Realtime: nothing is queued');
select is(tests.outcome('operator', format($$select api.signal_typing('%s')$$, tests.get('wa_conv'))), '42501',
  'an operator cannot signal typing');
select is(tests.outcome('stranger', format($$select api.signal_typing('%s')$$, tests.get('wa_conv'))), 'P0002',
  'a member of another tenant cannot see the conversation');
update app.conversations set last_inbound_at = now() - interval '25 hours' where id = tests.get('wa_conv')::uuid;
update app.typing_signals set signalled_at = now() - interval '1 minute' where conversation_id = tests.get('wa_conv')::uuid;
select is(tests.value_as('owner', format($$select api.signal_typing('%s') ->> 'outcome'$$, tests.get('wa_conv'))),
  'outside_window', 'outside the 24-hour window there is no typing indicator');

select * from finish();
rollback;
