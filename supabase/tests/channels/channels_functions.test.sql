-- The channels migration: service-only functions, the single-use Slack install state, the
-- web chat topic that only the visitor's own token may read, and tenant scoping of delivery
-- progress.
begin;
create extension if not exists pgtap with schema extensions;

select plan(15);

-- Service role only -------------------------------------------------------------------------

select is(
  array(select p.proname::text from pg_proc p
        where p.pronamespace = 'api'::regnamespace
          and p.proname in ('begin_slack_install', 'consume_slack_install', 'find_conversation', 'web_chat_history',
            'get_outbound_delivery', 'record_delivery_progress', 'escalate_channel_thread')
          and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute')
               or not has_function_privilege('service_role', p.oid, 'execute'))
        order by 1),
  array[]::text[],
  'the channel functions are executable by service_role only');

-- Slack install state -----------------------------------------------------------------------

insert into auth.users (id, email, aud, role) values
  ('aaaaaaaa-0000-4000-8000-000000000001', 'owner@channels.test', 'authenticated', 'authenticated'),
  ('aaaaaaaa-0000-4000-8000-000000000002', 'operator@channels.test', 'authenticated', 'authenticated');
insert into app.tenants (id, name, slug) values ('bbbbbbbb-0000-4000-8000-000000000001', 'Channels Test', 'channels-test');
insert into app.memberships (tenant_id, user_id, role) values
  ('bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001', 'owner'),
  ('bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002', 'operator');

set local role service_role;
select lives_ok(
  $$select api.begin_slack_install('bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001',
    'nonce-owner-0000000001', now() + interval '10 minutes')$$,
  'an owner starts an install');
select throws_ok(
  $$select api.begin_slack_install('bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002',
    'nonce-operator-000000001', now() + interval '10 minutes')$$,
  '42501', null, 'an operator cannot start an install');
select is(
  api.consume_slack_install('nonce-owner-0000000001') ->> 'tenant_id', 'bbbbbbbb-0000-4000-8000-000000000001',
  'the callback consumes the state and learns the tenant');
select throws_ok($$select api.consume_slack_install('nonce-owner-0000000001')$$, 'KO006', null, 'a state is single use');
select throws_ok($$select api.consume_slack_install('nonce-never-issued-0001')$$, 'P0002', null, 'an unknown state is refused');
reset role;
insert into app.slack_oauth_states (nonce, tenant_id, user_id, expires_at)
values ('nonce-expired-000000001', 'bbbbbbbb-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000001', now() - interval '1 second');
set local role service_role;
select throws_ok($$select api.consume_slack_install('nonce-expired-000000001')$$, 'KO006', null, 'an expired state is refused');

-- Delivery progress is tenant scoped ----------------------------------------------------------

reset role;
create temp table inbound as
select (api.ingest_message('30000000-0000-4000-8000-000000000001', 'web:visitor-a:1', 'visitor-a', 'visitor-a', 'hello')
  ->> 'message_id')::uuid as id;
grant select on inbound to service_role;
set local role service_role;
select lives_ok(
  format($$select api.record_delivery_progress('10000000-0000-4000-8000-000000000001', %L, '{"slack_parts": {"0": "1.1"}}')$$, (select id from inbound)),
  'the owning tenant records delivery progress');
select throws_ok(
  format($$select api.record_delivery_progress('bbbbbbbb-0000-4000-8000-000000000001', %L, '{"x": 1}')$$, (select id from inbound)),
  '42501', null, 'another tenant cannot record progress on the message');
select is(
  (api.get_outbound_delivery('10000000-0000-4000-8000-000000000001', (select id from inbound)) -> 'delivery' -> 'slack_parts' ->> '0'),
  '1.1', 'progress is read back');
select is(
  jsonb_array_length(api.web_chat_history('30000000-0000-4000-8000-000000000001', 'visitor-a') -> 'messages'), 1,
  'a visitor''s history has their message');
select is(api.web_chat_history('30000000-0000-4000-8000-000000000001', 'visitor-b'), null,
  'another visitor has no history');
reset role;

-- The web chat topic: webchat:<the anonymous visitor's user id> ----------------------------

select realtime.send('{"text": "hello"}'::jsonb, 'message', 'webchat:00000000-0000-4000-8000-00000000000a', true);
select set_config('realtime.topic', 'webchat:00000000-0000-4000-8000-00000000000a', true);
select set_config('request.jwt.claims', '{"role": "authenticated", "is_anonymous": true, "sub": "00000000-0000-4000-8000-00000000000a"}', true);
set local role authenticated;
select ok((select count(*) from realtime.messages where topic = 'webchat:00000000-0000-4000-8000-00000000000a') > 0,
  'the anonymous visitor receives the broadcasts of their own conversation');
reset role;
select set_config('request.jwt.claims', '{"role": "authenticated", "is_anonymous": true, "sub": "00000000-0000-4000-8000-00000000000b"}', true);
set local role authenticated;
select is((select count(*)::int from realtime.messages where topic = 'webchat:00000000-0000-4000-8000-00000000000a'), 0,
  'another anonymous visitor receives nothing on that topic');
reset role;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
set local role anon;
select is((select count(*)::int from realtime.messages where topic = 'webchat:00000000-0000-4000-8000-00000000000a'), 0,
  'the publishable key alone receives nothing on that topic');
reset role;

select * from finish();
rollback;
