-- The portal's test chat never counts toward the plan, tokens included: a model call of a
-- test conversation is recorded (the Usage page, the agent's budget) but adds nothing to the
-- tenant's plan counter nor to Stripe's meter, and the recount from history agrees; a model
-- call of any other conversation counts as before.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(7);

create function tests.plan_tokens() returns bigint language sql as $$
  select coalesce((select u.tokens from app.tenant_usage u
    where u.tenant_id = tests.get('tenant')::uuid and u.period_start = app.usage_period(now())), 0)
$$;
create function tests.agent_tokens() returns bigint language sql as $$
  select coalesce((select u.tokens from app.agent_usage u
    where u.agent_id = tests.get('agent')::uuid and u.period_start = app.usage_period(now())), 0)
$$;

-- A paying tenant, so its usage is metered to Stripe.
insert into app.billing_accounts (tenant_id, stripe_customer_id) values (tests.get('tenant')::uuid, 'cus_test_chat_usage')
on conflict (tenant_id) do update set stripe_customer_id = excluded.stripe_customer_id;
update app.subscriptions set status = 'active' where tenant_id = tests.get('tenant')::uuid;

select tests.become('service');
select api.begin_test_chat(tests.get('web_channel')::uuid, 'usage-test-visitor', tests.get('owner')::uuid);
insert into tests.fx
select 'test_conv', api.ingest_message(tests.get('web_channel')::uuid, 'usage-test-1', 'usage-test-visitor',
  'usage-test-visitor', 'How much is a call-out?') ->> 'conversation_id';
insert into tests.fx
select 'plain_conv', api.ingest_message(tests.get('web_channel')::uuid, 'usage-plain-1', 'usage-plain-visitor',
  'usage-plain-visitor', 'How much is a call-out?') ->> 'conversation_id';
insert into tests.fx values ('plan_before', tests.plan_tokens()::text), ('agent_before', tests.agent_tokens()::text);
insert into tests.fx
select 'test_usage', api.record_usage(tests.get('tenant')::uuid, 'gpt-e2e', 900, 100, 0.02, tests.get('agent')::uuid,
  tests.get('test_conv')::uuid, 'chat', 'test-chat-usage:1') ->> 'usage_event_id';
reset role;

select is(tests.plan_tokens(), tests.get('plan_before')::bigint, 'a test chat''s model call does not count toward the plan');
select is(tests.agent_tokens(), tests.get('agent_before')::bigint + 1000, 'it counts toward the agent''s own budget');
select is((select count(*)::integer from app.meter_reports r where r.usage_event_id = tests.get('test_usage')::bigint), 0,
  'and is not reported to the meter');
select is((select count(*)::integer from app.usage_events u where u.id = tests.get('test_usage')::bigint), 1,
  'it is still recorded as usage');

select tests.become('service');
insert into tests.fx
select 'plain_usage', api.record_usage(tests.get('tenant')::uuid, 'gpt-e2e', 900, 100, 0.02, tests.get('agent')::uuid,
  tests.get('plain_conv')::uuid, 'chat', 'test-chat-usage:2') ->> 'usage_event_id';
reset role;
select is(tests.plan_tokens(), tests.get('plan_before')::bigint + 1000, 'a customer conversation''s model call counts');
select is((select count(*)::integer from app.meter_reports r where r.usage_event_id = tests.get('plain_usage')::bigint), 1,
  'and is reported to the meter');

select is(
  (select row(u.tokens, u.cost_usd)::text from app.tenant_usage u
   where u.tenant_id = tests.get('tenant')::uuid and u.period_start = app.usage_period(now())),
  (select row(h.tokens, h.cost_usd)::text from app.usage_from_history(tests.get('tenant')::uuid) h
   where h.agent_id is null and h.period_start = app.usage_period(now())),
  'the recount from history leaves the test chat out too');

select * from finish();
rollback;
