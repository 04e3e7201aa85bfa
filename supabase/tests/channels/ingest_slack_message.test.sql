-- api.ingest_slack_message: slack-events' one call per message routes by team id to that
-- team's tenant only, stores exactly what api.ingest_message stores (once per Slack message),
-- and stores nothing when the team is unknown, the connection disabled, the bot user id not
-- the stored one, or a thread reply lands in a thread the agent has no conversation in.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(19);

select tests.become('service');
insert into tests.fx values
  ('slack_a', api.save_slack_installation(tests.get('tenant')::uuid, 'T0SLACKA', 'U0BOTA', 'xoxb-a') ->> 'connection_id'),
  ('slack_b', api.save_slack_installation(tests.get('tenant_b')::uuid, 'T0SLACKB', 'U0BOTB', 'xoxb-b') ->> 'connection_id');
insert into tests.fx values
  ('unknown', api.ingest_slack_message('T0NOBODY', 'U0BOTA', false, 'C1:1.0', 'C1:1.0', 'U1', 'hi')::text),
  ('first', api.ingest_slack_message('T0SLACKA', 'U0BOTA', false, 'C1:1.0', 'C1:1.0', 'U1', 'Where is my order?',
    '{"slack_channel_id": "C1"}', '{"slack_event_id": "Ev1"}')::text),
  ('again', api.ingest_slack_message('T0SLACKA', 'U0BOTA', false, 'C1:1.0', 'C1:1.0', 'U1', 'Where is my order?')::text),
  ('b', api.ingest_slack_message('T0SLACKB', 'U0BOTB', false, 'C1:1.0', 'C1:1.0', 'U1', 'Hello B')::text),
  ('other_bot', api.ingest_slack_message('T0SLACKA', 'U0SOMEONE', false, 'C1:2.0', 'C1:2.0', 'U1', 'hi')::text),
  ('no_bot', api.ingest_slack_message('T0SLACKA', null, false, 'C1:3.0', 'C1:3.0', 'U1', 'hi')::text),
  ('unknown_thread', api.ingest_slack_message('T0SLACKA', 'U0BOTA', true, 'C1:4.1', 'C1:4.0', 'U1', 'me too')::text),
  ('known_thread', api.ingest_slack_message('T0SLACKA', 'U0BOTA', true, 'C1:1.1', 'C1:1.0', 'U2', 'me too')::text);
reset role;

select is(tests.get('unknown')::jsonb, '{"outcome": "unknown_team"}'::jsonb, 'an unknown team routes nowhere');

select is(tests.get('first')::jsonb ->> 'outcome', 'ingested', 'a message of a known team is stored');
select is(tests.get('first')::jsonb ->> 'connection_id', tests.get('slack_a'), 'on its team''s connection');
select is((select m.tenant_id::text from app.messages m where m.id = (tests.get('first')::jsonb ->> 'message_id')::uuid),
  tests.get('tenant'), 'in its team''s tenant');
select is((select m.metadata ->> 'slack_event_id' from app.messages m where m.id = (tests.get('first')::jsonb ->> 'message_id')::uuid),
  'Ev1', 'with its metadata');
select is((tests.get('first')::jsonb ->> 'enqueued')::boolean, true, 'and a reply job, as api.ingest_message queues');
select is((tests.get('again')::jsonb ->> 'duplicate')::boolean, true, 'the same Slack message again is a duplicate');
select is(tests.get('again')::jsonb ->> 'message_id', tests.get('first')::jsonb ->> 'message_id', 'of the stored message');
select is((tests.get('again')::jsonb ->> 'enqueued')::boolean, false, 'that queues nothing');

select is((select m.tenant_id::text from app.messages m where m.id = (tests.get('b')::jsonb ->> 'message_id')::uuid),
  tests.get('tenant_b'), 'the same channel and ts in another team is that team''s tenant''s message');
select isnt(tests.get('b')::jsonb ->> 'conversation_id', tests.get('first')::jsonb ->> 'conversation_id',
  'in a conversation of its own');

select is(tests.get('other_bot')::jsonb ->> 'outcome', 'other_bot', 'a bot user id other than the stored one is not routed');
select is(tests.get('other_bot')::jsonb -> 'connection' ->> 'slack_bot_user_id', 'U0BOTA',
  'the connection comes back, so the event can be parsed again with the stored bot user id');
select is(tests.get('no_bot')::jsonb ->> 'outcome', 'other_bot', 'nor is an event that names no bot');
select is((select count(*)::integer from app.messages m where m.connection_id = tests.get('slack_a')::uuid
  and m.external_id in ('C1:2.0', 'C1:3.0', 'C1:4.1')), 0, 'none of them, nor a reply in an unknown thread, is stored');
select is(tests.get('unknown_thread')::jsonb ->> 'outcome', 'not_for_agent', 'a reply in a thread the agent is not in is not for it');
select is(tests.get('known_thread')::jsonb ->> 'conversation_id', tests.get('first')::jsonb ->> 'conversation_id',
  'a reply in a thread the agent is in joins its conversation');

-- A disabled connection stores nothing.
select tests.become('service');
select api.disable_slack_installation('T0SLACKA', 'app_uninstalled');
insert into tests.fx values
  ('disabled', api.ingest_slack_message('T0SLACKA', 'U0BOTA', false, 'C1:5.0', 'C1:5.0', 'U1', 'anyone?')::text);
reset role;
select is(tests.get('disabled')::jsonb ->> 'outcome', 'disabled', 'a disabled connection is not routed to');
select is((select count(*)::integer from app.messages m where m.external_id = 'C1:5.0'), 0, 'and stores nothing');

select * from finish();
rollback;
