-- Security definer helpers run with their owner's rights, so each one a signed-in user may
-- call must check the caller itself, by the request's JWT (inside a definer current_user is
-- the owner, never the caller). The catalog keeps the list of such helpers short and
-- reviewed; billing state is only read through definers that check membership first.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(16);

select is(
  array(select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace = 'app'::regnamespace and p.prosecdef and has_function_privilege('authenticated', p.oid, 'execute')
        order by 1),
  array['app.billing_setting(text)', 'app.enqueue_knowledge_source(uuid)', 'app.enqueue_member_reply(uuid)',
    'app.enqueue_whatsapp_typing(uuid)', 'app.is_member(uuid,text)', 'app.is_platform_admin()',
    'app.may_use_typing_topic(text,boolean)', 'app.readable_tenants()', 'app.require_read(uuid,text)'],
  'the app definers a signed-in user may call are exactly the reviewed ones, each checking its caller');

-- app.readable_tenants: the caller's own tenants, from auth.uid() -------------------------------
select is(tests.outcome('stranger', tests.fill($$select 1/(('{tenant}')::uuid = any (app.readable_tenants()))::int$$)), '22012',
  'a member of another tenant does not get this tenant among its readable tenants');
select is(tests.outcome('operator', tests.fill($$select 1/(('{tenant}')::uuid = any (app.readable_tenants()))::int$$)), 'ok',
  'an operator of the tenant reads it');

-- app.enqueue_knowledge_source ------------------------------------------------------------------
select is(tests.outcome('stranger', tests.fill($$select app.enqueue_knowledge_source('{source}')$$)), '42501',
  'a member of another tenant cannot queue this tenant''s knowledge source');
select is(tests.outcome('operator', tests.fill($$select app.enqueue_knowledge_source('{source}')$$)), '42501',
  'an operator cannot queue a knowledge source');
select is(tests.outcome('admin', tests.fill($$select app.enqueue_knowledge_source('{source}')$$)), 'ok',
  'an admin of the tenant can queue its knowledge source');
select is(tests.outcome('service', tests.fill($$select app.enqueue_knowledge_source('{source}')$$)), 'ok',
  'the service role can queue any knowledge source');

-- Typing: app.enqueue_whatsapp_typing and app.may_use_typing_topic -----------------------------
select is(tests.outcome('stranger', tests.fill($$select app.enqueue_whatsapp_typing('{conv}')$$)), '42501',
  'a member of another tenant cannot queue typing on this tenant''s conversation');
select is(tests.outcome('operator', tests.fill($$select app.enqueue_whatsapp_typing('{conv}')$$)), '42501',
  'an operator cannot queue typing');
select is(tests.outcome('admin', tests.fill($$select app.enqueue_whatsapp_typing('{conv}')$$)), 'ok',
  'an admin of the tenant can (a web chat conversation queues nothing)');
select is(tests.outcome('stranger', tests.fill($$select 1/app.may_use_typing_topic('typing:{conv}', false)::int$$)), '22012',
  'a member of another tenant may not use this tenant''s typing topic');
select is(tests.outcome('operator', tests.fill($$select 1/app.may_use_typing_topic('typing:{conv}', false)::int$$)), 'ok',
  'an operator of the tenant may receive on it');

-- Billing state ----------------------------------------------------------------------------------
select is(
  array(select p.proname::text from pg_proc p
        where p.pronamespace = 'app'::regnamespace and p.proname in ('billing_state', 'billing_usage', 'billing_refusal')
          and has_function_privilege('authenticated', p.oid, 'execute')
        order by 1),
  array[]::text[],
  'signed-in users cannot execute app.billing_state, billing_usage or billing_refusal');
select is(tests.outcome('stranger', tests.fill($$select app.billing_usage('{tenant}')$$)), '42501',
  'a stranger cannot read another tenant''s usage through app.billing_usage');
select is(tests.outcome('owner', tests.fill($$select api.get_billing('{tenant}')$$)), 'ok',
  'the owner still reads the billing page (api.get_billing checks membership, then reads the state)');
select is(tests.outcome('owner', tests.fill($$select api.deploy_agent_template('{tenant}', 'sales_assistant', 'Second')$$)), 'ok',
  'creating an agent still checks the plan (the trigger reads the state as its owner)');

select * from finish();
rollback;
