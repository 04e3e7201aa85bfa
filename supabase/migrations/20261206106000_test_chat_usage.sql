-- The portal's test chat never counts toward the plan: not its messages (api.ingest_message
-- already left those out) and now not its model tokens either. Since the onboarding wizard
-- asks for a model, a new admin's first test answers are real model calls; they stay in
-- app.usage_events (what was spent: the Usage page, the agent's own budget in
-- app.agent_usage) but are no longer added to the tenant's plan counter (app.tenant_usage,
-- what monthly_tokens is checked against) nor reported to Stripe's meter. The recount
-- (app.usage_from_history) says the same, so a reconcile keeps them out too.
--
-- The test flag is read from the event's conversation by its primary key: one row, whatever
-- the history.

create or replace function app.count_usage_event()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  period timestamptz := app.usage_period(new.occurred_at);
begin
  -- The tenant's row first, then the agent's: always the same order, so no deadlock.
  if not app.is_test_usage(new.conversation_id) then
    perform app.add_tenant_usage(new.tenant_id, period, 0, new.input_tokens + new.output_tokens, new.cost_usd);
  end if;
  if new.agent_id is not null then
    insert into app.agent_usage as u (tenant_id, agent_id, period_start, tokens, cost_usd)
    values (new.tenant_id, new.agent_id, period, new.input_tokens + new.output_tokens, new.cost_usd)
    on conflict on constraint agent_usage_pkey do update
      set tokens = u.tokens + excluded.tokens, cost_usd = u.cost_usd + excluded.cost_usd;
  end if;
  return null;
end
$$;
comment on function app.count_usage_event() is 'After-insert trigger on usage_events: adds the event''s tokens and cost to its agent''s counter of its period (app.agent_usage) and, unless it belongs to a test conversation (the portal''s test chat), to its tenant''s (app.tenant_usage, the plan''s). A duplicate record (same idempotency_key) inserts no row, so it never counts twice.';

-- PL/pgSQL: PostgreSQL 15 and 17 plan a SQL function with `set search_path` on every call.
create function app.is_test_usage(conversation_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return coalesce((select c.is_test from app.conversations c where c.id = is_test_usage.conversation_id), false);
end
$$;
comment on function app.is_test_usage(uuid) is 'Whether usage of this conversation is the portal''s test chat (is_test), which never counts toward the plan; false for none. One primary-key read.';
revoke all on function app.is_test_usage(uuid) from public, anon, authenticated;
grant execute on function app.is_test_usage(uuid) to service_role;

create or replace function app.queue_meter_report()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  customer text;
begin
  if new.input_tokens + new.output_tokens <= 0 or app.is_test_usage(new.conversation_id) then
    return null;
  end if;
  select b.stripe_customer_id into customer
  from app.billing_accounts b
  join app.subscriptions s on s.tenant_id = b.tenant_id
  where b.tenant_id = new.tenant_id and s.status in ('trialing', 'active', 'past_due');
  if customer is null then
    return null;
  end if;
  insert into app.meter_reports (tenant_id, usage_event_id, identifier, stripe_customer_id, value, occurred_at)
  values (new.tenant_id, new.id, 'konstruct-usage-' || new.id::text, customer, new.input_tokens + new.output_tokens,
    new.occurred_at)
  on conflict (usage_event_id) do nothing;
  return null;
end
$$;
comment on function app.queue_meter_report() is 'After-insert trigger on usage_events: a tenant with a Stripe customer and a live subscription gets one pending meter report (identifier konstruct-usage-<id>) for the tokens of the record, unless it belongs to a test conversation (the portal''s test chat).';

create or replace function app.usage_from_history(tenant_id uuid)
returns table (agent_id uuid, period_start timestamptz, messages bigint, tokens bigint, cost_usd numeric)
language sql
stable
security definer
set search_path = ''
as $$
  select null::uuid, h.period_start, sum(h.messages)::bigint, sum(h.tokens)::bigint, sum(h.cost_usd)
  from (
    select app.usage_period(m.created_at) as period_start, 1 as messages, 0::bigint as tokens, 0::numeric as cost_usd
    from app.messages m
    join app.conversations c on c.id = m.conversation_id
    where m.tenant_id = usage_from_history.tenant_id and m.direction = 'in' and not c.is_test
      and not exists (select 1 from app.rate_limited_messages r where r.message_id = m.id)
    union all
    select app.usage_period(u.occurred_at), 0, u.input_tokens + u.output_tokens, u.cost_usd
    from app.usage_events u
    left join app.conversations c on c.id = u.conversation_id
    where u.tenant_id = usage_from_history.tenant_id and not coalesce(c.is_test, false)
  ) h
  group by h.period_start
  union all
  select u.agent_id, app.usage_period(u.occurred_at), 0, sum(u.input_tokens + u.output_tokens)::bigint, sum(u.cost_usd)
  from app.usage_events u
  where u.tenant_id = usage_from_history.tenant_id and u.agent_id is not null
  group by u.agent_id, app.usage_period(u.occurred_at)
$$;
comment on function app.usage_from_history(uuid) is 'What a tenant''s usage counters should hold, recounted from the raw rows (reads its whole history: for checks and repair, never a hot path): per UTC month, agent_id null = the tenant''s row (admitted inbound messages and model usage of non-test conversations: messages, tokens, cost), else that agent''s tokens and cost (test conversations included: the agent''s budget guards what is spent).';
