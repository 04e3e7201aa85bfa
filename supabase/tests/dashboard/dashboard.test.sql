-- The dashboard (api.get_dashboard) against the raw rows: traffic of two agents on two
-- channels over two months is written as messages, usage, escalations, takeovers and member
-- replies (the triggers keep the daily rollups); every figure the dashboard shows is then
-- recounted here from app.conversations, app.messages and app.usage_events and must agree,
-- in total, per agent and per channel. Test chat traffic never counts; another tenant never
-- sees or moves the numbers; and the dashboard reads its rollups through their index, never
-- the history, however many days there are.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(29);

-- A second agent in tenant A.
select tests.claims('owner');
insert into tests.fx values ('agent2', api.deploy_agent_template(tests.get('tenant')::uuid, 'sales_assistant', 'Bo A') ->> 'id');
select set_config('request.jwt.claims', '', true);

-- 40 conversations: web chat and WhatsApp, agent A and Bo, over the last 10 days and five
-- of them 45 days ago; contacts write once or twice, the agent answers three in four after
-- 1 s to 7 min; a test chat conversation on top.
create temp table traffic as
select i, gen_random_uuid() as id,
  case when i % 3 = 0 then 'whatsapp' else 'web_chat' end as channel,
  case when i % 3 = 0 then tests.get('wa_channel') else tests.get('web_channel') end::uuid as connection_id,
  case when i % 5 = 0 then tests.get('agent2') else tests.get('agent') end::uuid as agent_id,
  case when i > 35 then now() - interval '45 days' - make_interval(mins => i)
    else now() - make_interval(days => i % 10, mins => i) end as started_at,
  i % 4 <> 0 as answered,
  1 + (i * 37) % 420 as wait_seconds
from generate_series(1, 40) i;
insert into app.conversations (id, tenant_id, connection_id, channel, thread_key, agent_id, created_at)
select t.id, tests.get('tenant')::uuid, t.connection_id, t.channel, 'dash-' || t.i, t.agent_id, t.started_at from traffic t;
insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, text, external_id, created_at)
select tests.get('tenant')::uuid, t.id, t.connection_id, 'in', 'contact', 'Question ' || k, 'dash-' || t.i || '-' || k,
  t.started_at + make_interval(secs => 1 + 100 * (k - 1))
from traffic t cross join generate_series(1, 2) k
where k = 1 or t.i % 2 = 0
order by t.i, k;
insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, agent_id, text,
  idempotency_key, created_at)
select tests.get('tenant')::uuid, t.id, t.connection_id, 'out', 'agent', t.agent_id, 'Answer ' || k,
  'dash:' || t.i || ':' || k, t.started_at + make_interval(secs => 1 + t.wait_seconds + 500 * (k - 1))
from traffic t cross join generate_series(1, 2) k
where t.answered
order by t.i, k;
-- A system notice is not a message anybody wrote.
insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, text, created_at)
select tests.get('tenant')::uuid, t.id, t.connection_id, 'out', 'system', 'The agent is away', t.started_at + interval '1 hour'
from traffic t where t.i = 1;

-- The test chat: a visitor marked as a member's test, its conversation through ingest.
insert into app.test_chat_visitors (connection_id, visitor_id, tenant_id, started_by)
values (tests.get('web_channel')::uuid, 'tester', tests.get('tenant')::uuid, tests.uid('owner'));
select api.ingest_message(tests.get('web_channel')::uuid, 'test-1', 'tester', 'tester', 'Is this thing on?');
select api.record_reply(tests.get('tenant')::uuid, c.id, 'It is.', 'dash:test') from app.conversations c
where c.connection_id = tests.get('web_channel')::uuid and c.thread_key = 'tester';

-- Hand-offs: the agent escalates every sixth, an admin takes over or replies to every
-- seventh (42 would be both: counted once).
create temp table handed as select t.id from traffic t where t.i % 6 = 0 or t.i % 7 = 0;
select api.escalate_conversation(tests.get('tenant')::uuid, t.id, 'Asked for a person') from traffic t where t.i % 6 = 0;
select tests.claims('owner');
select api.takeover_conversation(t.id) from traffic t where t.i = 7;
select api.reply_as_member(t.id, 'A person here') from traffic t where t.i in (14, 21, 28, 35);
select set_config('request.jwt.claims', '', true);

