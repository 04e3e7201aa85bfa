-- Ratings of closed web chat conversations: once per conversation, only by the visitor whose
-- conversation it is on that widget, only once closed, and shown on the dashboard.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(14);

-- A visitor of tenant A's widget writes and is answered (the fixture's own conversations
-- already carry a rating each, stored directly).
insert into tests.fx select 'rated', api.ingest_message(tests.get('web_channel')::uuid, 'rate-1', 'visitor-r', 'visitor-r',
  'Where is my parcel?') ->> 'conversation_id';
select api.record_reply(tests.get('tenant')::uuid, tests.get('rated')::uuid, 'On its way.', 'rate:reply');

select tests.become('service');
select throws_ok($$select api.rate_web_chat_conversation(tests.get('web_channel')::uuid, 'visitor-r', 5)$$,
  '22023', null, 'an open conversation cannot be rated yet');
reset role;

select tests.claims('owner');
select api.close_conversation(tests.get('rated')::uuid);
select set_config('request.jwt.claims', '', true);

select tests.become('service');
select throws_ok($$select api.rate_web_chat_conversation(tests.get('web_channel')::uuid, 'visitor-r', 0)$$,
  '22023', null, 'a rating below 1 is refused');
select throws_ok($$select api.rate_web_chat_conversation(tests.get('web_channel')::uuid, 'visitor-r', 6)$$,
  '22023', null, 'a rating above 5 is refused');
select throws_ok($$select api.rate_web_chat_conversation(tests.get('web_channel')::uuid, 'visitor-r', 4, repeat('x', 1001))$$,
  '22023', null, 'a comment over 1000 characters is refused');
select throws_ok($$select api.rate_web_chat_conversation(tests.get('web_channel')::uuid, 'somebody-else', 1)$$,
  'P0002', null, 'another visitor of the same widget has no conversation to rate');
select throws_ok($$select api.rate_web_chat_conversation(tests.get('web_channel_b')::uuid, 'visitor-r', 1)$$,
  'P0002', null, 'another tenant''s widget cannot reach the conversation');
select throws_ok($$select api.rate_web_chat_conversation(tests.get('wa_channel')::uuid, 'visitor-r', 1)$$,
  'P0002', null, 'a channel that is not a web chat rates nothing');
select is(api.rate_web_chat_conversation(tests.get('web_channel')::uuid, 'visitor-r', 5, '  Quick and right.  ') ->> 'duplicate',
  'false', 'the visitor rates their closed conversation');
select is(api.rate_web_chat_conversation(tests.get('web_channel')::uuid, 'visitor-r', 1, 'Changed my mind') ->> 'rating',
  '5', 'a second rating changes nothing and answers with the first');
reset role;

select is((select count(*) from app.conversation_ratings where conversation_id = tests.get('rated')::uuid), 1::bigint,
  'one rating stored');
select is((select comment from app.conversation_ratings where conversation_id = tests.get('rated')::uuid),
  'Quick and right.', 'the comment is kept, trimmed');

select is(
  tests.value_as('operator', format($$select (api.get_dashboard(%L) -> 'totals') - array['conversations', 'messages',
    'messages_in', 'messages_agent', 'messages_member', 'answered', 'answered_without_human', 'answered_without_human_share',
    'handed_off', 'median_first_response_seconds', 'waiting', 'tokens', 'cost_usd']$$, tests.get('tenant')))::jsonb,
  '{"ratings": 2, "average_rating": 4.50, "good_rating_share": 1.0000}'::jsonb,
  'the dashboard shows the ratings: the fixture''s 4 and this 5');
select is(tests.outcome('owner', $$insert into app.conversation_ratings (conversation_id, tenant_id, rating)
  values ('00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000', 5)$$), '42501',
  'members cannot write ratings');
select is(tests.value_as('stranger', 'select string_agg(comment, '','') from app.conversation_ratings'), 'Rated in B',
  'another tenant''s members read only their own');

select * from finish();
rollback;
