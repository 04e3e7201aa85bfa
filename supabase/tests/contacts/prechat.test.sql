-- The widget's pre-chat form, as the server enforces it (api.web_chat_prechat_pending, asked
-- by the web-chat function before it stores a message): pending while the form is on and
-- the visitor neither wrote nor named itself; a name given on another tenant's widget does
-- not count, and a member's test chat is not asked.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(9);

insert into auth.users (id, email, aud, role, is_anonymous)
values ('00000000-0000-4000-8000-00000000b001', null, 'authenticated', 'authenticated', true);

select tests.become('service');
select is(api.web_chat_prechat_pending(tests.get('web_channel')::uuid, '00000000-0000-4000-8000-00000000b001'), false,
  'with the form off, nothing is pending');
reset role;
update app.channel_connections set settings = settings || '{"prechat_form": true}'
where id in (tests.get('web_channel')::uuid, tests.get('web_channel_b')::uuid);

select tests.become('service');
select is(api.web_chat_prechat_pending(tests.get('web_channel')::uuid, '00000000-0000-4000-8000-00000000b001'), true,
  'with the form on, a new visitor must fill it in first');
select is(api.web_chat_prechat_pending(tests.get('web_channel')::uuid, 'visitor-a'), false,
  'a visitor who already wrote keeps writing');
select is(api.web_chat_prechat_pending(tests.get('wa_channel')::uuid, '00000000-0000-4000-8000-00000000b001'), false,
  'only web chat widgets have the form');
reset role;

-- The visitor names itself on tenant A's widget.
do $$ begin
  perform set_config('request.jwt.claims', json_build_object('sub', '00000000-0000-4000-8000-00000000b001',
    'role', 'authenticated', 'is_anonymous', true)::text, true);
end $$;
set local role authenticated;
select api.set_visitor_profile(tests.get('widget_key'), 'Noor');
reset role;

select tests.become('service');
select is(api.web_chat_prechat_pending(tests.get('web_channel')::uuid, '00000000-0000-4000-8000-00000000b001'), false,
  'once named, the visitor may write');
select is(api.web_chat_prechat_pending(tests.get('web_channel_b')::uuid, '00000000-0000-4000-8000-00000000b001'), true,
  'a name given on another tenant''s widget does not count here');
reset role;
-- A member's test chat in the portal is not a customer: it is never asked for a name, but
-- only on the widget it was begun on.
select tests.become('service');
select api.begin_test_chat(tests.get('web_channel')::uuid, 'portal-test-visitor', tests.get('operator')::uuid);
select is(api.web_chat_prechat_pending(tests.get('web_channel')::uuid, 'portal-test-visitor'), false,
  'a member''s test chat is not asked to fill in the form');
select is(api.web_chat_prechat_pending(tests.get('web_channel_b')::uuid, 'portal-test-visitor'), true,
  'a test chat begun on one tenant''s widget is a visitor like any other on another''s');
reset role;
select is(tests.outcome('admin', tests.fill($$select api.web_chat_prechat_pending('{web_channel}', 'x')$$)), '42501',
  'members cannot ask (service role only)');

select * from finish();
rollback;