-- Cost: one model call per conversation, retried once (counted once), and one 45 days ago.
select api.record_usage(tests.get('tenant')::uuid, 'gpt-4o-mini', 100 + t.i, 10, 0.0001 * t.i, null, t.id, 'chat', 'dash-usage:' || t.i)
from traffic t, generate_series(1, 2) attempt;
insert into app.usage_events (tenant_id, agent_id, channel, model, input_tokens, output_tokens, cost_usd, occurred_at)
values (tests.get('tenant')::uuid, tests.get('agent')::uuid, 'web_chat', 'gpt-4o-mini', 5000, 500, 0.5, now() - interval '45 days');

-- The last 30 days (UTC), and what the raw rows say about them.
create temp table period as select app.utc_day(now()) - 29 as first_day, app.utc_day(now()) as last_day;
grant select on period to public;
create temp table expected_conversations as
select c.id, c.agent_id, c.channel,
  (select min(m.created_at) from app.messages m where m.conversation_id = c.id and m.author_kind = 'contact') as first_in,
  (c.id in (select h.id from handed h) or c.status in ('waiting_for_human', 'human')) as handed_off
from app.conversations c, period p
where c.tenant_id = tests.get('tenant')::uuid and not c.is_test and app.utc_day(c.created_at) between p.first_day and p.last_day;
alter table expected_conversations add column first_out timestamptz;
update expected_conversations e set first_out = (select min(m.created_at) from app.messages m
  where m.conversation_id = e.id and m.author_kind = 'agent' and m.created_at >= e.first_in)
where true;
create temp table expected_messages as
select m.id, coalesce(m.agent_id, c.agent_id) as agent_id, c.channel from app.messages m join app.conversations c on c.id = m.conversation_id, period p
where m.tenant_id = tests.get('tenant')::uuid and not c.is_test and m.author_kind <> 'system'
  and app.utc_day(m.created_at) between p.first_day and p.last_day;
create temp table expected_usage as
select u.agent_id, u.channel, u.input_tokens + u.output_tokens as tokens, u.cost_usd from app.usage_events u, period p
where u.tenant_id = tests.get('tenant')::uuid and app.utc_day(u.occurred_at) between p.first_day and p.last_day;
create temp table expected_waiting as
select c.agent_id, c.channel from app.conversations c
where c.tenant_id = tests.get('tenant')::uuid and c.status = 'waiting_for_human' and not c.is_test;

-- What the admin sees.
select tests.become('admin');
create temp table shown as
select api.get_dashboard(tests.get('tenant')::uuid, p.first_day, p.last_day) as d from period p;
reset role;

select ok((select count(*) from expected_conversations) between 30 and 40 and (select count(*) from expected_waiting) > 0,
  'the fixture has conversations in the period and hand-offs waiting');
select is((select (d -> 'totals' ->> 'conversations')::bigint from shown), (select count(*) from expected_conversations),
  'conversations started in the period, test chat excluded');
select is((select (d -> 'totals' ->> 'messages')::bigint from shown), (select count(*) from expected_messages),
  'messages written in the period (contacts, agents, members; no system notices, no test chat)');
select is((select (d -> 'totals' ->> 'messages_member')::bigint from shown),
  (select count(*) from expected_messages e join app.messages m on m.id = e.id where m.author_kind = 'member'),
  'messages members wrote');
select is((select (d -> 'totals' ->> 'answered')::bigint from shown),
  (select count(*) from expected_conversations where first_out is not null), 'conversations the agents answered');
select is((select (d -> 'totals' ->> 'handed_off')::bigint from shown),
  (select count(*) from expected_conversations where handed_off), 'conversations handed to a human, each once');
select is((select (d -> 'totals' ->> 'answered_without_human')::bigint from shown),
  (select count(*) from expected_conversations where first_out is not null and not handed_off),
  'conversations the agents answered without a human');
select is((select (d -> 'totals' ->> 'answered_without_human_share')::numeric from shown),
  (select round(count(*) filter (where first_out is not null and not handed_off)::numeric / count(*), 4) from expected_conversations),
  'the share answered without a human');
select is((select app.response_bucket((d -> 'totals' ->> 'median_first_response_seconds')::numeric) from shown),
  (select app.response_bucket(percentile_disc(0.5) within group (order by extract(epoch from first_out - first_in)))
   from expected_conversations where first_out is not null),
  'the median first-response time falls in the range of the true median');
select is((select (d -> 'totals' ->> 'waiting')::bigint from shown), (select count(*) from expected_waiting),
  'hand-offs waiting now');
select is((select (d -> 'totals' ->> 'cost_usd')::numeric from shown), (select sum(cost_usd) from expected_usage),
  'cost in the period, a retried record counted once, the older one left out');
select is((select (d -> 'totals' ->> 'tokens')::bigint from shown), (select sum(tokens)::bigint from expected_usage),
  'tokens in the period');

