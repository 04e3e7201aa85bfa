-- The short-term inbound rate limit at ingest: per sender and per tenant, in fixed windows;
-- over it the message is stored but not answered, the sender gets one notice per window and
-- the admins one alert per window; duplicates never count; another tenant is unaffected.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(35);

-- Small limits for the test (the fixture already ingested one message in each tenant, in this
-- same transaction and so in this same window).
insert into app.settings (key, value) values
  ('inbound_rate_limit_per_tenant', '8'), ('inbound_rate_limit_per_sender', '3')
on conflict (key) do update set value = excluded.value;

create function tests.ingest_wa(ext text, sender text) returns jsonb language sql as $$
  select api.ingest_message(tests.get('wa_channel')::uuid, ext, sender, sender, 'Message ' || ext, null, '[]', '{}')
$$;

-- Settings ---------------------------------------------------------------------------------------
select is(app.inbound_rate_setting(tests.get('tenant')::uuid, 'inbound_rate_limit_per_sender', 20), 3,
  'the platform setting applies');
select is(app.inbound_rate_setting(tests.get('tenant')::uuid, 'inbound_rate_limit_window_seconds', 60), 60,
  'a missing setting is the default');
insert into app.settings (key, value) values
  ('inbound_rate_limit_per_sender:' || tests.get('tenant_b'), 'off'), ('inbound_rate_limit_window_seconds', 'soon');
select is(app.inbound_rate_setting(tests.get('tenant_b')::uuid, 'inbound_rate_limit_per_sender', 20), null,
  'a tenant''s own value wins, and off means no limit');
select is(app.inbound_rate_setting(tests.get('tenant')::uuid, 'inbound_rate_limit_window_seconds', 60), 60,
  'an invalid value falls back to the default');
delete from app.settings where key in ('inbound_rate_limit_per_sender:' || tests.get('tenant_b'), 'inbound_rate_limit_window_seconds');

-- Per sender ---------------------------------------------------------------------------------------
select tests.become('service');
insert into tests.fx select 's1_' || i, tests.ingest_wa('rl-s1-' || i, '15550000001')::text from generate_series(1, 5) i;
insert into tests.fx select 's1_5_again', tests.ingest_wa('rl-s1-5', '15550000001')::text;
reset role;

select is(array(select (tests.get('s1_' || i)::jsonb ->> 'enqueued')::boolean from generate_series(1, 5) i),
  array[true, true, true, false, false], 'a sender''s first 3 messages in the window are answered, then none');
select is(array(select tests.get('s1_' || i)::jsonb ->> 'rate_limited' from generate_series(1, 5) i),
  array[null, null, null, 'sender', 'sender'], 'ingest says which limit held them back');
select is((select count(*)::integer from app.messages where connection_id = tests.get('wa_channel')::uuid
           and external_id like 'rl-s1-%' and direction = 'in'), 5, 'every message is stored all the same');
select is((select count(*)::integer from pgmq.q_agent_jobs where message ->> 'kind' = 'reply'
           and message ->> 'conversation_id' = tests.get('s1_1')::jsonb ->> 'conversation_id'), 3,
  'three reply jobs, none for the messages over the limit');
select isnt(tests.get('s1_4')::jsonb ->> 'notice_message_id', null, 'the first message over the limit gets a notice');
select is(tests.get('s1_5')::jsonb ->> 'notice_message_id', null, 'the next one does not');
select is((select text from app.messages where id = (tests.get('s1_4')::jsonb ->> 'notice_message_id')::uuid),
  app.rate_limit_text(), 'the notice is the polite rate-limit text');
select ok(app.rate_limit_text() like 'We''re receiving a lot of messages right now%', 'which says so');
select is((select author_kind || '/' || direction || '/' || delivery_status || '/' || (metadata ->> 'mode') || '/' || (metadata ->> 'limit')
           from app.messages where id = (tests.get('s1_4')::jsonb ->> 'notice_message_id')::uuid),
  'system/out/pending/rate_limit/sender', 'a pending outbound system message marked rate_limit');
select is((select metadata ->> 'in_reply_to' from app.messages where id = (tests.get('s1_4')::jsonb ->> 'notice_message_id')::uuid),
  tests.get('s1_4')::jsonb ->> 'message_id', 'in reply to the message that tripped the limit');
select is((select count(*)::integer from pgmq.q_agent_jobs where message ->> 'kind' = 'deliver'
           and message ->> 'message_id' = tests.get('s1_4')::jsonb ->> 'notice_message_id'), 1,
  'queued for delivery like the plan-limit notice');
select is((select count(*)::integer from app.messages where conversation_id = (tests.get('s1_1')::jsonb ->> 'conversation_id')::uuid
           and direction = 'out'), 1, 'one notice in the conversation, not one per message');
select is((select count(*)::integer from app.audit_log where tenant_id = tests.get('tenant')::uuid
           and action = 'alert.inbound_rate_limited'), 1, 'the admins get an alert');
