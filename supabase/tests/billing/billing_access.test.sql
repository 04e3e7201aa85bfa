-- Billing: who sees what and who changes what. Owners and admins see the payment data;
-- operators see the plan and usage, not the payment data; nobody but service_role
-- changes a subscription row or the payment data; another tenant sees nothing; the
-- entitlements and the Stripe event guard hold in the database itself.
begin;
create extension if not exists pgtap with schema extensions;

create schema tests;
grant usage on schema tests to public;
create table tests.people (persona text primary key, user_id uuid);
grant select on tests.people to public;
create table tests.fx (key text primary key, value text);
grant select on tests.fx to public;

create function tests.create_user(persona text) returns uuid language plpgsql as $$
declare
  uid uuid := gen_random_uuid();
begin
  insert into auth.users (id, email, aud, role) values (uid, persona || '@billing.konstruct.local', 'authenticated', 'authenticated');
  insert into tests.people values (persona, uid);
  return uid;
end $$;
create function tests.get(name text) returns text language sql stable as $$ select f.value from tests.fx f where f.key = get.name $$;

create function tests.become(persona text) returns void language plpgsql as $$
begin
  if persona = 'anon' then
    perform set_config('request.jwt.claims', '{"role": "anon"}', true);
    perform set_config('role', 'anon', true);
  elsif persona = 'service' then
    perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
    perform set_config('role', 'service_role', true);
  else
    perform set_config('request.jwt.claims', (select json_build_object('sub', p.user_id, 'role', 'authenticated',
      'email', p.persona || '@billing.konstruct.local')::text from tests.people p where p.persona = become.persona), true);
    perform set_config('role', 'authenticated', true);
  end if;
end $$;

-- Runs sql as a persona, rolled back; the single value it returns, or the SQLSTATE.
create function tests.value_as(persona text, sql text) returns text language plpgsql as $$
declare
  result text;
begin
  begin
    perform tests.become(persona);
    execute replace(replace(sql, '{tenant}', tests.get('tenant')), '{tenant_b}', tests.get('tenant_b')) into result;
    raise exception using errcode = 'TT000', message = coalesce(result, '<null>');
  exception when others then
    if sqlstate = 'TT000' then
      return sqlerrm;
    end if;
    return sqlstate;
  end;
end $$;

-- Tenant A: owner, admin, operator, on the Team plan with a Stripe customer and a failed
-- payment; tenant B: stranger, no subscription.
do $$
declare
  a uuid; b uuid;
begin
  perform tests.create_user('owner'); perform tests.create_user('admin');
  perform tests.create_user('operator'); perform tests.create_user('stranger');
  perform set_config('request.jwt.claims', json_build_object('sub', (select user_id from tests.people where persona = 'owner'),
    'role', 'authenticated')::text, true);
  a := (api.create_tenant('Billing A', 'billing-a') ->> 'id')::uuid;
  insert into app.memberships (tenant_id, user_id, role) values
    (a, (select user_id from tests.people where persona = 'admin'), 'admin'),
    (a, (select user_id from tests.people where persona = 'operator'), 'operator');
  perform set_config('request.jwt.claims', json_build_object('sub', (select user_id from tests.people where persona = 'stranger'),
    'role', 'authenticated')::text, true);
  b := (api.create_tenant('Billing B', 'billing-b') ->> 'id')::uuid;
  perform set_config('request.jwt.claims', '', true);
  update app.plans set stripe_price_id = 'price_team_agent' where key = 'team';
  perform api.save_stripe_customer(a, 'cus_BillingA', 'owner@billing.konstruct.local');
  perform api.apply_stripe_event(jsonb_build_object('id', 'evt_a_1', 'type', 'customer.subscription.created',
    'created', extract(epoch from now())::bigint - 3600, 'customer', 'cus_BillingA', 'subscription', jsonb_build_object('id', 'sub_a', 'status', 'active',
      'items', jsonb_build_array(jsonb_build_object('price_id', 'price_team_agent', 'quantity', 4)))));
  perform api.apply_stripe_event(jsonb_build_object('id', 'evt_a_2', 'type', 'invoice.payment_failed',
    'created', extract(epoch from now())::bigint - 600, 'customer', 'cus_BillingA', 'invoice', jsonb_build_object('id', 'in_a_1',
      'subscription_id', 'sub_a', 'status', 'open', 'hosted_invoice_url', 'https://invoice.stripe.test/in_a_1',
      'amount_due', 19600, 'currency', 'usd')));
  insert into tests.fx values ('tenant', a::text), ('tenant_b', b::text);
end $$;

select plan(34);

-- What each persona sees through the api ------------------------------------------------------