-- Per agent and per channel, every figure.
select set_eq(
  $$select (a ->> 'agent_id')::uuid as agent, (a ->> 'conversations')::bigint as conversations,
      (a ->> 'messages')::bigint as messages, (a ->> 'answered_without_human')::bigint as without_human,
      (a ->> 'handed_off')::bigint as handed_off, (a ->> 'waiting')::bigint as waiting, (a ->> 'cost_usd')::numeric as cost
    from shown, jsonb_array_elements(d -> 'by_agent') a$$,
  $$select k.agent_id,
      (select count(*) from expected_conversations e where e.agent_id = k.agent_id) as conversations,
      (select count(*) from expected_messages e where e.agent_id = k.agent_id) as messages,
      (select count(*) from expected_conversations e where e.agent_id = k.agent_id and e.first_out is not null and not e.handed_off) as without_human,
      (select count(*) from expected_conversations e where e.agent_id = k.agent_id and e.handed_off) as handed_off,
      (select count(*) from expected_waiting e where e.agent_id = k.agent_id) as waiting,
      coalesce((select sum(e.cost_usd) from expected_usage e where e.agent_id = k.agent_id), 0) as cost
    from (select agent_id from expected_conversations union select agent_id from expected_usage) k$$,
  'per agent: conversations, messages, answered without a human, handed off, waiting, cost');
select set_eq(
  $$select a ->> 'channel' as channel, (a ->> 'conversations')::bigint as conversations,
      (a ->> 'messages')::bigint as messages, (a ->> 'answered_without_human')::bigint as without_human,
      (a ->> 'handed_off')::bigint as handed_off, (a ->> 'waiting')::bigint as waiting, (a ->> 'cost_usd')::numeric as cost
    from shown, jsonb_array_elements(d -> 'by_channel') a$$,
  $$select k.channel,
      (select count(*) from expected_conversations e where e.channel = k.channel) as conversations,
      (select count(*) from expected_messages e where e.channel = k.channel) as messages,
      (select count(*) from expected_conversations e where e.channel = k.channel and e.first_out is not null and not e.handed_off) as without_human,
      (select count(*) from expected_conversations e where e.channel = k.channel and e.handed_off) as handed_off,
      (select count(*) from expected_waiting e where e.channel = k.channel) as waiting,
      coalesce((select sum(e.cost_usd) from expected_usage e where e.channel is not distinct from k.channel), 0) as cost
    from (select channel from expected_conversations union select channel from expected_usage) k$$,
  'per channel: conversations, messages, answered without a human, handed off, waiting, cost');
select is((select array_agg(a ->> 'name' order by a ->> 'name') from shown, jsonb_array_elements(d -> 'by_agent') a),
  array['Ava A', 'Bo A'], 'agents are shown by name');
select set_eq(
  $$select app.response_bucket((a ->> 'median_first_response_seconds')::numeric) as bucket, a ->> 'channel' as channel
    from shown, jsonb_array_elements(d -> 'by_channel') a$$,
  $$select app.response_bucket(percentile_disc(0.5) within group (order by extract(epoch from first_out - first_in))) as bucket, channel
    from expected_conversations where first_out is not null group by channel$$,
  'per channel, the median first-response time falls in the range of the true median');
select ok(
  (select (sum((x ->> 'conversations')::numeric), sum((x ->> 'messages')::numeric), sum((x ->> 'cost_usd')::numeric))
   from shown, jsonb_array_elements(d -> 'by_day') x)
  = (select ((d -> 'totals' ->> 'conversations')::numeric, (d -> 'totals' ->> 'messages')::numeric,
      (d -> 'totals' ->> 'cost_usd')::numeric) from shown),
  'the days add up to the totals');

-- A shorter period: the last 7 days.
select is(
  tests.value_as('operator', format($$select api.get_dashboard(%L, %L, %L) -> 'totals' ->> 'conversations'$$,
    tests.get('tenant'), app.utc_day(now()) - 6, app.utc_day(now()))),
  (select count(*)::text from app.conversations c
   where c.tenant_id = tests.get('tenant')::uuid and not c.is_test and app.utc_day(c.created_at) >= app.utc_day(now()) - 6),
  'an operator sees the last 7 days');
select is(
  tests.value_as('admin', format($$select api.get_dashboard(%L, %L, %L) -> 'totals' ->> 'cost_usd'$$,
    tests.get('tenant'), app.utc_day(now()) - 89, app.utc_day(now())))::numeric,
  (select sum(u.cost_usd) from app.usage_events u where u.tenant_id = tests.get('tenant')::uuid),
  'the last 90 days include the model call of 45 days ago');
