-- Billing: plans as data, the Stripe subscription of each tenant, and the entitlements
-- the platform enforces from them.
--
-- Plans are rows (price ids, included agents, monthly messages and tokens, channels,
-- trial length), so a platform admin changes an offer without a deploy; null means
-- unlimited. A tenant's plan and state come from its row in app.subscriptions, which
-- only the Stripe webhook (service_role) writes; a tenant with no row (or state none)
-- gets the default plan (app.settings billing_default_plan, 'free' unless changed).
-- Payment data (Stripe customer and subscription ids, invoices, failed payments) lives
-- apart in app.billing_accounts, which users never read directly: api.get_billing shows it
-- to owners and admins only.
--
-- Entitlements, enforced here so every path obeys them:
--   * creating an agent beyond the plan raises KO010, connecting a channel kind the plan
--     does not include raises KO011 (clear text the portal shows as is);
--   * a message that arrives when the tenant is over its monthly messages or tokens gets
--     a polite system answer in the channel (delivered by a `deliver` job) and the admins
--     an alert, instead of a reply job: no model call (applied at ingest by
--     app.answer_inbound, 20261126008000_reply_jobs.sql, from app.billing_refusal here);
--   * past_due keeps working for a grace period (app.settings billing_grace_period,
--     '7 days' by default) counted from when the payment first failed, then the agents
--     are paused; canceled and unpaid pause them at once; paying again resumes them.
--     Paused is computed from the state, never written onto the agents, so resuming
--     can never forget an agent and never wakes one an admin paused on purpose.
-- The month is the calendar month in UTC, like the agents' token budgets. Usage is read from
-- the counters of app.tenant_usage (20261126000500_knowledge_memory_usage.sql), never
-- summed from history.

-- Plans ----------------------------------------------------------------------------------------

