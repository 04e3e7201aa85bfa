-- Billing: the plans, the Stripe subscription of each tenant, and the entitlements the
-- platform enforces from them.
--
-- Usage is counted in app.tenant_usage and app.agent_usage (the usage file).
-- app.usage_from_history says what those counters should hold, from the raw rows (the
-- inbound messages of non-test conversations the rate limit admitted, the tokens and cost
-- of usage_events, per UTC month); app.reconcile_usage_counters rewrites them (after a
-- bulk import, or to repair), taking a lock that waits for writers in flight.
--
-- Plans are rows (price ids, included agents, monthly messages and tokens, channels, trial
-- length), so a platform admin changes an offer without a deploy; null means unlimited. A
-- tenant's plan and state come from its row in app.subscriptions, which only the Stripe
-- webhook (service_role) writes; a tenant with no row (or state none) gets the default
-- plan (app.settings billing_default_plan, 'free' unless changed). Payment data lives
-- apart in app.billing_accounts, which users never read directly: api.get_billing shows it
-- to owners and admins only.
--
-- Entitlements, enforced here so every path obeys them:
--   * creating an agent beyond the plan raises KO010, connecting a channel kind the plan
--     does not include raises KO011 (clear text the portal shows as is);
--   * a message that arrives when the tenant is over its monthly messages or tokens gets a
--     polite system answer and the admins an alert, instead of a reply job
--     (app.billing_refusal, applied by app.answer_inbound);
--   * past_due keeps working for a grace period (app.settings billing_grace_period,
--     '7 days' by default) counted from when the payment first failed, then the agents are
--     paused; canceled and unpaid pause them at once; paying again resumes them. Paused is
--     computed from the state, never written onto the agents;
--   * the worker asks again right before its model call (api.check_entitlement); when that
--     refuses, api.enforce_reply_entitlement does what ingest would have done, counting
--     messages as of the message being answered (app.reply_jobs.plan_messages).
--
-- The api:
--   portal (authenticated)   list_plans, get_billing (payment data for owners/admins only),
--                            prepare_checkout, prepare_billing_portal (owners/admins),
--                            usage_summary
--   platform admins          upsert_plan, set_billing_settings (also service_role, for scripts/stripe-setup.ts)
--   service_role             save_stripe_customer, apply_stripe_event, check_entitlement,
--                            enforce_reply_entitlement, record_usage, claim_meter_reports,
--                            complete_meter_reports, fail_meter_reports
-- apply_stripe_event takes an event already verified and reduced to what matters by
-- shared/billing/stripe-events.ts. It is idempotent by event id and converges whatever the
-- order: a subscription state is applied only when its (event time, state rank) is at
-- least the stored one's, so the latest state Stripe sent wins and an older event is
-- recorded as stale. Events of customers this platform did not create change nothing and
-- are not recorded. Metered usage reaches Stripe through app.meter_reports, drained by the
-- stripe-meter function on a pg_cron schedule (app.schedule_stripe_meter).

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
alter table app.plans enable row level security;
alter table app.plans force row level security;
grant select, insert, update, delete on app.plans to service_role;
insert into app.plans (key, name, description, included_agents, monthly_messages, monthly_tokens, channels, trial_days,
  price_per_agent_cents, price_per_1k_tokens_cents, is_public, sort_order)
values
  ('free', 'Free', 'Try Konstruct: two agents, every channel, a small monthly allowance.',
   2, 1000, 1000000, array['web_chat', 'slack', 'whatsapp'], 0, 0, 0, true, 0),
  ('starter', 'Starter', 'For a small team: web chat and Slack, per agent, plus what your agents use.',
   1, 5000, 5000000, array['web_chat', 'slack'], 14, 2900, 0.2, true, 1),
  ('team', 'Team', 'Every channel including WhatsApp, more messages and tokens, per agent plus usage.',
   3, 25000, 25000000, array['web_chat', 'slack', 'whatsapp'], 14, 4900, 0.15, true, 2);
create trigger plans_touch_updated_at before update on app.plans
  for each row execute function app.touch_updated_at();
create trigger plans_audit after insert or update or delete on app.plans
  for each row execute function app.audit_change('plan', 'key', 'tenant_id');

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
alter table app.subscriptions enable row level security;
alter table app.subscriptions force row level security;
-- Signed-in users read a tenant's plan and state directly (RLS); plans, payment data,
-- processed events and meter reports only through the api (no grant, no policy):
-- api.list_plans and api.get_billing decide who sees what.
create policy "members can read their tenant's plan and subscription state" on app.subscriptions
  for select to authenticated
  using (app.can_read(tenant_id));
grant select on app.subscriptions to authenticated;
grant select, insert, update, delete on app.subscriptions to service_role;
create trigger subscriptions_touch_updated_at before update on app.subscriptions
  for each row execute function app.touch_updated_at();
create trigger subscriptions_audit after update or delete on app.subscriptions
  for each row execute function app.audit_change('subscription', 'tenant_id', 'tenant_id');

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
alter table app.billing_accounts enable row level security;
alter table app.billing_accounts force row level security;
grant select, insert, update, delete on app.billing_accounts to service_role;
create trigger billing_accounts_touch_updated_at before update on app.billing_accounts
  for each row execute function app.touch_updated_at();

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
alter table app.stripe_events enable row level security;
alter table app.stripe_events force row level security;
grant select, insert, update, delete on app.stripe_events to service_role;

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
alter table app.meter_reports enable row level security;
alter table app.meter_reports force row level security;
grant select, insert, update, delete on app.meter_reports to service_role;

create function api.usage_summary(tenant_id uuid, group_by text default 'day',
  from_time timestamptz default date_trunc('month', now()), to_time timestamptz default null)
returns table (bucket text, label text, input_tokens bigint, output_tokens bigint, total_tokens bigint,
  cost_usd numeric, event_count bigint)
language plpgsql
set search_path = ''
as $$
begin
  perform app.require_read(usage_summary.tenant_id, 'usage');
  if usage_summary.group_by not in ('day', 'agent', 'channel', 'model') then
    raise exception 'group_by must be day, agent, channel or model' using errcode = '22023';
  end if;
  return query
    select g.bucket, g.label, sum(g.input_tokens)::bigint, sum(g.output_tokens)::bigint,
      sum(g.input_tokens + g.output_tokens)::bigint, sum(g.cost_usd), count(*)::bigint
    from (
      select
        case usage_summary.group_by
          when 'day' then to_char((u.occurred_at at time zone 'UTC')::date, 'YYYY-MM-DD')
          when 'agent' then coalesce(u.agent_id::text, 'none')
          when 'channel' then coalesce(u.channel, 'none')
          else coalesce(u.model, 'none')
        end as bucket,
        case usage_summary.group_by
          when 'day' then to_char((u.occurred_at at time zone 'UTC')::date, 'YYYY-MM-DD')
          when 'agent' then coalesce((select a.name from app.agents a where a.id = u.agent_id), 'deleted or no agent')
          when 'channel' then coalesce(u.channel, 'none')
          else coalesce(u.model, 'none')
        end as label,
        u.input_tokens, u.output_tokens, u.cost_usd
      from app.usage_events u
      where u.tenant_id = usage_summary.tenant_id
        and u.occurred_at >= coalesce(usage_summary.from_time, '-infinity'::timestamptz)
        and u.occurred_at < coalesce(usage_summary.to_time, 'infinity'::timestamptz)
    ) g
    group by g.bucket, g.label
    order by g.bucket;