select is(tests.value_as('owner', $$select api.get_billing('{tenant}') #>> '{payment,latest_invoice,url}'$$),
  'https://invoice.stripe.test/in_a_1', 'an owner sees the payment data (latest invoice)');
select is(tests.value_as('admin', $$select (api.get_billing('{tenant}') -> 'payment' ->> 'payment_failed_at') is not null$$),
  'true', 'an admin sees the failed payment');
select is(tests.value_as('operator', $$select api.get_billing('{tenant}') -> 'payment'$$),
  'null', 'an operator gets no payment data');
select is(tests.value_as('operator', $$select api.get_billing('{tenant}') #>> '{plan,key}'$$),
  'team', 'an operator sees the plan');
select is(tests.value_as('operator', $$select api.get_billing('{tenant}') ->> 'status'$$),
  'past_due', 'an operator sees the subscription state');
select is(tests.value_as('operator', $$select (api.get_billing('{tenant}') #>> '{limits,agents}')$$),
  '4', 'an operator sees the limits (the agents paid for)');
select is(tests.value_as('stranger', $$select api.get_billing('{tenant}')$$),
  '42501', 'another tenant''s owner sees nothing of it');
select is(tests.value_as('anon', $$select api.get_billing('{tenant}')$$), '42501', 'anon sees nothing');
select is(tests.value_as('stranger', $$select api.get_billing('{tenant_b}') ->> 'status'$$),
  'none', 'a tenant without a subscription is in state none');
select is(tests.value_as('stranger', $$select api.get_billing('{tenant_b}') #>> '{plan,key}'$$),
  'free', '... on the default (free) plan');
select is(tests.value_as('operator', $$select api.prepare_billing_portal('{tenant}')$$),
  '42501', 'an operator cannot open the Billing Portal');
select is(tests.value_as('admin', $$select api.prepare_billing_portal('{tenant}') ->> 'customer_id'$$),
  'cus_BillingA', 'an admin can');
select is(tests.value_as('operator', $$select count(*)::text from api.list_plans()$$),
  '3', 'every signed-in user sees the public plans');

-- Direct reads and writes of the tables ----------------------------------------------------------

select is(tests.value_as('operator', $$select plan_key || '/' || status from app.subscriptions where tenant_id = '{tenant}'$$),
  'team/past_due', 'an operator reads its tenant''s subscription row (RLS)');
select is(tests.value_as('stranger', $$select count(*)::text from app.subscriptions where tenant_id = '{tenant}'$$),
  '0', 'another tenant reads no subscription row of it');
select is(tests.value_as('owner', $$select stripe_customer_id from app.billing_accounts$$),
  '42501', 'payment data is never read directly, not even by owners');
select is(tests.value_as('owner', $$select count(*)::text from app.stripe_events$$), '42501', 'processed events are service-only');
select is(tests.value_as('owner', $$select count(*)::text from app.meter_reports$$), '42501', 'meter reports are service-only');
select is(tests.value_as('owner', $$update app.subscriptions set status = 'active' where tenant_id = '{tenant}' returning status$$),
  '42501', 'an owner cannot change its subscription row');
select is(tests.value_as('admin', $$insert into app.subscriptions (tenant_id, plan_key, status) values (gen_random_uuid(), 'team', 'active') returning status$$),
  '42501', 'an admin cannot insert a subscription row');
select is(tests.value_as('owner', $$delete from app.subscriptions where tenant_id = '{tenant}' returning status$$),
  '42501', 'an owner cannot delete its subscription row');
select is(tests.value_as('owner', $$update app.plans set monthly_messages = null where key = 'team' returning key$$),
  '42501', 'an owner cannot change a plan');
select is(tests.value_as('owner', $$select api.upsert_plan('{"key": "team", "monthly_messages": null}')$$),
  '42501', '... nor through the api (platform admins only)');
select is(tests.value_as('owner', $$select api.apply_stripe_event('{"id": "evt_forged", "type": "customer.subscription.updated", "created": 1900000000, "customer": "cus_BillingA", "subscription": {"id": "sub_a", "status": "active"}}')$$),
  '42501', 'a user cannot forge a Stripe event');
select is(tests.value_as('service', $$update app.subscriptions set quantity = 9 where tenant_id = '{tenant}' returning quantity::text$$),
  '9', 'service_role can change a subscription row');

-- The database's own guarantees ------------------------------------------------------------------

select is(tests.value_as('service', $$select api.apply_stripe_event('{"id": "evt_a_1", "type": "customer.subscription.created", "created": 1764150000, "customer": "cus_BillingA", "subscription": {"id": "sub_a", "status": "canceled"}}') ->> 'outcome'$$),
  'duplicate', 'a redelivered event id is a no-op');
select is(tests.value_as('service', $$select api.apply_stripe_event('{"id": "evt_a_old", "type": "customer.subscription.updated", "created": 1764140000, "customer": "cus_BillingA", "subscription": {"id": "sub_a", "status": "canceled"}}') ->> 'outcome'$$),
  'stale', 'an event older than the stored state is stale');
select is(tests.value_as('service', $$select api.apply_stripe_event('{"id": "evt_stranger", "type": "customer.subscription.deleted", "created": 1900000000, "customer": "cus_nobody", "subscription": {"id": "sub_x", "status": "canceled"}}') ->> 'outcome'$$),
  'unknown_customer', 'an unknown customer changes nothing');
select is(tests.value_as('service', $$select api.apply_stripe_event('{"id": "evt_old_sub", "type": "customer.subscription.deleted", "created": 1900000000, "customer": "cus_BillingA", "subscription": {"id": "sub_previous", "status": "canceled"}}') ->> 'outcome'$$),
  'ignored', 'the end of another subscription never ends the live one');
select is((select status from app.subscriptions where tenant_id = tests.get('tenant')::uuid),
  'past_due', 'none of that changed the stored state');
select is(tests.value_as('stranger', $$select api.create_agent('{tenant_b}', 'Two') ->> 'name' from (select api.create_agent('{tenant_b}', 'One')) first$$),
  'Two', 'the free plan allows two agents');
select is(tests.value_as('stranger', $$select api.create_agent('{tenant_b}', 'Three') ->> 'name' from (select api.create_agent('{tenant_b}', 'One'), api.create_agent('{tenant_b}', 'Two')) first$$),
  'KO010', 'a third is refused with KO010');
select is(tests.value_as('service', $$select api.check_entitlement('{tenant}') ->> 'allowed'$$),
  'true', 'past_due within the grace period may still answer');
insert into app.settings (key, value) values ('billing_grace_period', '5 minutes');
select is(tests.value_as('service', $$select api.check_entitlement('{tenant}') ->> 'reason'$$),
  'paused', 'past the grace period (made 5 minutes here) the agents are paused');

select * from finish();
rollback;
