-- Usage counters (app.tenant_usage in slots, summed; app.agent_usage): kept in the transaction of the event,
-- never counting a retried delivery, a duplicate usage record, a message the inbound rate
-- limit held back or a test conversation's message; what the plan limit reads; and equal to
-- what the raw rows say (app.usage_from_history), for both tenants.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(16);

insert into app.settings (key, value) values ('inbound_rate_limit_per_sender', '3')
on conflict (key) do update set value = excluded.value;

create function tests.counter(tenant text, what text) returns bigint language sql as $$
  select coalesce((select sum(case what when 'messages' then u.messages when 'tokens' then u.tokens end)::bigint
    from app.tenant_usage u where u.tenant_id = tests.get(tenant)::uuid and u.period_start = app.usage_period(now())), 0)
$$;
create function tests.ingest_wa(ext text, sender text) returns jsonb language sql as $$
  select api.ingest_message(tests.get('wa_channel')::uuid, ext, sender, sender, 'Message ' || ext, null, '[]', '{}')
$$;

-- The fixture: one inbound message in each tenant, one model call each (A: 120 tokens, B: 350).
select is(tests.counter('tenant', 'messages'), 1::bigint, 'the fixture''s inbound message counts');
select is(tests.counter('tenant', 'tokens'), 120::bigint, 'the fixture''s model call counts its tokens');

-- Five messages from one sender: three admitted, two held back by the per-sender limit; one retried.
select tests.become('service');
insert into tests.fx select 'm' || i, tests.ingest_wa('uc-' || i, '15550000077')::text from generate_series(1, 5) i;
insert into tests.fx select 'm1_again', tests.ingest_wa('uc-1', '15550000077')::text;
reset role;
select is((tests.get('m1_again')::jsonb ->> 'duplicate')::boolean, true, 'the retried delivery is a duplicate');
select is(tests.counter('tenant', 'messages'), 4::bigint,
  'only admitted messages count: not the two the rate limit held back, not the retry');
select is((select count(*)::integer from app.rate_limited_messages r
           where r.message_id in ((tests.get('m4')::jsonb ->> 'message_id')::uuid, (tests.get('m5')::jsonb ->> 'message_id')::uuid)),
  2, 'the held-back messages are recorded as such');
select is((select r.plan_messages from app.reply_jobs r where r.message_id = (tests.get('m3')::jsonb ->> 'message_id')::uuid),
  4::bigint, 'a reply job remembers the month''s count as of its message');

-- A test conversation (the portal's test chat) never counts.
insert into app.conversations (tenant_id, connection_id, channel, thread_key, agent_id, is_test)
values (tests.get('tenant')::uuid, tests.get('web_channel')::uuid, 'web_chat', 'test-chat-visitor', tests.get('agent')::uuid, true);
select tests.become('service');
insert into tests.fx select 'test_msg', api.ingest_message(tests.get('web_channel')::uuid, 'uc-test', 'test-chat-visitor',
  'test-chat-visitor', 'Does this count?')::text;
reset role;
select is((tests.get('test_msg')::jsonb ->> 'enqueued')::boolean, true, 'the test chat is answered');
select is(tests.counter('tenant', 'messages'), 4::bigint, 'but its message does not count toward the plan');

-- Tokens: a retried usage record counts once, per tenant and per agent.
select tests.become('service');
select api.record_usage(tests.get('tenant')::uuid, 'gpt-4o-mini', 1000, 200, 0.01, tests.get('agent')::uuid, null, 'chat', 'uc:call-1');
select api.record_usage(tests.get('tenant')::uuid, 'gpt-4o-mini', 1000, 200, 0.01, tests.get('agent')::uuid, null, 'chat', 'uc:call-1');
reset role;
select is(tests.counter('tenant', 'tokens'), 1320::bigint, 'a duplicate usage record is not counted twice');
select is((select u.tokens from app.agent_usage u where u.agent_id = tests.get('agent')::uuid
           and u.period_start = app.usage_period(now())), 1320::bigint, 'the agent''s counter too');
select is(tests.counter('tenant_b', 'tokens'), 350::bigint, 'the other tenant''s counter is its own');

-- What billing and the portal read.
select is((app.billing_usage(tests.get('tenant')::uuid) ->> 'messages')::bigint, 4::bigint,
  'billing reads the admitted messages from the counter');
select tests.become('admin');
select is((select a.tokens_used_this_month from api.list_agents(tests.get('tenant')::uuid) a where a.id = tests.get('agent')::uuid),
  1320::bigint, 'the portal''s agent list shows this month''s tokens from the counter');
reset role;

-- The plan limit is checked against admitted messages: at the limit, the next admitted one is refused.
update app.plans set monthly_messages = 5
where key = (select s.plan_key from app.subscriptions s where s.tenant_id = tests.get('tenant')::uuid);
select tests.become('service');
insert into tests.fx select 'over', tests.ingest_wa('uc-over', '15550000078')::text;
insert into tests.fx select 'over2', tests.ingest_wa('uc-over-2', '15550000078')::text;
reset role;
select is(array[tests.get('over')::jsonb ->> 'billing_refusal', tests.get('over2')::jsonb ->> 'billing_refusal'],
  array[null, 'monthly_messages'], 'the fifth admitted message is answered, the sixth gets the plan-limit notice');

-- Reconciled from the raw rows.
select is(
  (select array_agg(row(u.period_start, u.messages, u.tokens, u.cost_usd)::text order by u.tenant_id)
   from (select u.tenant_id, u.period_start, sum(u.messages) as messages, sum(u.tokens) as tokens,
           sum(u.cost_usd) as cost_usd
         from app.tenant_usage u where u.tenant_id in (tests.get('tenant')::uuid, tests.get('tenant_b')::uuid)
         group by u.tenant_id, u.period_start) u),
  (select array_agg(row(h.period_start, h.messages, h.tokens, h.cost_usd)::text order by t.id)
   from app.tenants t, app.usage_from_history(t.id) h
   where t.id in (tests.get('tenant')::uuid, tests.get('tenant_b')::uuid) and h.agent_id is null),
  'the tenants'' counters equal what their raw rows say');
select is(
  (select array_agg(row(u.agent_id, u.period_start, u.tokens, u.cost_usd)::text order by u.agent_id)
   from app.agent_usage u where u.tenant_id in (tests.get('tenant')::uuid, tests.get('tenant_b')::uuid)),
  (select array_agg(row(h.agent_id, h.period_start, h.tokens, h.cost_usd)::text order by h.agent_id)
   from app.tenants t, app.usage_from_history(t.id) h
   where t.id in (tests.get('tenant')::uuid, tests.get('tenant_b')::uuid) and h.agent_id is not null),
  'the agents'' counters equal what the raw rows say');

select * from finish();
rollback;
