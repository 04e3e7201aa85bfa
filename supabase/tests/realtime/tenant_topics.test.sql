-- Realtime authorization on tenant topics and the broadcasts the triggers send.
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(13);

-- Probes like Realtime's own authorization check: a row for the topic, selected as the user
-- with realtime.topic() set.
create function tests.can_read_topic(persona text, topic text) returns text language plpgsql as $$
declare
  probe uuid;
  seen integer;
begin
  insert into realtime.messages (topic, extension, private) values (topic, 'broadcast', true) returning id into probe;
  begin
    perform tests.become(persona);
    perform set_config('realtime.topic', topic, true);
    select count(*) into seen from realtime.messages m where m.topic = can_read_topic.topic and m.id = probe;
    raise exception using errcode = 'TT000', message = seen::text;
  exception when others then
    if sqlstate = 'TT000' then
      return case when sqlerrm = '1' then 'yes' else 'no' end;
    end if;
    return sqlstate;
  end;
end $$;

select is(tests.can_read_topic('owner', 'tenant:' || tests.get('tenant')), 'yes', 'an owner can read its tenant topic');
select is(tests.can_read_topic('operator', 'tenant:' || tests.get('tenant')), 'yes', 'an operator can read its tenant topic');
select is(tests.can_read_topic('stranger', 'tenant:' || tests.get('tenant')), 'no', 'a member of another tenant cannot');
select is(tests.can_read_topic('owner', 'tenant:' || tests.get('tenant_b')), 'no', 'a member cannot read another tenant''s topic');
select is(tests.can_read_topic('anon', 'tenant:' || tests.get('tenant')), 'no', 'anon cannot');
select is(tests.can_read_topic('owner', 'tenant:not-a-uuid'), 'no', 'a malformed topic is refused, not an error');
select is(tests.can_read_topic('owner', 'tenant:' || tests.get('tenant') || 'x'), 'no', 'a topic with a suffix is refused');
select is(tests.can_read_topic('owner', 'room:' || tests.get('tenant')), 'no', 'other topic kinds are refused');
select is(tests.outcome('owner', format($$insert into realtime.messages (topic, extension, private) values ('tenant:%s', 'broadcast', true)$$,
  tests.get('tenant'))), '42501', 'members cannot broadcast on the tenant topic themselves');

-- The triggers broadcast what the portal renders, to the tenant topic only.
select ok(exists (select 1 from realtime.messages m where m.topic = 'tenant:' || tests.get('tenant') and m.event = 'message_created'
                  and m.private and m.payload ->> 'id' = tests.get('message') and m.payload ->> 'text' = 'Hello from A'),
  'a new message is broadcast as message_created with its text');
select ok(exists (select 1 from realtime.messages m where m.topic = 'tenant:' || tests.get('tenant') and m.event = 'conversation_changed'
                  and m.payload ->> 'id' = tests.get('conv') and m.payload ->> 'contact_name' = 'Visitor A'),
  'conversation changes are broadcast as conversation_changed');
select api.set_delivery_status(tests.get('tenant')::uuid, tests.get('reply')::uuid, 'sent', 'out-1');
select ok(exists (select 1 from realtime.messages m where m.event = 'message_updated' and m.payload ->> 'id' = tests.get('reply')
                  and m.payload ->> 'delivery_status' = 'sent'),
  'a delivery status change is broadcast as message_updated');
select is((select count(*)::integer from realtime.messages m
           where m.payload ->> 'tenant_id' = tests.get('tenant') and m.topic <> 'tenant:' || tests.get('tenant')), 0,
  'nothing of tenant A is broadcast on any other topic');

select * from finish();
rollback;