end
$$;
comment on function api.usage_summary(uuid, text, timestamptz, timestamptz) is 'Tokens, cost and event count of a tenant grouped by day (UTC), agent, channel or model, between from_time (default: start of this month) and to_time (default: now). Any member.';
revoke all on function api.usage_summary(uuid, text, timestamptz, timestamptz) from public, anon;
grant execute on function api.usage_summary(uuid, text, timestamptz, timestamptz) to authenticated;

create function api.record_usage(tenant_id uuid, model text, input_tokens bigint, output_tokens bigint,
  cost_usd numeric default 0, agent_id uuid default null, conversation_id uuid default null, kind text default 'chat',
  idempotency_key text default null, metadata jsonb default '{}'::jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations;
  new_id bigint;
begin
  if record_usage.conversation_id is not null then
    conv := app.require_conversation_of_tenant(record_usage.tenant_id, record_usage.conversation_id);
  end if;
  if record_usage.agent_id is not null and not exists (
    select 1 from app.agents a where a.id = record_usage.agent_id and a.tenant_id = record_usage.tenant_id
  ) then
    raise exception 'agent does not belong to tenant' using errcode = '42501';
  end if;
  insert into app.usage_events (tenant_id, agent_id, conversation_id, connection_id, channel, kind, model, input_tokens,
    output_tokens, cost_usd, idempotency_key, metadata)
  values (record_usage.tenant_id, coalesce(record_usage.agent_id, conv.agent_id), conv.id, conv.connection_id,
    conv.channel, coalesce(record_usage.kind, 'chat'), record_usage.model, coalesce(record_usage.input_tokens, 0),
    coalesce(record_usage.output_tokens, 0), coalesce(record_usage.cost_usd, 0), record_usage.idempotency_key,
    coalesce(record_usage.metadata, '{}'::jsonb))
  on conflict on constraint usage_events_idempotency_key_key do nothing
  returning id into new_id;
  if new_id is null then
    return jsonb_build_object('usage_event_id',
      (select u.id from app.usage_events u where u.idempotency_key = record_usage.idempotency_key), 'duplicate', true);
  end if;
  return jsonb_build_object('usage_event_id', new_id, 'duplicate', false);
end
$$;
comment on function api.record_usage(uuid, text, bigint, bigint, numeric, uuid, uuid, text, text, jsonb) is 'Meters one model call (or embedding): tokens and cost per agent, conversation, channel and tenant; idempotent by idempotency_key. service_role.';
revoke all on function api.record_usage(uuid, text, bigint, bigint, numeric, uuid, uuid, text, text, jsonb) from public, anon;
grant execute on function api.record_usage(uuid, text, bigint, bigint, numeric, uuid, uuid, text, text, jsonb) to service_role;

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
revoke all on function app.create_tenant_subscription() from public, anon, authenticated;
create trigger tenants_create_subscription after insert on app.tenants
  for each row execute function app.create_tenant_subscription();

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
revoke all on function app.billing_setting(text) from public, anon, authenticated;
-- The billing state of a tenant is read by definers (triggers, api.get_billing, ingest) that
-- check the caller first; a signed-in user may not ask for any tenant's state directly.
grant execute on function app.billing_setting(text) to authenticated, service_role;

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
revoke all on function app.billing_grace_period() from public, anon, authenticated;
grant execute on function app.billing_grace_period() to authenticated, service_role;

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
revoke all on function app.billing_status_rank(text) from public, anon, authenticated;
grant execute on function app.billing_status_rank(text) to authenticated, service_role;

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
revoke all on function app.billing_state(uuid) from public, anon, authenticated;
grant execute on function app.billing_state(uuid) to service_role;

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
revoke all on function app.billing_usage(uuid) from public, anon, authenticated;
grant execute on function app.billing_usage(uuid) to service_role;

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
revoke all on function app.billing_refusal(uuid) from public, anon, authenticated;
grant execute on function app.billing_refusal(uuid) to service_role;

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
revoke all on function app.plan_limit_text() from public, anon, authenticated;
grant execute on function app.plan_limit_text() to authenticated, service_role;

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
revoke all on function app.enforce_agent_limit() from public, anon, authenticated;
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
revoke all on function app.enforce_channel_kind() from public, anon, authenticated;
create trigger channel_connections_enforce_plan before insert on app.channel_connections
  for each row execute function app.enforce_channel_kind();

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
revoke all on function app.queue_meter_report() from public, anon, authenticated;
create trigger usage_events_queue_meter_report after insert on app.usage_events
  for each row execute function app.queue_meter_report();

create function api.list_plans()
returns table (key text, name text, description text, included_agents integer, monthly_messages bigint,
  monthly_tokens bigint, channels text[], trial_days integer, currency text, price_per_agent_cents integer,
  price_per_1k_tokens_cents numeric, stripe_product_id text, stripe_price_id text, stripe_metered_price_id text,
  tenant_id uuid, is_public boolean, active boolean, sort_order integer, purchasable boolean)
language sql
stable
security definer
set search_path = ''
as $$
  select p.key, p.name, p.description, p.included_agents, p.monthly_messages, p.monthly_tokens, p.channels,
    p.trial_days, p.currency, p.price_per_agent_cents, p.price_per_1k_tokens_cents, p.stripe_product_id,
    p.stripe_price_id, p.stripe_metered_price_id, p.tenant_id, p.is_public, p.active, p.sort_order,
    p.active and p.stripe_price_id is not null
  from app.plans p
  where (select auth.role()) = 'service_role'
     or (p.active and ((p.is_public and p.tenant_id is null) or (p.tenant_id is not null and app.can_read(p.tenant_id))))
  order by p.sort_order, p.key
$$;
comment on function api.list_plans() is 'The plans a signed-in user may see (active public plans and their tenants'' private ones; service_role sees all), with limits, prices and whether they can be bought (a Stripe price is configured). Definer: plans are read only through here.';
revoke all on function api.list_plans() from public, anon, authenticated;
grant execute on function api.list_plans() to authenticated;
grant execute on function api.list_plans() to service_role;

create function api.upsert_plan(plan jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  unknown text;
  saved app.plans;
  plan_key text := upsert_plan.plan ->> 'key';
begin
  if not (app.is_platform_admin() or (select auth.role()) = 'service_role') then
    raise exception 'platform admins only' using errcode = '42501';
  end if;
  if jsonb_typeof(upsert_plan.plan) is distinct from 'object' or coalesce(plan_key, '') = '' then
    raise exception 'plan must be an object with a key' using errcode = '22023';
  end if;
  select k into unknown from jsonb_object_keys(upsert_plan.plan) k
  where k not in ('key', 'tenant_id', 'name', 'description', 'stripe_product_id', 'stripe_price_id',
    'stripe_metered_price_id', 'included_agents', 'monthly_messages', 'monthly_tokens', 'channels', 'trial_days',
    'currency', 'price_per_agent_cents', 'price_per_1k_tokens_cents', 'is_public', 'active', 'sort_order')
  limit 1;
  if unknown is not null then
    raise exception 'unknown plan field %', unknown using errcode = '22023';
  end if;
  insert into app.plans as p (key, name) values (plan_key, coalesce(upsert_plan.plan ->> 'name', plan_key))
  on conflict (key) do nothing;
  update app.plans p set
    tenant_id = case when upsert_plan.plan ? 'tenant_id' then (upsert_plan.plan ->> 'tenant_id')::uuid else p.tenant_id end,
    name = coalesce(upsert_plan.plan ->> 'name', p.name),
    description = case when upsert_plan.plan ? 'description' then coalesce(upsert_plan.plan ->> 'description', '') else p.description end,
    stripe_product_id = case when upsert_plan.plan ? 'stripe_product_id' then upsert_plan.plan ->> 'stripe_product_id' else p.stripe_product_id end,
    stripe_price_id = case when upsert_plan.plan ? 'stripe_price_id' then upsert_plan.plan ->> 'stripe_price_id' else p.stripe_price_id end,
    stripe_metered_price_id = case when upsert_plan.plan ? 'stripe_metered_price_id'
      then upsert_plan.plan ->> 'stripe_metered_price_id' else p.stripe_metered_price_id end,
    included_agents = case when upsert_plan.plan ? 'included_agents' then (upsert_plan.plan ->> 'included_agents')::integer else p.included_agents end,
    monthly_messages = case when upsert_plan.plan ? 'monthly_messages' then (upsert_plan.plan ->> 'monthly_messages')::bigint else p.monthly_messages end,
    monthly_tokens = case when upsert_plan.plan ? 'monthly_tokens' then (upsert_plan.plan ->> 'monthly_tokens')::bigint else p.monthly_tokens end,
    channels = case when upsert_plan.plan ? 'channels'
      then array(select jsonb_array_elements_text(upsert_plan.plan -> 'channels')) else p.channels end,
    trial_days = coalesce((upsert_plan.plan ->> 'trial_days')::integer, p.trial_days),
    currency = coalesce(upsert_plan.plan ->> 'currency', p.currency),
    price_per_agent_cents = coalesce((upsert_plan.plan ->> 'price_per_agent_cents')::integer, p.price_per_agent_cents),
    price_per_1k_tokens_cents = coalesce((upsert_plan.plan ->> 'price_per_1k_tokens_cents')::numeric, p.price_per_1k_tokens_cents),
    is_public = coalesce((upsert_plan.plan ->> 'is_public')::boolean, p.is_public),
    active = coalesce((upsert_plan.plan ->> 'active')::boolean, p.active),
    sort_order = coalesce((upsert_plan.plan ->> 'sort_order')::integer, p.sort_order)
  where p.key = plan_key
  returning * into saved;
  return to_jsonb(saved);
exception
  when invalid_text_representation or numeric_value_out_of_range or check_violation or datetime_field_overflow then
    raise exception 'invalid plan: %', sqlerrm using errcode = '22023';
end
$$;
comment on function api.upsert_plan(jsonb) is 'Creates or changes a plan by key (any of: name, description, stripe_product_id, stripe_price_id, stripe_metered_price_id, included_agents, monthly_messages, monthly_tokens (null = unlimited), channels, trial_days, currency, price_per_agent_cents, price_per_1k_tokens_cents, is_public, active, sort_order, tenant_id). Platform admins and service_role; audited. Definer because plans are read-only to signed-in users.';
revoke all on function api.upsert_plan(jsonb) from public, anon, authenticated;
grant execute on function api.upsert_plan(jsonb) to authenticated;
grant execute on function api.upsert_plan(jsonb) to service_role;

create function api.set_billing_settings(default_plan text default null, grace_period interval default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not (app.is_platform_admin() or (select auth.role()) = 'service_role') then
    raise exception 'platform admins only' using errcode = '42501';
  end if;
  if set_billing_settings.default_plan is not null then
    if not exists (select 1 from app.plans p where p.key = set_billing_settings.default_plan and p.tenant_id is null) then
      raise exception 'unknown plan %', set_billing_settings.default_plan using errcode = 'P0002';
    end if;
    insert into app.settings (key, value) values ('billing_default_plan', set_billing_settings.default_plan)
    on conflict (key) do update set value = excluded.value, updated_at = now();
  end if;
  if set_billing_settings.grace_period is not null then
    if set_billing_settings.grace_period < interval '0' then
      raise exception 'the grace period cannot be negative' using errcode = '22023';
    end if;
    insert into app.settings (key, value) values ('billing_grace_period', set_billing_settings.grace_period::text)
    on conflict (key) do update set value = excluded.value, updated_at = now();
  end if;
  perform app.write_audit(null, 'billing.settings_changed', 'platform', null,
    jsonb_build_object('default_plan', set_billing_settings.default_plan, 'grace_period', set_billing_settings.grace_period::text));
  return jsonb_build_object('default_plan', coalesce(app.billing_setting('billing_default_plan'), 'free'),
    'grace_period', app.billing_grace_period()::text);
end
$$;
comment on function api.set_billing_settings(text, interval) is 'Sets the plan of tenants without a subscription (default free) and the past_due grace period (default 7 days); null leaves a setting as it is. Platform admins and service_role; audited. Definer: app.settings is closed to signed-in users.';
revoke all on function api.set_billing_settings(text, interval) from public, anon, authenticated;
grant execute on function api.set_billing_settings(text, interval) to authenticated;
grant execute on function api.set_billing_settings(text, interval) to service_role;

create function api.get_billing(tenant_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  state jsonb;
  usage jsonb;
  plan jsonb;
  payment jsonb;
  is_admin boolean := app.is_member(get_billing.tenant_id, 'admin');
begin
  perform app.require_read(get_billing.tenant_id, 'billing');
  state := app.billing_state(get_billing.tenant_id);
  usage := app.billing_usage(get_billing.tenant_id);
  select jsonb_build_object('key', p.key, 'name', p.name, 'description', p.description,
      'included_agents', p.included_agents, 'monthly_messages', p.monthly_messages, 'monthly_tokens', p.monthly_tokens,
      'channels', p.channels, 'trial_days', p.trial_days, 'currency', p.currency,
      'price_per_agent_cents', p.price_per_agent_cents, 'price_per_1k_tokens_cents', p.price_per_1k_tokens_cents)
    into plan
  from app.plans p where p.key = state ->> 'plan_key';
  -- Payment data only for owners and admins (RLS on billing_accounts says the same).
  if is_admin then
    select jsonb_build_object('has_customer', true, 'billing_email', b.billing_email,
        'payment_failed_at', b.payment_failed_at, 'latest_invoice', case when b.latest_invoice_id is null then null
          else jsonb_build_object('id', b.latest_invoice_id, 'status', b.latest_invoice_status,
            'url', b.latest_invoice_url, 'amount_due', b.latest_invoice_amount_due,
            'currency', b.latest_invoice_currency) end)
      into payment
    from app.billing_accounts b where b.tenant_id = get_billing.tenant_id;
    payment := coalesce(payment, jsonb_build_object('has_customer', false, 'billing_email', null,
      'payment_failed_at', null, 'latest_invoice', null));
  end if;
  return jsonb_build_object(
    'tenant_id', get_billing.tenant_id,
    'status', state ->> 'status',
    'plan', plan,
    'paused', state -> 'paused',
    'pause_reason', state -> 'pause_reason',
    'trial_ends_at', state -> 'trial_ends_at',
    'trial_days_left', case when state ->> 'status' = 'trialing' and state ->> 'trial_ends_at' is not null
      then greatest(0, ceil(extract(epoch from ((state ->> 'trial_ends_at')::timestamptz - now())) / 86400))::integer end,
    'current_period_end', state -> 'current_period_end',
    'cancel_at_period_end', state -> 'cancel_at_period_end',
    'past_due_since', state -> 'past_due_since',
    'grace_ends_at', state -> 'grace_ends_at',
    'quantity', state -> 'quantity',
    'limits', jsonb_build_object('agents', state -> 'agent_limit', 'monthly_messages', state -> 'monthly_messages',
      'monthly_tokens', state -> 'monthly_tokens', 'channels', state -> 'channels'),
    'usage', usage,
    'can_manage', is_admin,
    'payment', payment
  );
end
$$;
comment on function api.get_billing(uuid) is 'The billing page of a tenant: status, plan, trial days left, grace period, whether agents are paused, limits and this month''s usage. payment (Stripe customer present, billing email, failed payment, latest invoice) is included for owners and admins only, null for operators. Any member; platform admins (audited). Definer: payment data is read only through here, after the role check.';
revoke all on function api.get_billing(uuid) from public, anon, authenticated;
grant execute on function api.get_billing(uuid) to authenticated;

create function api.prepare_checkout(tenant_id uuid, plan_key text, quantity integer default 1)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  plan app.plans;
  account app.billing_accounts;
  tenant app.tenants;
begin
  perform app.require_role(prepare_checkout.tenant_id, 'admin');
  select * into plan from app.plans p
  where p.key = prepare_checkout.plan_key and p.active
    and (p.tenant_id is null or p.tenant_id = prepare_checkout.tenant_id);
  if not found then
    raise exception 'unknown plan %', prepare_checkout.plan_key using errcode = 'P0002';
  end if;
  if plan.stripe_price_id is null then
    raise exception 'plan % has no Stripe price yet (run npm run stripe:setup)', plan.key using errcode = '22023';
  end if;
  if prepare_checkout.quantity is null or prepare_checkout.quantity < 1 or prepare_checkout.quantity > 500 then
    raise exception 'quantity must be between 1 and 500 agents' using errcode = '22023';
  end if;
  select * into tenant from app.tenants t where t.id = prepare_checkout.tenant_id;
  select * into account from app.billing_accounts b where b.tenant_id = prepare_checkout.tenant_id;
  return jsonb_build_object(
    'tenant_id', tenant.id, 'tenant_name', tenant.name, 'tenant_slug', tenant.slug,
    'customer_id', account.stripe_customer_id,
    'email', (select auth.jwt()) ->> 'email',
    'plan_key', plan.key, 'price_id', plan.stripe_price_id, 'metered_price_id', plan.stripe_metered_price_id,
    'quantity', greatest(prepare_checkout.quantity, coalesce(plan.included_agents, 0), 1),
    -- One trial per tenant: not after a subscription or a trial it already had.
    'trial_days', case when coalesce(account.trial_used, false)
        or exists (select 1 from app.subscriptions s where s.tenant_id = prepare_checkout.tenant_id and s.status <> 'none')
      then 0 else plan.trial_days end);
end
$$;
comment on function api.prepare_checkout(uuid, text, integer) is 'What the billing function needs to open a Stripe Checkout for a plan and a number of agents: the tenant, its Stripe customer (null until created), the plan''s price ids, the quantity (at least the plan''s included agents) and the trial days it is still entitled to. Owners and admins (checked first; definer to read the payment data).';
revoke all on function api.prepare_checkout(uuid, text, integer) from public, anon, authenticated;
grant execute on function api.prepare_checkout(uuid, text, integer) to authenticated;

create function api.prepare_billing_portal(tenant_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  account app.billing_accounts;
begin
  perform app.require_role(prepare_billing_portal.tenant_id, 'admin');
  select * into account from app.billing_accounts b where b.tenant_id = prepare_billing_portal.tenant_id;
  return jsonb_build_object('tenant_id', prepare_billing_portal.tenant_id,
    'tenant_slug', (select t.slug from app.tenants t where t.id = prepare_billing_portal.tenant_id),
    'customer_id', account.stripe_customer_id);
end
$$;
comment on function api.prepare_billing_portal(uuid) is 'The Stripe customer of a tenant (null before its first checkout), for a Billing Portal session (payment methods, invoices, cancel). Owners and admins (checked first; definer to read the payment data).';
revoke all on function api.prepare_billing_portal(uuid) from public, anon, authenticated;
grant execute on function api.prepare_billing_portal(uuid) to authenticated;

create function api.save_stripe_customer(tenant_id uuid, customer_id text, billing_email text default null)
returns text
language plpgsql
set search_path = ''
as $$
declare
  stored text;
begin
  if coalesce(save_stripe_customer.customer_id, '') !~ '^cus_[A-Za-z0-9]+$' then
    raise exception 'not a Stripe customer id' using errcode = '22023';
  end if;
  if not exists (select 1 from app.tenants t where t.id = save_stripe_customer.tenant_id) then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  insert into app.billing_accounts (tenant_id, stripe_customer_id, billing_email)
  values (save_stripe_customer.tenant_id, save_stripe_customer.customer_id, save_stripe_customer.billing_email)
  on conflict on constraint billing_accounts_pkey do nothing;
  select b.stripe_customer_id into stored from app.billing_accounts b where b.tenant_id = save_stripe_customer.tenant_id;
  if stored = save_stripe_customer.customer_id then
    perform app.write_audit(save_stripe_customer.tenant_id, 'billing.customer_created', 'billing',
      save_stripe_customer.tenant_id::text, '{}'::jsonb);
  end if;
  return stored;
end
$$;
comment on function api.save_stripe_customer(uuid, text, text) is 'Remembers the Stripe customer of a tenant; the first one stored wins and is returned (a concurrent second creation, deduplicated by Stripe''s idempotency key anyway, changes nothing). service_role.';
revoke all on function api.save_stripe_customer(uuid, text, text) from public, anon, authenticated;
grant execute on function api.save_stripe_customer(uuid, text, text) to service_role;

create function app.stripe_status(stripe_status text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case stripe_status
    when 'trialing' then 'trialing' when 'active' then 'active' when 'past_due' then 'past_due'
    when 'canceled' then 'canceled' when 'unpaid' then 'unpaid'
    -- A subscription paused for want of a payment method after its trial pays nothing.
    when 'paused' then 'unpaid'
    -- Checkout not finished or its first payment never made: as if there were none.
    else 'none' end
$$;
comment on function app.stripe_status(text) is 'Konstruct''s state for a Stripe subscription status: trialing, active, past_due, canceled, unpaid as they are; paused counts as unpaid; incomplete and incomplete_expired as none.';
revoke all on function app.stripe_status(text) from public, anon, authenticated;
grant execute on function app.stripe_status(text) to service_role;

create function app.to_timestamptz(unix_seconds jsonb)
returns timestamptz
language sql
immutable
set search_path = ''
as $$
  select case when unix_seconds is null or jsonb_typeof(unix_seconds) <> 'number' then null
    else to_timestamp((unix_seconds #>> '{}')::double precision) end
$$;
comment on function app.to_timestamptz(jsonb) is 'A Stripe Unix timestamp (JSON number) as timestamptz; null for null.';
revoke all on function app.to_timestamptz(jsonb) from public, anon, authenticated;
grant execute on function app.to_timestamptz(jsonb) to service_role;

create function app.apply_subscription_state(tenant_id uuid, version timestamptz, status text, stripe_status text,
  subscription_id text, plan_key text default null, quantity integer default null, trial_ends_at timestamptz default null,
  current_period_start timestamptz default null, current_period_end timestamptz default null,
  cancel_at_period_end boolean default null, canceled_at timestamptz default null, full_state boolean default true)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  sub app.subscriptions;
  account app.billing_accounts;
  incoming_rank smallint := app.billing_status_rank(apply_subscription_state.status);
  terminal boolean := apply_subscription_state.status in ('canceled', 'none');
begin
  select * into sub from app.subscriptions s where s.tenant_id = apply_subscription_state.tenant_id for update;
  select * into account from app.billing_accounts b where b.tenant_id = apply_subscription_state.tenant_id for update;
  -- The version guard: only a state at least as new as the stored one.
  if sub.state_version is not null and (apply_subscription_state.version < sub.state_version
      or (apply_subscription_state.version = sub.state_version and incoming_rank < sub.state_rank)) then
    return 'stale';
  end if;
  -- The end of another (older) subscription never ends the live one.
  if account.stripe_subscription_id is not null and apply_subscription_state.subscription_id is not null
     and account.stripe_subscription_id <> apply_subscription_state.subscription_id
     and terminal and coalesce(sub.status, 'none') not in ('none', 'canceled') then
    return 'ignored';
  end if;
  if sub.tenant_id is null then
    insert into app.subscriptions (tenant_id, plan_key, status, quantity, trial_ends_at, current_period_start,
      current_period_end, cancel_at_period_end, canceled_at, past_due_since, stripe_status, state_version, state_rank)
    values (apply_subscription_state.tenant_id,
      coalesce(apply_subscription_state.plan_key, app.billing_setting('billing_default_plan'), 'free'),
      apply_subscription_state.status, coalesce(apply_subscription_state.quantity, 0),
      apply_subscription_state.trial_ends_at, apply_subscription_state.current_period_start,
      apply_subscription_state.current_period_end, coalesce(apply_subscription_state.cancel_at_period_end, false),
      apply_subscription_state.canceled_at,
      case when apply_subscription_state.status = 'past_due' then apply_subscription_state.version end,
      apply_subscription_state.stripe_status, apply_subscription_state.version, incoming_rank);
  else
    update app.subscriptions s set
      status = apply_subscription_state.status,
      plan_key = coalesce(apply_subscription_state.plan_key, s.plan_key),
      quantity = case when apply_subscription_state.full_state then coalesce(apply_subscription_state.quantity, s.quantity) else s.quantity end,
      trial_ends_at = case when apply_subscription_state.full_state then apply_subscription_state.trial_ends_at else s.trial_ends_at end,
      current_period_start = case when apply_subscription_state.full_state then apply_subscription_state.current_period_start else s.current_period_start end,
      current_period_end = case when apply_subscription_state.full_state then apply_subscription_state.current_period_end else s.current_period_end end,
      cancel_at_period_end = case when apply_subscription_state.full_state then coalesce(apply_subscription_state.cancel_at_period_end, false) else s.cancel_at_period_end end,
      canceled_at = case when apply_subscription_state.full_state then apply_subscription_state.canceled_at else s.canceled_at end,
      -- The grace period counts from the first failure of this past_due stretch.
      past_due_since = case when apply_subscription_state.status <> 'past_due' then null
        when s.status = 'past_due' then least(s.past_due_since, apply_subscription_state.version)
        else apply_subscription_state.version end,
      stripe_status = coalesce(apply_subscription_state.stripe_status, s.stripe_status),
      state_version = apply_subscription_state.version,
      state_rank = incoming_rank
    where s.tenant_id = apply_subscription_state.tenant_id;
  end if;
  if apply_subscription_state.subscription_id is not null then
    update app.billing_accounts b set stripe_subscription_id = apply_subscription_state.subscription_id
    where b.tenant_id = apply_subscription_state.tenant_id
      and b.stripe_subscription_id is distinct from apply_subscription_state.subscription_id;
  end if;
  if apply_subscription_state.status = 'trialing' then
    update app.billing_accounts b set trial_used = true
    where b.tenant_id = apply_subscription_state.tenant_id and not b.trial_used;
  end if;
  if coalesce(sub.status, 'none') is distinct from apply_subscription_state.status
     and apply_subscription_state.status in ('canceled', 'unpaid') then
    perform app.write_audit(apply_subscription_state.tenant_id, 'alert.agents_paused', 'billing',
      apply_subscription_state.tenant_id::text, jsonb_build_object('reason', apply_subscription_state.status));
  elsif coalesce(sub.status, 'none') in ('canceled', 'unpaid', 'past_due')
     and apply_subscription_state.status in ('active', 'trialing') then
    perform app.write_audit(apply_subscription_state.tenant_id, 'billing.resumed', 'billing',
      apply_subscription_state.tenant_id::text, jsonb_build_object('from', sub.status, 'to', apply_subscription_state.status));
  end if;
  return 'applied';
end
$$;
comment on function app.apply_subscription_state(uuid, timestamptz, text, text, text, text, integer, timestamptz, timestamptz, timestamptz, boolean, timestamptz, boolean) is 'Applies a subscription state under the version guard (event time, then state rank within a second): stale when older than the stored state; ignored when it would end the live subscription on behalf of an older one. Sets past_due_since for the grace period, marks the trial used, alerts when agents are paused. Internal to apply_stripe_event.';
revoke all on function app.apply_subscription_state(uuid, timestamptz, text, text, text, text, integer, timestamptz, timestamptz, timestamptz, boolean, timestamptz, boolean) from public, anon, authenticated;
grant execute on function app.apply_subscription_state(uuid, timestamptz, text, text, text, text, integer, timestamptz, timestamptz, timestamptz, boolean, timestamptz, boolean) to service_role;

create function api.apply_stripe_event(event jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  event_id text := apply_stripe_event.event ->> 'id';
  event_type text := apply_stripe_event.event ->> 'type';
  created timestamptz := app.to_timestamptz(apply_stripe_event.event -> 'created');
  customer text := apply_stripe_event.event ->> 'customer';
  subscription jsonb := apply_stripe_event.event -> 'subscription';
  invoice jsonb := apply_stripe_event.event -> 'invoice';
  checkout jsonb := apply_stripe_event.event -> 'checkout';
  tenant uuid;
  account app.billing_accounts;
  sub app.subscriptions;
  outcome text := 'ignored';
  plan text;
  qty integer;
  item jsonb;
  new_status text;
begin
  if coalesce(event_id, '') = '' or coalesce(event_type, '') = '' or created is null then
    raise exception 'an event needs id, type and created' using errcode = '22023';
  end if;
  -- 1. A redelivered event is a no-op.
  if exists (select 1 from app.stripe_events e where e.id = event_id) then
    return jsonb_build_object('outcome', 'duplicate', 'event_id', event_id);
  end if;
  -- 2. Only customers this platform created belong to a tenant.
  select b.tenant_id into tenant from app.billing_accounts b where b.stripe_customer_id = customer;
  if tenant is null then
    return jsonb_build_object('outcome', 'unknown_customer', 'event_id', event_id, 'customer', customer);
  end if;
  -- One event of a tenant at a time (the guard reads, then writes).
  perform pg_advisory_xact_lock(hashtext('konstruct.billing:' || tenant::text));
  if exists (select 1 from app.stripe_events e where e.id = event_id) then
    return jsonb_build_object('outcome', 'duplicate', 'event_id', event_id);
  end if;
  select * into account from app.billing_accounts b where b.tenant_id = tenant;
  select * into sub from app.subscriptions s where s.tenant_id = tenant;

  if event_type = 'checkout.session.completed' then
    -- The subscription's own events carry its state; here only the link is new.
    if checkout ->> 'subscription_id' is not null and (account.stripe_subscription_id is null
        or coalesce(sub.status, 'none') in ('none', 'canceled')) then
      update app.billing_accounts b set stripe_subscription_id = checkout ->> 'subscription_id' where b.tenant_id = tenant;
    end if;
    outcome := 'applied';

  elsif event_type in ('customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted') then
    if subscription is null then
      raise exception 'a subscription event needs its subscription' using errcode = '22023';
    end if;
    -- The plan: by the licensed price among the items, else the checkout's metadata.
    for item in select * from jsonb_array_elements(coalesce(subscription -> 'items', '[]'::jsonb)) loop
      select p.key into plan from app.plans p where p.stripe_price_id = item ->> 'price_id';
      if plan is not null then
        qty := (item ->> 'quantity')::integer;
        exit;
      end if;
    end loop;
    if plan is null then
      select p.key into plan from app.plans p where p.key = subscription ->> 'plan_key';
    end if;
    new_status := case when event_type = 'customer.subscription.deleted' then 'canceled'
      else app.stripe_status(subscription ->> 'status') end;
    outcome := app.apply_subscription_state(tenant, created, new_status,
      case when event_type = 'customer.subscription.deleted' then 'canceled' else subscription ->> 'status' end,
      subscription ->> 'id', plan, qty, app.to_timestamptz(subscription -> 'trial_end'),
      app.to_timestamptz(subscription -> 'current_period_start'), app.to_timestamptz(subscription -> 'current_period_end'),
      coalesce((subscription ->> 'cancel_at_period_end')::boolean, false), app.to_timestamptz(subscription -> 'canceled_at'),
      true);

  elsif event_type in ('invoice.paid', 'invoice.payment_failed') then
    if invoice is null then
      raise exception 'an invoice event needs its invoice' using errcode = '22023';
    end if;
    -- The invoice shown on the billing page and the failed-payment banner: newest event wins.
    if account.invoice_version is null or created >= account.invoice_version then
      update app.billing_accounts b set
        latest_invoice_id = invoice ->> 'id',
        latest_invoice_status = invoice ->> 'status',
        latest_invoice_url = invoice ->> 'hosted_invoice_url',
        latest_invoice_amount_due = (invoice ->> 'amount_due')::bigint,
        latest_invoice_currency = invoice ->> 'currency',
        payment_failed_at = case when event_type = 'invoice.payment_failed' then created else null end,
        invoice_version = created
      where b.tenant_id = tenant;
      outcome := 'applied';
      if event_type = 'invoice.payment_failed' then
        perform app.write_audit(tenant, 'alert.payment_failed', 'billing', tenant::text,
          jsonb_build_object('invoice_id', invoice ->> 'id', 'amount_due', invoice -> 'amount_due',
            'currency', invoice ->> 'currency', 'hosted_invoice_url', invoice ->> 'hosted_invoice_url'));
      end if;
    else
      outcome := 'stale';
    end if;
    -- Stripe follows with customer.subscription.updated; the invoice alone already says
    -- what it will say, so the tenant is never held up by a late or lost update.
    if sub.tenant_id is not null and (invoice ->> 'subscription_id' is null
        or invoice ->> 'subscription_id' = account.stripe_subscription_id) then
      if event_type = 'invoice.payment_failed' and sub.status in ('active', 'trialing') then
        new_status := 'past_due';
      elsif event_type = 'invoice.paid' and sub.status in ('past_due', 'unpaid') then
        new_status := 'active';
      end if;
      if new_status is not null and app.apply_subscription_state(tenant, created, new_status, new_status,
          invoice ->> 'subscription_id', full_state => false) = 'applied' then
        outcome := 'applied';
      end if;
    end if;
  end if;

  insert into app.stripe_events (id, type, tenant_id, stripe_created_at, outcome, detail)
  values (event_id, event_type, tenant, created, outcome, jsonb_strip_nulls(jsonb_build_object(
    'subscription_id', coalesce(subscription ->> 'id', invoice ->> 'subscription_id', checkout ->> 'subscription_id'),
    'status', subscription ->> 'status', 'invoice_id', invoice ->> 'id')));
  return jsonb_build_object('outcome', outcome, 'event_id', event_id, 'tenant_id', tenant,
    'status', (select s.status from app.subscriptions s where s.tenant_id = tenant));
end
$$;
comment on function api.apply_stripe_event(jsonb) is 'Applies one verified Stripe event ({id, type, created, customer, subscription?: {id, status, items: [{price_id, quantity}], plan_key, trial_end, current_period_start, current_period_end, cancel_at_period_end, canceled_at}, invoice?: {id, subscription_id, status, hosted_invoice_url, amount_due, currency}, checkout?: {subscription_id}}): a redelivery is a no-op (duplicate); an unknown customer changes and stores nothing (unknown_customer); otherwise the state is applied only if newer than the stored one (applied or stale) and the event id is stored. service_role.';
revoke all on function api.apply_stripe_event(jsonb) from public, anon, authenticated;
grant execute on function api.apply_stripe_event(jsonb) to service_role;

create function api.check_entitlement(tenant_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  refusal jsonb;
begin
  if not exists (select 1 from app.tenants t where t.id = check_entitlement.tenant_id) then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  refusal := app.billing_refusal(check_entitlement.tenant_id);
  return jsonb_build_object('allowed', refusal is null, 'reason', refusal ->> 'reason', 'message', refusal ->> 'message',
    'state', app.billing_state(check_entitlement.tenant_id));
end
$$;
comment on function api.check_entitlement(uuid) is 'Whether a tenant''s agents may answer now (suspension, plan state and this month''s messages and tokens): {allowed, reason: suspended|paused|monthly_messages|monthly_tokens, message (the polite text for the channel), state}. For a worker about to call a model. service_role.';
revoke all on function api.check_entitlement(uuid) from public, anon, authenticated;
grant execute on function api.check_entitlement(uuid) to service_role;

create function api.claim_meter_reports(batch_size integer default 50, lease_seconds integer default 60)
returns table (report_id bigint, tenant_id uuid, identifier text, stripe_customer_id text, value bigint,
  occurred_at timestamptz, attempts integer)
language plpgsql
set search_path = ''
as $$
begin
  -- Stripe takes meter events of the last 35 days only; older ones can never be accepted.
  update app.meter_reports r set status = 'expired', last_error = 'older than 35 days'
  where r.status = 'pending' and r.occurred_at < now() - interval '35 days';
  return query
    with due as (
      select r.id from app.meter_reports r
      where r.status = 'pending' and r.next_attempt_at <= now()
      order by r.next_attempt_at, r.id
      limit least(greatest(coalesce(claim_meter_reports.batch_size, 50), 1), 500)
      for update skip locked
    )
    update app.meter_reports r set
      attempts = r.attempts + 1,
      next_attempt_at = now() + make_interval(secs => greatest(coalesce(claim_meter_reports.lease_seconds, 60), 1))
    from due
    where r.id = due.id
    returning r.id, r.tenant_id, r.identifier, r.stripe_customer_id, r.value, r.occurred_at, r.attempts;
end
$$;
comment on function api.claim_meter_reports(integer, integer) is 'Claims up to batch_size due meter reports for lease_seconds (a sender that dies leaves them to the next run); marks reports older than 35 days expired. service_role.';
revoke all on function api.claim_meter_reports(integer, integer) from public, anon, authenticated;
grant execute on function api.claim_meter_reports(integer, integer) to service_role;

create function api.complete_meter_reports(report_ids bigint[])
returns integer
language sql
set search_path = ''
as $$
  with done as (
    update app.meter_reports r set status = 'sent', sent_at = now(), last_error = null
    where r.id = any (complete_meter_reports.report_ids) and r.status = 'pending'
    returning 1
  )
  select count(*)::integer from done
$$;
comment on function api.complete_meter_reports(bigint[]) is 'Marks meter reports accepted by Stripe as sent (once; a second call changes nothing). Returns how many changed. service_role.';
revoke all on function api.complete_meter_reports(bigint[]) from public, anon, authenticated;
grant execute on function api.complete_meter_reports(bigint[]) to service_role;

create function api.fail_meter_reports(report_ids bigint[], error text default null, base_delay_seconds integer default 30)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  changed integer;
  alerted record;
begin
  update app.meter_reports r set
    last_error = left(fail_meter_reports.error, 500),
    next_attempt_at = now() + make_interval(secs => least(
      greatest(coalesce(fail_meter_reports.base_delay_seconds, 30), 0) * power(2, least(greatest(r.attempts - 1, 0), 16)),
      3600))
  where r.id = any (fail_meter_reports.report_ids) and r.status = 'pending';
  get diagnostics changed = row_count;
  -- Still retried (until accepted), but the admins hear of it once a day.
  for alerted in
    select distinct r.tenant_id from app.meter_reports r
    where r.id = any (fail_meter_reports.report_ids) and r.status = 'pending' and r.attempts >= 5
  loop
    perform app.alert_once(alerted.tenant_id, 'usage_reporting_failing', now() - interval '1 day',
      jsonb_build_object('error', left(fail_meter_reports.error, 200)));
  end loop;
  return changed;
end
$$;
comment on function api.fail_meter_reports(bigint[], text, integer) is 'Records a failed send: each report is retried after base_delay_seconds * 2^(attempts-1) (at most an hour), forever, until Stripe accepts it; after 5 attempts the admins get an alert (once a day). service_role.';
revoke all on function api.fail_meter_reports(bigint[], text, integer) from public, anon, authenticated;
grant execute on function api.fail_meter_reports(bigint[], text, integer) to service_role;

create function app.wake_stripe_meter_if_pending()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from app.meter_reports r where r.status = 'pending' and r.next_attempt_at <= now()) then
    return null;
  end if;
  return app.wake_function('stripe-meter', '{"reason": "cron"}'::jsonb);
exception when others then
  raise warning 'konstruct: could not wake stripe-meter: %', sqlerrm;
  return null;
end
$$;
comment on function app.wake_stripe_meter_if_pending() is 'pg_cron: wakes stripe-meter through app.wake_function (pg_net, signed with the Vault worker secret) when a meter report is due, so usage reaches Stripe in batches.';
revoke all on function app.wake_stripe_meter_if_pending() from public, anon, authenticated;
grant execute on function app.wake_stripe_meter_if_pending() to service_role;

create function app.schedule_stripe_meter(schedule text default null)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  wanted text := coalesce(nullif(btrim(schedule_stripe_meter.schedule), ''),
    (select nullif(btrim(s.value), '') from app.settings s where s.key = 'stripe_meter_schedule'), '* * * * *');
begin
  if not exists (select 1 from pg_namespace where nspname = 'cron') then
    return null;
  end if;
  return cron.schedule('konstruct-stripe-meter', wanted, 'select app.wake_stripe_meter_if_pending()');
end
$$;
comment on function app.schedule_stripe_meter(text) is 'Schedules (or reschedules) the stripe-meter wake-up: the given schedule, else app.settings stripe_meter_schedule, else every minute (pg_cron takes a cron expression or ''[1-59] seconds''). Idempotent.';
revoke all on function app.schedule_stripe_meter(text) from public, anon, authenticated;
select app.schedule_stripe_meter();

create function api.enforce_reply_entitlement(tenant_id uuid, conversation_id uuid, message_id uuid,
  idempotency_key text, agent_id uuid default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(enforce_reply_entitlement.tenant_id,
    enforce_reply_entitlement.conversation_id);
  inbound app.messages;
  state jsonb;
  usage jsonb;
  reason text;
  used bigint;
  allowed bigint;
  notice jsonb;
  refusal jsonb;
begin
  if coalesce(enforce_reply_entitlement.idempotency_key, '') = '' then
    raise exception 'an idempotency key is required' using errcode = '22023';
  end if;
  select * into inbound from app.messages m
  where m.id = enforce_reply_entitlement.message_id and m.conversation_id = conv.id and m.direction = 'in';
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;

  -- Suspended by a platform admin after the job was queued: the notice ingest sends a
  -- suspended tenant's customers (app.billing_refusal's text), recorded once under the job's
  -- reply key for the worker to deliver; no alert (the admins were told when it happened).
  refusal := app.billing_refusal(conv.tenant_id);
  if refusal ->> 'reason' = 'suspended' then
    notice := api.record_reply(conv.tenant_id, conv.id, refusal ->> 'message', enforce_reply_entitlement.idempotency_key,
      coalesce(enforce_reply_entitlement.agent_id, conv.agent_id), '[]'::jsonb,
      jsonb_build_object('mode', 'suspended', 'in_reply_to', inbound.id), 'system');
    return jsonb_build_object('allowed', false, 'reason', 'suspended', 'pause_reason', null,
      'message', refusal ->> 'message', 'notice_message_id', notice ->> 'message_id',
      'duplicate', coalesce((notice ->> 'duplicate')::boolean, false));
  end if;

  state := app.billing_state(conv.tenant_id);
  if (state ->> 'paused')::boolean then
    perform app.alert_once(conv.tenant_id, 'agents_paused', now() - interval '1 day',
      jsonb_build_object('reason', state ->> 'pause_reason', 'conversation_id', conv.id));
    return jsonb_build_object('allowed', false, 'reason', 'paused', 'pause_reason', state ->> 'pause_reason',
      'message', null, 'notice_message_id', null);
  end if;

  if state ->> 'monthly_messages' is not null then
    -- As of this message: the count ingest recorded when it admitted it (app.reply_jobs); a
    -- job queued before that was recorded is held to this month's count.
    select r.plan_messages into used from app.reply_jobs r where r.message_id = inbound.id;
    if used is null or app.usage_period(inbound.created_at) <> app.usage_period(now()) then
      used := (app.billing_usage(conv.tenant_id) ->> 'messages')::bigint;
    end if;
    allowed := (state ->> 'monthly_messages')::bigint;
    if used > allowed then
      reason := 'monthly_messages';
    end if;
  end if;
  if reason is null and state ->> 'monthly_tokens' is not null then
    usage := app.billing_usage(conv.tenant_id);
    used := (usage ->> 'tokens')::bigint;
    allowed := (state ->> 'monthly_tokens')::bigint;
    if used >= allowed then
      reason := 'monthly_tokens';
    end if;
  end if;
  if reason is null then
    return jsonb_build_object('allowed', true, 'reason', null, 'pause_reason', null, 'message', null,
      'notice_message_id', null);
  end if;

  notice := api.record_reply(conv.tenant_id, conv.id, app.plan_limit_text(), enforce_reply_entitlement.idempotency_key,
    coalesce(enforce_reply_entitlement.agent_id, conv.agent_id), '[]'::jsonb,
    jsonb_build_object('mode', 'plan_limit', 'limit', reason, 'in_reply_to', inbound.id),
    'system');
  perform app.alert_once(conv.tenant_id, 'plan_limit_reached', date_trunc('month', now()),
    jsonb_build_object('limit', reason, 'used', used, 'allowed', allowed, 'plan_key', state ->> 'plan_key'));
  return jsonb_build_object('allowed', false, 'reason', reason, 'pause_reason', null, 'used', used, 'limit', allowed,
    'message', app.plan_limit_text(), 'notice_message_id', notice ->> 'message_id',
    'duplicate', coalesce((notice ->> 'duplicate')::boolean, false));
end
$$;
comment on function api.enforce_reply_entitlement(uuid, uuid, uuid, text, uuid) is 'For the agent worker when api.check_entitlement refused a queued reply: decides for this message (suspended, messages counted as of it, this month''s tokens, paused) and does what api.ingest_message does on refusal. Suspended by a platform admin: the polite suspended notice (app.billing_refusal) recorded once under idempotency_key for the worker to deliver, no alert. Paused: alert.agents_paused once a day, nothing recorded. Over a monthly limit: the polite system notice (app.plan_limit_text) recorded once under idempotency_key for the worker to deliver, alert.plan_limit_reached once a month. Returns {allowed, reason: suspended|paused|monthly_messages|monthly_tokens, pause_reason, used, limit, message, notice_message_id, duplicate}. service_role.';
revoke all on function api.enforce_reply_entitlement(uuid, uuid, uuid, text, uuid) from public, anon, authenticated;
grant execute on function api.enforce_reply_entitlement(uuid, uuid, uuid, text, uuid) to service_role;

create function app.usage_from_history(tenant_id uuid)
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
    where u.tenant_id = usage_from_history.tenant_id
  ) h
  group by h.period_start
  union all
  select u.agent_id, app.usage_period(u.occurred_at), 0, sum(u.input_tokens + u.output_tokens)::bigint, sum(u.cost_usd)
  from app.usage_events u
  where u.tenant_id = usage_from_history.tenant_id and u.agent_id is not null
  group by u.agent_id, app.usage_period(u.occurred_at)
$$;
comment on function app.usage_from_history(uuid) is 'What a tenant''s usage counters should hold, recounted from the raw rows (reads its whole history: for checks and repair, never a hot path): per UTC month, agent_id null = the tenant''s row (admitted inbound messages of non-test conversations, tokens, cost), else that agent''s tokens and cost.';
revoke all on function app.usage_from_history(uuid) from public, anon, authenticated;
grant execute on function app.usage_from_history(uuid) to service_role;

create function app.reconcile_usage_counters(tenant_id uuid default null)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Writers in flight finish first; those after this commit add to the recounted values.
  lock table app.tenant_usage, app.agent_usage in exclusive mode;
  delete from app.tenant_usage u where reconcile_usage_counters.tenant_id is null or u.tenant_id = reconcile_usage_counters.tenant_id;
  delete from app.agent_usage u where reconcile_usage_counters.tenant_id is null or u.tenant_id = reconcile_usage_counters.tenant_id;
  insert into app.tenant_usage (tenant_id, period_start, messages, tokens, cost_usd)
  select t.id, h.period_start, h.messages, h.tokens, h.cost_usd
  from app.tenants t, app.usage_from_history(t.id) h
  where (reconcile_usage_counters.tenant_id is null or t.id = reconcile_usage_counters.tenant_id) and h.agent_id is null;
  insert into app.agent_usage (tenant_id, agent_id, period_start, tokens, cost_usd)
  select t.id, h.agent_id, h.period_start, h.tokens, h.cost_usd
  from app.tenants t, app.usage_from_history(t.id) h
  where (reconcile_usage_counters.tenant_id is null or t.id = reconcile_usage_counters.tenant_id) and h.agent_id is not null;
end
$$;
comment on function app.reconcile_usage_counters(uuid) is 'Rewrites the usage counters (app.tenant_usage, app.agent_usage) of one tenant, or of all when null, from the raw rows (app.usage_from_history). For bulk imports and repair; reads history, never called on a hot path.';
revoke all on function app.reconcile_usage_counters(uuid) from public, anon, authenticated;
grant execute on function app.reconcile_usage_counters(uuid) to service_role;