select is((select details ->> 'limit' from app.audit_log where tenant_id = tests.get('tenant')::uuid
           and action = 'alert.inbound_rate_limited'), 'sender', 'saying which limit');
select is((tests.get('s1_5_again')::jsonb ->> 'duplicate')::boolean, true, 'a retried delivery is a duplicate');
select is((select sum(messages)::integer from app.inbound_rate_windows where tenant_id = tests.get('tenant')::uuid and scope = 'sender'
           and subject = (tests.get('s1_1')::jsonb ->> 'contact_id')::uuid), 5, 'and does not count');

-- Per tenant ---------------------------------------------------------------------------------------
-- The tenant has had 1 (fixture) + 5 messages; a second sender gets 2 more answered, then the tenant is full.
select tests.become('service');
insert into tests.fx select 's2_' || i, tests.ingest_wa('rl-s2-' || i, '15550000002')::text from generate_series(1, 4) i;
reset role;
select is(array(select tests.get('s2_' || i)::jsonb ->> 'rate_limited' from generate_series(1, 4) i),
  array[null, null, 'tenant', 'tenant'], 'past 8 messages in the window the tenant limit holds everyone back');
select is(array(select (tests.get('s2_' || i)::jsonb ->> 'enqueued')::boolean from generate_series(1, 4) i),
  array[true, true, false, false], 'with no reply job');
select is(array(select tests.get('s2_' || i)::jsonb ->> 'notice_message_id' is not null from generate_series(1, 4) i),
  array[false, false, true, false], 'each sender gets one notice');
select is((select count(*)::integer from app.audit_log where tenant_id = tests.get('tenant')::uuid
           and action = 'alert.inbound_rate_limited'), 1, 'still one alert for the window');

-- Another tenant is unaffected ----------------------------------------------------------------------
select tests.become('service');
insert into tests.fx select 'b_1', api.ingest_message(tests.get('web_channel_b')::uuid, 'rl-b-1', 'visitor-b', 'visitor-b', 'Hi from B')::text;
reset role;
select is((tests.get('b_1')::jsonb ->> 'enqueued')::boolean, true, 'tenant B is answered');
select is(tests.get('b_1')::jsonb ->> 'rate_limited', null, 'and not limited');
select is((select count(*)::integer from app.audit_log where tenant_id = tests.get('tenant_b')::uuid
           and action = 'alert.inbound_rate_limited'), 0, 'and not alerted');

-- A human's conversation: counted, never answered by the agent, so no notice -------------------------
select tests.become('admin');
select api.takeover_conversation((tests.get('s2_1')::jsonb ->> 'conversation_id')::uuid);
reset role;
select tests.become('service');
insert into tests.fx select 's2_human', tests.ingest_wa('rl-s2-human', '15550000002')::text;
reset role;
select is(tests.get('s2_human')::jsonb ->> 'notice_message_id', null, 'no notice where a human answers');
select is((select sum(messages)::integer from app.inbound_rate_windows where tenant_id = tests.get('tenant')::uuid and scope = 'tenant'),
  11, 'but the message counts for the tenant');
select tests.become('admin');
select api.release_conversation((tests.get('s2_1')::jsonb ->> 'conversation_id')::uuid);
reset role;

-- The next window -----------------------------------------------------------------------------------
update app.inbound_rate_windows set window_start = window_start - interval '60 seconds' where true;
select tests.become('service');
insert into tests.fx select 's1_next_' || i, tests.ingest_wa('rl-s1-next-' || i, '15550000001')::text from generate_series(1, 4) i;
reset role;
select is(array(select (tests.get('s1_next_' || i)::jsonb ->> 'enqueued')::boolean from generate_series(1, 4) i),
  array[true, true, true, false], 'a new window answers again');
select isnt(tests.get('s1_next_4')::jsonb ->> 'notice_message_id', null, 'with one new notice when over again');
-- (now() stands still inside this transaction, so app.alert_once itself still sees the first
-- window's entry as recent; the window's own claim is what is checked here.)
select is((select count(*)::integer from app.inbound_rate_windows where tenant_id = tests.get('tenant')::uuid
           and scope = 'tenant' and alerted_at is not null), 2, 'and the new window claims an alert of its own');

-- Off: no limit at all ------------------------------------------------------------------------------
update app.settings set value = 'off' where key in ('inbound_rate_limit_per_tenant', 'inbound_rate_limit_per_sender');
select tests.become('service');
select is((tests.ingest_wa('rl-s1-off', '15550000001') ->> 'enqueued')::boolean, true, 'limits set to off hold nothing back');
reset role;

-- Closed to users -----------------------------------------------------------------------------------
select is(tests.outcome('owner', 'select * from app.inbound_rate_windows'), '42501', 'members cannot read the counters');
select is(tests.outcome('owner', format('select app.count_inbound(%L, %L)', tests.get('tenant'), tests.get('contact'))),
  '42501', 'nor count a message');

select * from finish();
rollback;
