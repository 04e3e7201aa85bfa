-- The billing api: what the portal shows, what the billing and stripe-webhook edge
-- functions need, and the queue of Stripe meter events.
--
--   portal (authenticated)   list_plans, get_billing (payment data for owners/admins only),
--                            prepare_checkout, prepare_billing_portal (owners/admins)
--   platform admins          upsert_plan, set_billing_settings (also service_role, for scripts/stripe-setup.ts)
--   service_role             save_stripe_customer, apply_stripe_event, check_entitlement,
--                            claim_meter_reports, complete_meter_reports, fail_meter_reports
--
-- apply_stripe_event takes an event already verified and reduced to what matters by
-- shared/billing/stripe-events.ts. It is idempotent by event id and converges whatever
-- the order: a subscription state is applied only when its (event time, state rank) is
-- at least the stored one's, so the latest state Stripe sent wins and an older event is
-- recorded as stale. Events of customers this platform did not create change nothing
-- and are not recorded.

-- Plans ----------------------------------------------------------------------------------------

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

-- The portal ------------------------------------------------------------------------------------

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

-- The billing and webhook functions (service_role) --------------------------------------------------

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

-- Meter reports (usage-based charges) ------------------------------------------------------------

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

-- Waking functions/stripe-meter ---------------------------------------------------------------------

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

select app.schedule_stripe_meter();

-- Grants ------------------------------------------------------------------------------------------

revoke all on function api.list_plans(), api.upsert_plan(jsonb), api.set_billing_settings(text, interval),
  api.get_billing(uuid), api.prepare_checkout(uuid, text, integer), api.prepare_billing_portal(uuid),
  api.save_stripe_customer(uuid, text, text), api.apply_stripe_event(jsonb), api.check_entitlement(uuid),
  api.claim_meter_reports(integer, integer), api.complete_meter_reports(bigint[]),
  api.fail_meter_reports(bigint[], text, integer)
  from public, anon, authenticated;
revoke all on function app.stripe_status(text), app.to_timestamptz(jsonb),
  app.apply_subscription_state(uuid, timestamptz, text, text, text, text, integer, timestamptz, timestamptz, timestamptz, boolean, timestamptz, boolean),
  app.wake_stripe_meter_if_pending(), app.schedule_stripe_meter(text)
  from public, anon, authenticated;
grant execute on function app.stripe_status(text), app.to_timestamptz(jsonb),
  app.apply_subscription_state(uuid, timestamptz, text, text, text, text, integer, timestamptz, timestamptz, timestamptz, boolean, timestamptz, boolean),
  app.wake_stripe_meter_if_pending()
  to service_role;

grant execute on function
  api.list_plans(),
  api.upsert_plan(jsonb),
  api.set_billing_settings(text, interval),
  api.get_billing(uuid),
  api.prepare_checkout(uuid, text, integer),
  api.prepare_billing_portal(uuid)
to authenticated;
grant execute on function
  api.list_plans(),
  api.upsert_plan(jsonb),
  api.set_billing_settings(text, interval),
  api.save_stripe_customer(uuid, text, text),
  api.apply_stripe_event(jsonb),
  api.check_entitlement(uuid),
  api.claim_meter_reports(integer, integer),
  api.complete_meter_reports(bigint[]),
  api.fail_meter_reports(bigint[], text, integer)
to service_role;
