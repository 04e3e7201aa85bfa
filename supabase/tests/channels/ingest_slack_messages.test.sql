-- api.ingest_slack_messages: slack-events' group commit stores each Slack message of a
-- batch as api.ingest_slack_message would alone, answers each in the order sent, and an
-- event that fails reports its own SQLSTATE while the others are stored all the same.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(20);

select tests.become('service');
insert into tests.fx values
  ('slack_a', api.save_slack_installation(tests.get('tenant')::uuid, 'T0SLACKA', 'U0BOTA', 'xoxb-a') ->> 'connection_id'),
  ('slack_b', api.save_slack_installation(tests.get('tenant_b')::uuid, 'T0SLACKB', 'U0BOTB', 'xoxb-b') ->> 'connection_id');
insert into tests.fx values ('answers', api.ingest_slack_messages('[
  {"team_id": "T0SLACKB", "bot_user_id": "U0BOTB", "known_thread_only": false, "external_id": "C1:1.0",
   "thread_key": "C1:1.0", "external_user_id": "U1", "text": "Hello B", "metadata": {"slack_event_id": "EvB"}},
  42,
  {"team_id": "T0SLACKA", "bot_user_id": "U0BOTA", "known_thread_only": false, "external_id": "C1:1.0",
   "thread_key": "C1:1.0", "external_user_id": "U1", "text": "Where is my order?"},
  {"team_id": "T0SLACKA", "bot_user_id": "U0BOTA", "known_thread_only": "maybe", "external_id": "C1:2.0",
   "thread_key": "C1:2.0", "external_user_id": "U1", "text": "never stored"},
  {"team_id": "T0SLACKA", "bot_user_id": "U0BOTA", "known_thread_only": false, "external_id": "C1:1.0",
   "thread_key": "C1:1.0", "external_user_id": "U1", "text": "Where is my order?"},
  {"team_id": "T0NOBODY", "bot_user_id": "U0BOTA", "known_thread_only": false, "external_id": "C1:3.0",
   "thread_key": "C1:3.0", "external_user_id": "U1", "text": "hi"}
]')::text);
reset role;

select is(jsonb_array_length(tests.get('answers')::jsonb), 6, 'one answer per event');
select is(tests.get('answers')::jsonb -> 0 -> 'result' ->> 'connection_id', tests.get('slack_b'),
  'the first answer is the first event''s: team B''s message on team B''s connection');
select is((select m.tenant_id::text from app.messages m
  where m.id = (tests.get('answers')::jsonb -> 0 -> 'result' ->> 'message_id')::uuid),
  tests.get('tenant_b'), 'stored in team B''s tenant');
select is((select m.metadata ->> 'slack_event_id' from app.messages m
  where m.id = (tests.get('answers')::jsonb -> 0 -> 'result' ->> 'message_id')::uuid), 'EvB', 'with its metadata');
select is(tests.get('answers')::jsonb -> 1 ->> 'code', '22023', 'an event that is not an object fails alone');
select is(tests.get('answers')::jsonb -> 2 -> 'result' ->> 'connection_id', tests.get('slack_a'),
  'team A''s message, after the failure, is routed to team A');
select is((select m.tenant_id::text from app.messages m
  where m.id = (tests.get('answers')::jsonb -> 2 -> 'result' ->> 'message_id')::uuid),
  tests.get('tenant'), 'and stored in team A''s tenant');
select is((tests.get('answers')::jsonb -> 2 -> 'result' ->> 'enqueued')::boolean, true, 'with a reply job');
select is(tests.get('answers')::jsonb -> 3 ->> 'code', '22P02', 'an event with a bad argument fails alone, with its SQLSTATE');
select is((select count(*)::integer from app.messages m where m.external_id = 'C1:2.0'), 0, 'and stores nothing');
select is((tests.get('answers')::jsonb -> 4 -> 'result' ->> 'duplicate')::boolean, true,
  'the same Slack message twice in one batch is stored once');
select is(tests.get('answers')::jsonb -> 4 -> 'result' ->> 'message_id', tests.get('answers')::jsonb -> 2 -> 'result' ->> 'message_id',
  'the second answer names the stored message');
select is(tests.get('answers')::jsonb -> 5 -> 'result' ->> 'outcome', 'unknown_team', 'an unknown team routes nowhere');

select tests.become('service');
select throws_ok($$select api.ingest_slack_messages('{"team_id": "T0SLACKA"}')$$, '22023',
  'events must be a JSON array', 'a batch must be an array');
select throws_ok($$select api.ingest_slack_messages((select jsonb_agg('{}'::jsonb) from generate_series(1, 13)))$$,
  '22023', 'at most 12 events in one call, got 13', 'a batch holds at most 12 events');
-- The function bounds its events' lock waits itself (20261208100000; tests/integration/
-- ingest-lock-budget.test.ts shows it on a native server) and leaves the caller's setting alone.
set local lock_timeout = '7s';
select ok(api.ingest_slack_messages('[{"team_id": "T0SLACKA", "bot_user_id": "U0BOTA", "external_id": "C1:1.0",
  "thread_key": "C1:1.0", "external_user_id": "U1", "text": "Where is my order?"}]') -> 0 -> 'result' ->> 'duplicate' = 'true',
  'a batch of one redelivered message');
select is(current_setting('lock_timeout'), '7s', 'leaves the caller''s lock_timeout as it was');
reset role;
select is((select count(*)::integer from app.messages m where m.external_id like 'C1:%'), 2,
  'two messages stored in all: team A''s and team B''s');

-- Configured, a batch of two tenants' messages wakes the worker once, after the last one.
select app.configure_functions('http://127.0.0.1:54321/functions/v1', 'wake-test-secret-0123456789abcdef0123');
create temp table baseline as select coalesce(max(id), 0) as id from net.http_request_queue;
select set_config('konstruct.worker_woken', '', true); -- as in a new transaction
select tests.become('service');
select jsonb_array_length(api.ingest_slack_messages('[
  {"team_id": "T0SLACKA", "bot_user_id": "U0BOTA", "external_id": "C2:1.0", "thread_key": "C2:1.0",
   "external_user_id": "U1", "text": "first"},
  {"team_id": "T0SLACKB", "bot_user_id": "U0BOTB", "external_id": "C2:1.0", "thread_key": "C2:1.0",
   "external_user_id": "U1", "text": "second"}
]'));
reset role;
select is((select array_agg(q.url) from net.http_request_queue q where q.id > (select id from baseline)),
  array['http://127.0.0.1:54321/functions/v1/agent-worker'], 'two messages in one batch wake the worker once');
select is(current_setting('konstruct.worker_woken', true), 'agent-worker',
  'and the transaction remembers it as woken, as one enqueue would');

select * from finish();
rollback;