create table app.plans (
  key text primary key check (key ~ '^[a-z0-9_]{2,40}$'),
  -- A private plan for one tenant (a negotiated deal); null = offered to everyone.
  tenant_id uuid references app.tenants (id) on delete cascade,
  name text not null check (length(btrim(name)) between 1 and 80),
  description text not null default '',
  stripe_product_id text,
  -- The licensed per-agent price (quantity = agents) and the metered token price.
  stripe_price_id text unique,
  stripe_metered_price_id text unique,
  included_agents integer check (included_agents is null or included_agents >= 0),
  monthly_messages bigint check (monthly_messages is null or monthly_messages >= 0),
  monthly_tokens bigint check (monthly_tokens is null or monthly_tokens >= 0),
  channels text[] not null default array['web_chat', 'slack', 'whatsapp']
    check (channels <@ array['web_chat', 'slack', 'whatsapp']),
  trial_days integer not null default 14 check (trial_days between 0 and 730),
  currency text not null default 'usd' check (currency ~ '^[a-z]{3}$'),
  price_per_agent_cents integer not null default 0 check (price_per_agent_cents >= 0),
  price_per_1k_tokens_cents numeric(12, 6) not null default 0 check (price_per_1k_tokens_cents >= 0),
  is_public boolean not null default true,
  active boolean not null default true,
  sort_order integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table app.plans is 'What a tenant may use, as data: Stripe product and price ids (per-agent licensed price, metered token price), included agents, monthly messages, monthly tokens (null = unlimited), channels allowed, trial length. Edited by platform admins (api.upsert_plan); tenant_id set = a private plan for one tenant.';

create table app.subscriptions (
  tenant_id uuid primary key references app.tenants (id) on delete cascade,
  plan_key text not null references app.plans (key),
  status text not null default 'none'
    check (status in ('none', 'trialing', 'active', 'past_due', 'canceled', 'unpaid')),
  -- Agents paid for (the licensed item's quantity).
  quantity integer not null default 0 check (quantity >= 0),
  trial_ends_at timestamptz,
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  canceled_at timestamptz,
  -- When the payment first failed in the current past_due stretch: the grace period counts from here.
  past_due_since timestamptz,
  stripe_status text,
  -- The version guard: the Stripe event time (and, within one second, the state's rank)
  -- of the state applied; an older event never overwrites a newer state.
  state_version timestamptz,
  state_rank smallint not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index subscriptions_plan_key_idx on app.subscriptions (plan_key);
comment on table app.subscriptions is 'A tenant''s plan and subscription state (none, trialing, active, past_due, canceled, unpaid) as Stripe last said, with the event time it was applied from (state_version). Members read it; only service_role (the Stripe webhook) writes it.';

create table app.billing_accounts (
  tenant_id uuid primary key references app.tenants (id) on delete cascade,
  stripe_customer_id text not null unique,
  stripe_subscription_id text,
  billing_email text,
  trial_used boolean not null default false,
  payment_failed_at timestamptz,
  latest_invoice_id text,
  latest_invoice_status text,
  latest_invoice_url text,
  latest_invoice_amount_due bigint,
  latest_invoice_currency text,
  -- The Stripe event time of the invoice information above (its own version guard).
  invoice_version timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table app.billing_accounts is 'Payment data of a tenant: its Stripe customer (created once, with an idempotency key) and subscription ids, billing email, last invoice and a failed payment. Owners and admins read it; only service_role writes it.';

create table app.stripe_events (
  id text primary key,
  type text not null,
  tenant_id uuid references app.tenants (id) on delete set null,
  stripe_created_at timestamptz not null,
  outcome text not null check (outcome in ('applied', 'stale', 'ignored')),
  detail jsonb not null default '{}'::jsonb,
  processed_at timestamptz not null default now()
);
create index stripe_events_tenant_idx on app.stripe_events (tenant_id, processed_at desc);
comment on table app.stripe_events is 'Stripe webhook events already processed (a redelivery is a no-op) with what they did: applied, stale (older than the stored state) or ignored. service_role only.';

create table app.meter_reports (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  usage_event_id bigint not null unique references app.usage_events (id) on delete cascade,
  -- Sent as the meter event's identifier and Idempotency-Key: Stripe counts it once.
  identifier text not null unique,
  stripe_customer_id text not null,
  value bigint not null check (value > 0),
  occurred_at timestamptz not null,
  status text not null default 'pending' check (status in ('pending', 'sent', 'expired')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text,
  sent_at timestamptz,
  created_at timestamptz not null default now()
);
create index meter_reports_due_idx on app.meter_reports (next_attempt_at) where status = 'pending';
create index meter_reports_tenant_idx on app.meter_reports (tenant_id, created_at);
comment on table app.meter_reports is 'One Stripe meter event per usage record (tokens of a billed tenant): pending until Stripe accepts it, retried with backoff, marked sent exactly once. service_role only.';

create trigger plans_touch_updated_at before update on app.plans
  for each row execute function app.touch_updated_at();
create trigger subscriptions_touch_updated_at before update on app.subscriptions
  for each row execute function app.touch_updated_at();
create trigger billing_accounts_touch_updated_at before update on app.billing_accounts
  for each row execute function app.touch_updated_at();
create trigger plans_audit after insert or update or delete on app.plans
  for each row execute function app.audit_change('plan', 'key', 'tenant_id');
create trigger subscriptions_audit after update or delete on app.subscriptions
  for each row execute function app.audit_change('subscription', 'tenant_id', 'tenant_id');

alter table app.plans enable row level security;
alter table app.plans force row level security;
alter table app.subscriptions enable row level security;
alter table app.subscriptions force row level security;
alter table app.billing_accounts enable row level security;
alter table app.billing_accounts force row level security;
alter table app.stripe_events enable row level security;
alter table app.stripe_events force row level security;
alter table app.meter_reports enable row level security;
alter table app.meter_reports force row level security;

-- Signed-in users read a tenant's plan and state directly (RLS); plans, payment data,
-- processed events and meter reports only through the api (no grant, no policy):
-- api.list_plans and api.get_billing decide who sees what.
create policy "members can read their tenant's plan and subscription state" on app.subscriptions
  for select to authenticated
  using (app.can_read(tenant_id));

grant select on app.subscriptions to authenticated;
grant select, insert, update, delete on app.plans, app.subscriptions, app.billing_accounts, app.stripe_events,
  app.meter_reports to service_role;

insert into app.plans (key, name, description, included_agents, monthly_messages, monthly_tokens, channels, trial_days,
  price_per_agent_cents, price_per_1k_tokens_cents, is_public, sort_order)
values
  ('free', 'Free', 'Try Konstruct: two agents, every channel, a small monthly allowance.',
   2, 1000, 1000000, array['web_chat', 'slack', 'whatsapp'], 0, 0, 0, true, 0),
  ('starter', 'Starter', 'For a small team: web chat and Slack, per agent, plus what your agents use.',
   1, 5000, 5000000, array['web_chat', 'slack'], 14, 2900, 0.2, true, 1),
  ('team', 'Team', 'Every channel including WhatsApp, more messages and tokens, per agent plus usage.',
   3, 25000, 25000000, array['web_chat', 'slack', 'whatsapp'], 14, 4900, 0.15, true, 2);

-- Every tenant has a subscription row from the start (state none: the default plan),
-- so members always read one and the webhook only ever updates.
create function app.create_tenant_subscription()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into app.subscriptions (tenant_id, plan_key)
  select new.id, coalesce((select p.key from app.plans p
    where p.key = (select nullif(btrim(s.value), '') from app.settings s where s.key = 'billing_default_plan')), 'free')
  on conflict (tenant_id) do nothing;
  return null;
end
$$;
comment on function app.create_tenant_subscription() is 'After-insert trigger on tenants: the tenant''s subscription row in state none on the default plan.';

create trigger tenants_create_subscription after insert on app.tenants
  for each row execute function app.create_tenant_subscription();

insert into app.subscriptions (tenant_id, plan_key)
select t.id, 'free' from app.tenants t
on conflict (tenant_id) do nothing;

-- Settings -------------------------------------------------------------------------------------

create function app.billing_setting(key text)
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select nullif(btrim(s.value), '') from app.settings s where s.key = billing_setting.key
$$;
comment on function app.billing_setting(text) is 'A billing setting from app.settings (billing_default_plan, billing_grace_period), or null. Definer: app.settings is closed to signed-in users.';

create function app.billing_grace_period()
returns interval
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce(app.billing_setting('billing_grace_period'), '7 days')::interval;
exception when others then
  return interval '7 days';
end
$$;
comment on function app.billing_grace_period() is 'How long a past_due tenant keeps working after its payment failed: app.settings billing_grace_period, 7 days by default.';

-- State and usage ------------------------------------------------------------------------------

create function app.billing_status_rank(status text)
returns smallint
language sql
immutable
set search_path = ''
as $$
  select (case status when 'none' then 0 when 'trialing' then 1 when 'active' then 2 when 'past_due' then 3
    when 'unpaid' then 4 when 'canceled' then 5 else 0 end)::smallint
$$;
comment on function app.billing_status_rank(text) is 'Tie-break of the version guard for two Stripe events of the same second: the later lifecycle state wins, whatever order they arrive in.';

create function app.billing_state(tenant_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  sub app.subscriptions;
  plan app.plans;
  status text;
  plan_key text;
  paused boolean := false;
  pause_reason text;
  grace_ends timestamptz;
begin
  select * into sub from app.subscriptions s where s.tenant_id = billing_state.tenant_id;
  status := coalesce(sub.status, 'none');
  plan_key := case when status = 'none' then coalesce(app.billing_setting('billing_default_plan'), 'free')
    else sub.plan_key end;
  select * into plan from app.plans p where p.key = plan_key;
  if status = 'past_due' then
    grace_ends := coalesce(sub.past_due_since, sub.updated_at) + app.billing_grace_period();
    if grace_ends <= now() then
      paused := true;
      pause_reason := 'payment_overdue';
    end if;
  elsif status in ('canceled', 'unpaid') then
    paused := true;
    pause_reason := status;
  end if;
  -- An unknown plan limits nothing: never cut a tenant off because of a configuration slip.
  return jsonb_build_object(
    'tenant_id', billing_state.tenant_id,
    'status', status,
    'plan_key', plan_key,
    'plan_name', coalesce(plan.name, plan_key),
    'agent_limit', case when plan.included_agents is null then null
      else greatest(plan.included_agents,
        case when status in ('trialing', 'active', 'past_due') then coalesce(sub.quantity, 0) else 0 end) end,
    'monthly_messages', plan.monthly_messages,
    'monthly_tokens', plan.monthly_tokens,
    'channels', to_jsonb(coalesce(plan.channels, array['web_chat', 'slack', 'whatsapp'])),
    'quantity', coalesce(sub.quantity, 0),
    'trial_ends_at', sub.trial_ends_at,
    'current_period_end', sub.current_period_end,
    'cancel_at_period_end', coalesce(sub.cancel_at_period_end, false),
    'past_due_since', sub.past_due_since,
    'grace_ends_at', grace_ends,
    'paused', paused,
    'pause_reason', pause_reason
  );
end
$$;
comment on function app.billing_state(uuid) is 'The billing state a tenant is held to: status, plan (the default plan without a subscription), agent limit (plan''s included agents or the agents paid for), monthly messages and tokens, channels, and whether its agents are paused (canceled, unpaid, or past_due beyond the grace period). Definer: used by triggers and service functions alike.';

create function app.billing_usage(tenant_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  period timestamptz := app.usage_period(now());
  used app.tenant_usage;
begin
  -- plpgsql, not sql: its plans are kept for the session (it runs on every inbound message).
  select * into used from app.tenant_usage u where u.tenant_id = billing_usage.tenant_id and u.period_start = period;
  return jsonb_build_object(
    'period_start', period,
    'agents', (select count(*) from app.agents a where a.tenant_id = billing_usage.tenant_id),
    'messages', coalesce(used.messages, 0),
    'tokens', coalesce(used.tokens, 0));
end
$$;
comment on function app.billing_usage(uuid) is 'What a tenant used this calendar month (UTC), from its counters (app.tenant_usage): inbound messages admitted by the rate limit (test conversations excluded), model tokens, and its agents. Definer: used by triggers and service functions alike.';

create function app.billing_refusal(tenant_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  state jsonb := app.billing_state(billing_refusal.tenant_id);
  usage jsonb;
begin
  -- Suspended by a platform admin (api.suspend_tenant): a polite notice instead of an answer.
  if exists (select 1 from app.tenants t where t.id = billing_refusal.tenant_id and t.suspended_at is not null) then
    return jsonb_build_object('reason', 'suspended', 'message',
      'Sorry, this assistant is not available right now. The team will get back to you here.');
  end if;
  if (state ->> 'paused')::boolean then
    return jsonb_build_object('reason', 'paused', 'pause_reason', state ->> 'pause_reason', 'message', null);
  end if;
  if state ->> 'monthly_messages' is null and state ->> 'monthly_tokens' is null then
    return null;
  end if;
  usage := app.billing_usage(billing_refusal.tenant_id);
  -- The message being answered is already counted (app.answer_inbound counts an admitted one first).
  if (usage ->> 'messages')::bigint > (state ->> 'monthly_messages')::bigint then
    return jsonb_build_object('reason', 'monthly_messages', 'used', (usage ->> 'messages')::bigint,
      'limit', (state ->> 'monthly_messages')::bigint, 'plan_key', state ->> 'plan_key', 'message', app.plan_limit_text());
  end if;
  if (usage ->> 'tokens')::bigint >= (state ->> 'monthly_tokens')::bigint then
    return jsonb_build_object('reason', 'monthly_tokens', 'used', (usage ->> 'tokens')::bigint,
      'limit', (state ->> 'monthly_tokens')::bigint, 'plan_key', state ->> 'plan_key', 'message', app.plan_limit_text());
  end if;
  return null;
end
$$;
comment on function app.billing_refusal(uuid) is 'Null when the tenant''s agents may answer now; else why not: {reason: suspended, message} (a platform admin suspended the tenant), {reason: paused} (silent) or {reason: monthly_messages|monthly_tokens, used, limit, message} (the polite text for the channel).';

create function app.plan_limit_text()
returns text
language sql
immutable
set search_path = ''
as $$
  select 'Sorry, I can''t answer right now because this workspace has used everything its plan includes for this month. '
    || 'I''ve let the team know, and someone will get back to you here.'
$$;
comment on function app.plan_limit_text() is 'What a chat user reads instead of an answer when the tenant is over its monthly messages or tokens.';

create function app.alert_once(tenant_id uuid, kind text, since timestamptz, details jsonb default '{}'::jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from app.audit_log l where l.tenant_id = alert_once.tenant_id
             and l.action = 'alert.' || alert_once.kind and l.created_at >= alert_once.since) then
    return false;
  end if;
  perform app.write_audit(alert_once.tenant_id, 'alert.' || alert_once.kind, 'billing', alert_once.tenant_id::text,
    coalesce(alert_once.details, '{}'::jsonb));
  return true;
end
$$;
comment on function app.alert_once(uuid, text, timestamptz, jsonb) is 'Writes the portal alert alert.<kind> for a tenant unless one was written since `since` (e.g. once a month per limit), so a busy channel does not flood the admins.';

-- Enforcement: agents and channels ---------------------------------------------------------------

create function app.enforce_agent_limit()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  state jsonb;
  agent_limit integer;
  agent_count integer;
begin
  -- Two admins hiring at once must not both squeeze past the limit.
  perform pg_advisory_xact_lock(hashtext('konstruct.agents:' || new.tenant_id::text));
  state := app.billing_state(new.tenant_id);
  agent_limit := (state ->> 'agent_limit')::integer;
  if agent_limit is null then
    return new;
  end if;
  select count(*) into agent_count from app.agents a where a.tenant_id = new.tenant_id;
  if agent_count >= agent_limit then
    raise exception 'Your % plan includes % agent%. Upgrade your plan or add agents on the billing page to hire another.',
      state ->> 'plan_name', agent_limit, case when agent_limit = 1 then '' else 's' end
      using errcode = 'KO010', hint = 'billing:agent_limit',
        detail = format('agents=%s limit=%s plan=%s', agent_count, agent_limit, state ->> 'plan_key');
  end if;
  return new;
end
$$;
comment on function app.enforce_agent_limit() is 'Before-insert trigger on agents: refuses (KO010, a sentence the portal shows) an agent beyond the plan''s limit (included agents, or the agents paid for).';

create trigger agents_enforce_plan_limit before insert on app.agents
  for each row execute function app.enforce_agent_limit();

create function app.enforce_channel_kind()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  state jsonb := app.billing_state(new.tenant_id);
begin
  if not (state -> 'channels') ? new.kind then
    raise exception 'Your % plan does not include % channels. Upgrade your plan on the billing page to connect one.',
      state ->> 'plan_name', case new.kind when 'web_chat' then 'web chat' when 'whatsapp' then 'WhatsApp' else 'Slack' end
      using errcode = 'KO011', hint = 'billing:channel_not_in_plan';
  end if;
  return new;
end
$$;
comment on function app.enforce_channel_kind() is 'Before-insert trigger on channel connections: refuses (KO011) a channel kind the plan does not include.';

create trigger channel_connections_enforce_plan before insert on app.channel_connections
  for each row execute function app.enforce_channel_kind();

-- Usage-based charges: one meter report per usage record of a billed tenant -----------------------

create function app.queue_meter_report()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  customer text;
begin
  if new.input_tokens + new.output_tokens <= 0 then
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
comment on function app.queue_meter_report() is 'After-insert trigger on usage_events: a tenant with a Stripe customer and a live subscription gets one pending meter report (identifier konstruct-usage-<id>) for the tokens of the record.';

create trigger usage_events_queue_meter_report after insert on app.usage_events
  for each row execute function app.queue_meter_report();

revoke all on function app.billing_setting(text), app.billing_grace_period(), app.billing_status_rank(text),
  app.billing_state(uuid), app.billing_usage(uuid), app.billing_refusal(uuid), app.plan_limit_text(),
  app.alert_once(uuid, text, timestamptz, jsonb), app.enforce_agent_limit(), app.enforce_channel_kind(),
  app.queue_meter_report(), app.create_tenant_subscription()
  from public, anon, authenticated;
-- The billing state of a tenant is read by definers (triggers, api.get_billing, ingest) that
-- check the caller first; a signed-in user may not ask for any tenant's state directly.
grant execute on function app.billing_setting(text), app.billing_grace_period(), app.billing_status_rank(text),
  app.plan_limit_text()
  to authenticated, service_role;
grant execute on function app.billing_state(uuid), app.billing_usage(uuid), app.billing_refusal(uuid) to service_role;
grant execute on function app.alert_once(uuid, text, timestamptz, jsonb) to service_role;
