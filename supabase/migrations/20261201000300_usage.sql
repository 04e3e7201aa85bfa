-- Usage: what each tenant and agent used, counted where it is recorded.
--
-- Usage events meter every model call per agent and tenant (idempotent by a producer key,
-- recorded by the worker through api.record_usage, in the billing file). What a tenant (and each agent) used in
-- a period is kept as counters, updated in the transaction that records the usage, so
-- limits and budgets are read in one row, never summed from history: app.tenant_usage
-- (admitted inbound messages, tokens, cost) and app.agent_usage (tokens, cost). A period
-- is the calendar month in UTC (app.usage_period). Tokens and cost are counted by a
-- trigger on usage_events (a duplicate record inserts nothing, so it never counts);
-- messages by app.answer_inbound at ingest, only those the inbound rate limit admitted and
-- never those of a test conversation. Each counter is one row updated with insert ... on
-- conflict do update, so concurrent writers serialize on it and none is lost. The billing
-- file says what the counters should hold, from the raw rows
-- (app.usage_from_history, app.reconcile_usage_counters).

create table app.usage_events (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  agent_id uuid,
  conversation_id uuid,
  connection_id uuid,
  channel text check (channel in ('slack', 'whatsapp', 'web_chat')),
  kind text not null default 'chat' check (kind in ('chat', 'embedding', 'tool', 'message')),
  model text,
  input_tokens bigint not null default 0 check (input_tokens >= 0),
  output_tokens bigint not null default 0 check (output_tokens >= 0),
  cost_usd numeric(14, 6) not null default 0 check (cost_usd >= 0),
  idempotency_key text unique,
  metadata jsonb not null default '{}'::jsonb,
  occurred_at timestamptz not null default now()
);
create index usage_events_tenant_time_idx on app.usage_events (tenant_id, occurred_at);
create index usage_events_agent_time_idx on app.usage_events (agent_id, occurred_at);
comment on table app.usage_events is 'One metered event (a model call, an embedding, ...): tokens and cost per agent, channel and tenant. idempotency_key makes a retried record a no-op.';
alter table app.usage_events enable row level security;
alter table app.usage_events force row level security;
create policy "members can read their tenant's usage" on app.usage_events
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.usage_events to authenticated;
grant select, insert on app.usage_events to service_role;

create table app.tenant_usage (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  period_start timestamptz not null,
  -- Inbound messages admitted by the rate limit, test conversations excluded.
  messages bigint not null default 0 check (messages >= 0),
  tokens bigint not null default 0 check (tokens >= 0),
  cost_usd numeric(16, 6) not null default 0 check (cost_usd >= 0),
  primary key (tenant_id, period_start)
);
comment on table app.tenant_usage is 'A tenant''s usage per billing period (UTC month) as counters kept in the same transaction as the event: admitted inbound messages (app.answer_inbound; not those held back by the rate limit, not test conversations), model tokens and cost (trigger on usage_events). What plan limits are checked against. Members read it; written by the database only.';
alter table app.tenant_usage enable row level security;
alter table app.tenant_usage force row level security;
create policy "members can read their tenant's usage counters" on app.tenant_usage
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.tenant_usage to authenticated;
grant select, insert, update, delete on app.tenant_usage to service_role;

create table app.agent_usage (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  -- No foreign key: usage outlives a deleted agent, like usage_events.
  agent_id uuid not null,
  period_start timestamptz not null,
  tokens bigint not null default 0 check (tokens >= 0),
  cost_usd numeric(16, 6) not null default 0 check (cost_usd >= 0),
  primary key (agent_id, period_start)
);
create index agent_usage_tenant_idx on app.agent_usage (tenant_id, period_start);
comment on table app.agent_usage is 'An agent''s model tokens and cost per billing period (UTC month), counted by a trigger on usage_events in the same transaction: what its monthly_token_budget is checked against. Members read it; written by the database only.';
alter table app.agent_usage enable row level security;
alter table app.agent_usage force row level security;
create policy "members can read their tenant's agents' usage counters" on app.agent_usage
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.agent_usage to authenticated;
grant select, insert, update, delete on app.agent_usage to service_role;

-- No `set search_path` (its body names pg_catalog): so the planner inlines it in the hot paths.
create function app.usage_period(at timestamptz)
returns timestamptz
language sql
stable
as $$
  select pg_catalog.date_trunc('month', at, 'UTC')
$$;
comment on function app.usage_period(timestamptz) is 'The billing period (calendar month, UTC) a moment belongs to: its start.';
revoke all on function app.usage_period(timestamptz) from public, anon;
grant execute on function app.usage_period(timestamptz) to authenticated, service_role;

create function app.count_usage_event()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  period timestamptz := app.usage_period(new.occurred_at);
begin
  -- The tenant's row first, then the agent's: always the same order, so no deadlock.
  insert into app.tenant_usage as u (tenant_id, period_start, tokens, cost_usd)
  values (new.tenant_id, period, new.input_tokens + new.output_tokens, new.cost_usd)
  on conflict on constraint tenant_usage_pkey do update
    set tokens = u.tokens + excluded.tokens, cost_usd = u.cost_usd + excluded.cost_usd;
  if new.agent_id is not null then
    insert into app.agent_usage as u (tenant_id, agent_id, period_start, tokens, cost_usd)
    values (new.tenant_id, new.agent_id, period, new.input_tokens + new.output_tokens, new.cost_usd)
    on conflict on constraint agent_usage_pkey do update
      set tokens = u.tokens + excluded.tokens, cost_usd = u.cost_usd + excluded.cost_usd;
  end if;
  return null;
end
$$;
comment on function app.count_usage_event() is 'After-insert trigger on usage_events: adds the event''s tokens and cost to its tenant''s and agent''s counters of its period (app.tenant_usage, app.agent_usage). A duplicate record (same idempotency_key) inserts no row, so it never counts twice.';
revoke all on function app.count_usage_event() from public, anon, authenticated;
create trigger usage_events_count after insert on app.usage_events
  for each row execute function app.count_usage_event();