select is(
  tests.value_as('admin', format($$select api.get_dashboard(%L) -> 'totals' ->> 'conversations'$$, tests.get('tenant'))),
  (select count(*)::text from app.conversations c
   where c.tenant_id = tests.get('tenant')::uuid and not c.is_test and c.created_at >= date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'),
  'without a period: this billing period (the UTC month so far)');

-- Who may look, and bad periods.
select is(tests.outcome('stranger', format($$select api.get_dashboard(%L)$$, tests.get('tenant'))), '42501',
  'a member of another tenant cannot read the dashboard');
select is(tests.outcome('anon', format($$select api.get_dashboard(%L)$$, tests.get('tenant'))), '42501',
  'anonymous callers cannot read the dashboard');
select is(tests.outcome('admin', format($$select api.get_dashboard(%L, %L, %L)$$, tests.get('tenant'), '2026-03-02', '2026-03-01')),
  '22023', 'a period that runs backward is refused');
select is(tests.outcome('admin', format($$select api.get_dashboard(%L, %L, %L)$$, tests.get('tenant'), '2024-01-01', '2026-01-01')),
  '22023', 'a period longer than 400 days is refused');
select is(
  tests.value_as('stranger', format($$select api.get_dashboard(%L) -> 'totals' ->> 'messages'$$, tests.get('tenant_b'))),
  (select count(*)::text from app.messages m where m.tenant_id = tests.get('tenant_b')::uuid
     and m.created_at >= date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'),
  'tenant B sees its own messages only');
select is(tests.outcome('owner', format($$insert into app.activity_days (tenant_id, day, conversations) values (%L, current_date, 1000)$$,
    tests.get('tenant'))), '42501', 'members cannot write the counters');

-- Reads stay bounded: tenant B gets three years of rollups for nine agents, and 30,000
-- conversations (none waiting); the dashboard over 90 days reads its 90 days by the index
-- and no conversation at all.
insert into app.activity_days (tenant_id, day, agent_id, channel, conversations, messages_in, cost_usd)
select tests.get('tenant_b')::uuid, app.utc_day(now()) - d, gen_random_uuid(), 'web_chat', 3, 9, 0.01
from generate_series(0, 1100) d cross join generate_series(1, 9) a;
insert into app.response_days (tenant_id, day, agent_id, channel, bucket, conversations)
select tests.get('tenant_b')::uuid, app.utc_day(now()) - d, null, 'web_chat', 1 + d % 20, 3
from generate_series(0, 1100) d;
alter table app.conversations disable trigger user;
insert into app.conversations (tenant_id, connection_id, channel, thread_key, status, created_at)
select tests.get('tenant_b')::uuid, tests.get('web_channel_b')::uuid, 'web_chat', 'volume-' || i,
  case when i % 2 = 0 then 'closed' else 'open' end, now() - make_interval(mins => i)
from generate_series(1, 5000) i;
alter table app.conversations enable trigger user;
analyze app.activity_days, app.response_days, app.conversations;

create temp table reads_before as
select c.relname, pg_stat_get_xact_numscans(c.oid) as seq_scans,
  pg_stat_get_xact_tuples_returned(c.oid) + pg_stat_get_xact_tuples_fetched(c.oid) as tuples
from pg_class c where c.oid in ('app.activity_days'::regclass, 'app.response_days'::regclass, 'app.conversations'::regclass);
select tests.become('stranger');
create temp table volume_shown as
select api.get_dashboard(tests.get('tenant_b')::uuid, app.utc_day(now()) - 89, app.utc_day(now())) as d;
reset role;
select set_config('request.jwt.claims', '', true);
create temp table reads as
select c.relname, pg_stat_get_xact_numscans(c.oid) - b.seq_scans as seq_scans,
  pg_stat_get_xact_tuples_returned(c.oid) + pg_stat_get_xact_tuples_fetched(c.oid) - b.tuples as tuples
from pg_class c join reads_before b on b.relname = c.relname;

select is((select (d -> 'totals' ->> 'conversations')::bigint from volume_shown), 90 * 9 * 3::bigint + 1,
  'the volume tenant''s 90 days add up (and its fixture conversation)');
select is((select sum(seq_scans) from reads), 0::numeric,
  'the dashboard scans no table sequentially (rollups and waiting conversations through their indexes)');
select cmp_ok((select sum(tuples) from reads), '<=', 90 * 9 + 90 + 9 + 50::numeric,
  'the dashboard reads only the period''s rollup rows (' || (select sum(tuples) from reads) || '), not 3 years nor 5,000 conversations');

select * from finish();
rollback;
