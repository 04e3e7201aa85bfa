-- The dashboard: how a tenant's AI workforce is doing, per day, agent and channel.
--
-- The portal's dashboard (api.get_dashboard) shows conversations and messages, the share
-- the agents answered without a human, the median first-response time, hand-offs waiting
-- and cost over 7 to 400 days. Counting that from app.messages and app.usage_events grows
-- with history, so triggers keep daily rollups in the same transaction as the event:
-- app.activity_days (counters per UTC day, agent and channel) and app.response_days
-- (first-response times as a histogram, so a median needs no raw rows). The dashboard then
-- reads at most days × agents × channels rollup rows by their primary key's prefix, and the
-- conversations waiting for a human through a partial index that holds only those.
--
-- What is counted (test chat conversations never are; cost is, like the usage page):
-- - conversations: started that day (the day of their first row), by their agent and channel;
-- - messages_in / messages_agent / messages_member: messages written that day;
-- - answered: conversations the agent answered (its first reply), on the conversation's day;
-- - handed_off: conversations that went to a human (escalated or taken over) at least once,
--   on the conversation's day; handed_off_after_answer: those of them the agent had answered
--   first, so answered - handed_off_after_answer = answered without a human;
-- - tokens / cost_usd: model usage that day (app.usage_events);
-- - ratings / rating_sum / ratings_good: visitors' ratings (1 to 5; good = 4 or 5) of
--   conversations of that day (20261206096100_conversation_ratings.sql).

alter table app.conversations add column handed_off_at timestamptz;
comment on column app.conversations.handed_off_at is 'When the conversation first went to a human (waiting_for_human or human); null: never.';

-- When the contact first wrote and the agent first answered, beside the conversation rather
-- than in it: stamping them is then no second update of the conversation (and no second
-- conversation_changed broadcast) on a message's path.
create table app.conversation_milestones (
  conversation_id uuid primary key,
  tenant_id uuid not null,
  first_inbound_at timestamptz not null,
  first_response_at timestamptz,
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade
);
comment on table app.conversation_milestones is 'When the contact first wrote in a conversation and when the agent first answered after it (null: not yet): the dashboard''s first-response time. Written by the messages trigger (app.count_message); members read it.';

-- Hand-offs waiting, counted per tenant from the conversations waiting now only.
create index conversations_waiting_idx on app.conversations (tenant_id, agent_id, channel)
  where status = 'waiting_for_human';

create table app.activity_days (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  day date not null,
  -- No foreign key: the numbers outlive a deleted agent, like usage_events. Null: no agent.
  agent_id uuid,
  -- Null: usage not tied to a channel (an embedding for knowledge).
  channel text check (channel in ('slack', 'whatsapp', 'web_chat')),
  conversations bigint not null default 0,
  messages_in bigint not null default 0,
  messages_agent bigint not null default 0,
  messages_member bigint not null default 0,
  answered bigint not null default 0,
  handed_off bigint not null default 0,
  handed_off_after_answer bigint not null default 0,
  tokens bigint not null default 0,
  cost_usd numeric(16, 6) not null default 0,
  -- Visitors' ratings of closed conversations (app.conversation_ratings), on the conversation's day.
  ratings bigint not null default 0,
  rating_sum bigint not null default 0,
  ratings_good bigint not null default 0,
  constraint activity_days_key unique nulls not distinct (tenant_id, day, agent_id, channel)
);
comment on table app.activity_days is 'A tenant''s activity per UTC day, agent and channel, counted by triggers in the same transaction as the event (test chat conversations excluded): conversations started, messages in / by the agent / by members, conversations answered by the agent, handed to a human (and of those, after the agent answered), model tokens and cost. What the dashboard reads. Members read it; written by the database only.';

create table app.response_days (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  day date not null,
  agent_id uuid,
  channel text not null check (channel in ('slack', 'whatsapp', 'web_chat')),
  -- app.response_bucket: which range of seconds the agent's first reply took.
  bucket smallint not null,
  conversations bigint not null default 0,
  constraint response_days_key unique nulls not distinct (tenant_id, day, channel, agent_id, bucket)
);
comment on table app.response_days is 'First-response times (contact''s first message to the agent''s first reply) as a histogram per UTC day of the conversation, agent and channel: how many conversations fell in each app.response_bucket. The dashboard''s median reads it instead of the conversations. Members read it; written by the database only.';

create function app.response_bounds()
returns numeric[]
language sql
immutable
as $$
  select array[1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600, 7200, 14400, 28800,
    86400, 172800, 604800]::numeric[]
$$;
comment on function app.response_bounds() is 'Upper bounds in seconds of the first-response histogram''s buckets (app.response_days); bucket i holds times in (bound i-1, bound i], the last bucket (one past the array) anything longer.';

create function app.response_bucket(seconds numeric)
returns smallint
language sql
immutable
as $$
  select coalesce((select min(b.i) from unnest(app.response_bounds()) with ordinality b (bound, i)
                   where response_bucket.seconds <= b.bound),
                  cardinality(app.response_bounds()) + 1)::smallint
$$;
comment on function app.response_bucket(numeric) is 'The first-response histogram bucket (1-based) that a time in seconds falls in (app.response_bounds).';

create function app.count_activity(tenant_id uuid, day date, agent_id uuid, channel text, conversations bigint default 0,
  messages_in bigint default 0, messages_agent bigint default 0, messages_member bigint default 0, answered bigint default 0,
  handed_off bigint default 0, handed_off_after_answer bigint default 0, tokens bigint default 0,
  cost_usd numeric default 0)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into app.activity_days as d (tenant_id, day, agent_id, channel, conversations, messages_in, messages_agent,
    messages_member, answered, handed_off, handed_off_after_answer, tokens, cost_usd)
  values (count_activity.tenant_id, count_activity.day, count_activity.agent_id, count_activity.channel,
    count_activity.conversations, count_activity.messages_in, count_activity.messages_agent,
    count_activity.messages_member, count_activity.answered, count_activity.handed_off,
    count_activity.handed_off_after_answer, count_activity.tokens, count_activity.cost_usd)
  on conflict on constraint activity_days_key do update
    set conversations = d.conversations + excluded.conversations,
      messages_in = d.messages_in + excluded.messages_in,
      messages_agent = d.messages_agent + excluded.messages_agent,
      messages_member = d.messages_member + excluded.messages_member,
      answered = d.answered + excluded.answered,
      handed_off = d.handed_off + excluded.handed_off,
      handed_off_after_answer = d.handed_off_after_answer + excluded.handed_off_after_answer,
      tokens = d.tokens + excluded.tokens,
      cost_usd = d.cost_usd + excluded.cost_usd
$$;
comment on function app.count_activity(uuid, date, uuid, text, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, numeric) is 'Adds to one row of app.activity_days (creating it): the one writer of the dashboard''s counters, called by its triggers.';

create function app.utc_day(moment timestamptz)
returns date
language sql
immutable
as $$
  select (utc_day.moment at time zone 'UTC')::date
$$;
comment on function app.utc_day(timestamptz) is 'The UTC calendar day of a moment (the dashboard''s days).';

-- A new conversation: counted on its day.
create function app.count_conversation_started()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not new.is_test then
    perform app.count_activity(new.tenant_id, app.utc_day(new.created_at), new.agent_id, new.channel, conversations => 1);
  end if;
  return null;
end
$$;
comment on function app.count_conversation_started() is 'After-insert trigger on conversations: counts a non-test conversation on its UTC day, agent and channel (app.activity_days).';

create trigger conversations_count_started after insert on app.conversations
  for each row execute function app.count_conversation_started();

-- A conversation that goes to a human for the first time: stamped and counted once.
create function app.count_handoff()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.status in ('waiting_for_human', 'human') and new.handed_off_at is null then
    new.handed_off_at := now();
    if not new.is_test then
      perform app.count_activity(new.tenant_id, app.utc_day(new.created_at), new.agent_id, new.channel, handed_off => 1,
        handed_off_after_answer => case when exists (select 1 from app.conversation_milestones s
          where s.conversation_id = new.id and s.first_response_at is not null) then 1 else 0 end);
    end if;
  end if;
  return new;
end
$$;
comment on function app.count_handoff() is 'Before-update trigger on conversations: the first time one goes to a human (waiting_for_human or human) sets handed_off_at and counts it as handed off on the conversation''s day (app.activity_days), and as handed off after an answer when the agent had answered.';

create trigger conversations_count_handoff before update of status on app.conversations
  for each row execute function app.count_handoff();

-- A message: counted on its day; the contact's first and the agent's first stamp the
-- conversation, and the agent's first reply adds its time to the histogram.
create function app.count_message()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  c record;
  inbound_at timestamptz;
begin
  if new.author_kind = 'system' then
    return null;
  end if;
  select v.is_test, v.agent_id, v.channel, v.created_at into c from app.conversations v where v.id = new.conversation_id;
  if not found or c.is_test then
    return null;
  end if;
  perform app.count_activity(new.tenant_id, app.utc_day(new.created_at), coalesce(new.agent_id, c.agent_id), c.channel,
    messages_in => case when new.author_kind = 'contact' then 1 else 0 end,
    messages_agent => case when new.author_kind = 'agent' then 1 else 0 end,
    messages_member => case when new.author_kind = 'member' then 1 else 0 end);
  if new.author_kind = 'contact' then
    insert into app.conversation_milestones (conversation_id, tenant_id, first_inbound_at)
    values (new.conversation_id, new.tenant_id, new.created_at)
    on conflict (conversation_id) do nothing;
  elsif new.author_kind = 'agent' then
    update app.conversation_milestones s set first_response_at = new.created_at
    where s.conversation_id = new.conversation_id and s.first_response_at is null
    returning s.first_inbound_at into inbound_at;
    if found then
      perform app.count_activity(new.tenant_id, app.utc_day(c.created_at), c.agent_id, c.channel, answered => 1);
      insert into app.response_days as r (tenant_id, day, agent_id, channel, bucket, conversations)
      values (new.tenant_id, app.utc_day(c.created_at), c.agent_id, c.channel,
        app.response_bucket(greatest(extract(epoch from new.created_at - inbound_at), 0)), 1)
      on conflict on constraint response_days_key do update set conversations = r.conversations + 1;
    end if;
  end if;
  return null;
end
$$;
comment on function app.count_message() is 'After-insert trigger on messages (not system notices, not test conversations): counts the message on its UTC day, agent and channel (app.activity_days); the contact''s first message stamps app.conversation_milestones; the agent''s first reply after it stamps its first_response_at, counts the conversation as answered and adds its wait to the first-response histogram (app.response_days).';

create trigger messages_count_activity after insert on app.messages
  for each row execute function app.count_message();

create function app.count_usage_activity()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform app.count_activity(new.tenant_id, app.utc_day(new.occurred_at), new.agent_id, new.channel,
    tokens => new.input_tokens + new.output_tokens, cost_usd => new.cost_usd);
  return null;
end
$$;
comment on function app.count_usage_activity() is 'After-insert trigger on usage_events: adds the event''s tokens and cost to its UTC day, agent and channel (app.activity_days). A duplicate record inserts no row, so it never counts twice.';

-- Named to fire before usage_events_count (triggers fire in name order): every writer then
-- takes the day's row before the month's counters, as ingest does, so none deadlock.
create trigger usage_events_activity after insert on app.usage_events
  for each row execute function app.count_usage_activity();

-- History before this migration: the stamps and the rollups recounted once.
insert into app.conversation_milestones (conversation_id, tenant_id, first_inbound_at, first_response_at)
select f.conversation_id, f.tenant_id, f.first_inbound_at,
  (select min(m.created_at) from app.messages m
   where m.conversation_id = f.conversation_id and m.author_kind = 'agent' and m.created_at >= f.first_inbound_at)
from (select m.conversation_id, m.tenant_id, min(m.created_at) as first_inbound_at
      from app.messages m where m.author_kind = 'contact' group by m.conversation_id, m.tenant_id) f;
update app.conversations c set handed_off_at = c.updated_at
where c.status in ('waiting_for_human', 'human')
  or exists (select 1 from app.messages m where m.conversation_id = c.id and m.author_kind = 'member');

insert into app.activity_days (tenant_id, day, agent_id, channel, conversations, messages_in, messages_agent,
  messages_member, answered, handed_off, handed_off_after_answer, tokens, cost_usd)
select h.tenant_id, h.day, h.agent_id, h.channel, sum(h.conversations), sum(h.messages_in), sum(h.messages_agent),
  sum(h.messages_member), sum(h.answered), sum(h.handed_off), sum(h.handed_off_after_answer), sum(h.tokens), sum(h.cost_usd)
from (
  select c.tenant_id, app.utc_day(c.created_at) as day, c.agent_id, c.channel, 1 as conversations, 0 as messages_in,
    0 as messages_agent, 0 as messages_member, (s.first_response_at is not null)::int as answered,
    (c.handed_off_at is not null)::int as handed_off,
    (c.handed_off_at is not null and s.first_response_at is not null)::int as handed_off_after_answer,
    0::bigint as tokens, 0::numeric as cost_usd
  from app.conversations c left join app.conversation_milestones s on s.conversation_id = c.id
  where not c.is_test
  union all
  select m.tenant_id, app.utc_day(m.created_at), coalesce(m.agent_id, c.agent_id), c.channel, 0,
    (m.author_kind = 'contact')::int, (m.author_kind = 'agent')::int, (m.author_kind = 'member')::int, 0, 0, 0, 0, 0
  from app.messages m join app.conversations c on c.id = m.conversation_id
  where not c.is_test and m.author_kind <> 'system'
  union all
  select u.tenant_id, app.utc_day(u.occurred_at), u.agent_id, u.channel, 0, 0, 0, 0, 0, 0, 0,
    u.input_tokens + u.output_tokens, u.cost_usd
  from app.usage_events u
) h
group by h.tenant_id, h.day, h.agent_id, h.channel;

insert into app.response_days (tenant_id, day, agent_id, channel, bucket, conversations)
select c.tenant_id, app.utc_day(c.created_at), c.agent_id, c.channel,
  app.response_bucket(extract(epoch from s.first_response_at - s.first_inbound_at)), count(*)
from app.conversations c join app.conversation_milestones s on s.conversation_id = c.id
where not c.is_test and s.first_response_at is not null
group by 1, 2, 3, 4, 5;

alter table app.conversation_milestones enable row level security;
alter table app.conversation_milestones force row level security;
create policy "members can read their tenant's conversation milestones" on app.conversation_milestones
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.conversation_milestones to authenticated;
grant select, insert, update, delete on app.conversation_milestones to service_role;
alter table app.activity_days enable row level security;
alter table app.activity_days force row level security;
alter table app.response_days enable row level security;
alter table app.response_days force row level security;
create policy "members can read their tenant's daily activity" on app.activity_days
  for select to authenticated using (app.can_read(tenant_id));
create policy "members can read their tenant's first-response times" on app.response_days
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.activity_days, app.response_days to authenticated;
grant select, insert, update, delete on app.activity_days, app.response_days to service_role;

-- The median of a histogram's rows (bucket, count) as seconds: the ceil(n/2)-th time (what
-- percentile_disc(0.5) returns) lies in the bucket where the running count reaches it; within
-- the bucket, times are taken as spread evenly. The open last bucket says its lower bound.
create function app.response_median(buckets jsonb)
returns numeric
language sql
immutable
set search_path = ''
as $$
  with h as (
    select (e.key)::int as bucket, (e.value)::numeric as n from jsonb_each_text(response_median.buckets) e
  ), c as (
    select h.bucket, h.n, sum(h.n) over (order by h.bucket) as running, sum(h.n) over () as total from h where h.n > 0
  )
  select case
      when c.bucket > cardinality(app.response_bounds()) then (app.response_bounds())[c.bucket - 1]
      else coalesce((app.response_bounds())[c.bucket - 1], 0)
        + ((app.response_bounds())[c.bucket] - coalesce((app.response_bounds())[c.bucket - 1], 0))
          * (ceil(c.total / 2.0) - (c.running - c.n)) / c.n
    end
  from c
  where c.running >= ceil(c.total / 2.0)
  order by c.bucket
  limit 1
$$;
comment on function app.response_median(jsonb) is 'The median first-response time in seconds of a histogram {bucket: conversations} (app.response_days): interpolated within the bucket that holds the middle conversation; null when empty.';

create function api.get_dashboard(tenant_id uuid, from_day date default null, to_day date default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  first_day date := coalesce(get_dashboard.from_day, date_trunc('month', now() at time zone 'UTC')::date);
  last_day date := coalesce(get_dashboard.to_day, app.utc_day(now()));
  result jsonb;
begin
  perform app.require_read(get_dashboard.tenant_id, 'dashboard');
  if last_day < first_day or last_day - first_day > 400 then
    raise exception 'the period must run forward and span at most 400 days' using errcode = '22023';
  end if;
  with days as (
    select d.* from app.activity_days d
    where d.tenant_id = get_dashboard.tenant_id and d.day between first_day and last_day
  ), times as (
    select r.agent_id, r.channel, r.bucket, r.conversations from app.response_days r
    where r.tenant_id = get_dashboard.tenant_id and r.day between first_day and last_day
  ), waiting as (
    select c.agent_id, c.channel, count(*) as n from app.conversations c
    where c.tenant_id = get_dashboard.tenant_id and c.status = 'waiting_for_human' and not c.is_test
    group by c.agent_id, c.channel
  ), grouped as (
    -- One row per grouping: the whole tenant (kind 'total'), each agent, each channel.
    select g.kind, g.key, sum(r.conversations) as conversations, sum(r.messages_in) as messages_in,
      sum(r.messages_agent) as messages_agent, sum(r.messages_member) as messages_member, sum(r.answered) as answered,
      sum(r.handed_off) as handed_off, sum(r.handed_off_after_answer) as handed_off_after_answer,
      sum(r.tokens) as tokens, sum(r.cost_usd) as cost_usd, sum(r.ratings) as ratings,
      sum(r.rating_sum) as rating_sum, sum(r.ratings_good) as ratings_good
    from days r
    cross join lateral (values ('total', ''), ('agent', coalesce(r.agent_id::text, '')), ('channel', coalesce(r.channel, ''))) g (kind, key)
    group by g.kind, g.key
  ), medians as (
    select m.kind, m.key, app.response_median(jsonb_object_agg(m.bucket, m.n)) as median
    from (
      select g.kind, g.key, t.bucket, sum(t.conversations) as n
      from times t
      cross join lateral (values ('total', ''), ('agent', coalesce(t.agent_id::text, '')), ('channel', t.channel)) g (kind, key)
      group by g.kind, g.key, t.bucket
    ) m
    group by m.kind, m.key
  ), waits as (
    select g.kind, g.key, sum(w.n) as n
    from waiting w
    cross join lateral (values ('total', ''), ('agent', coalesce(w.agent_id::text, '')), ('channel', w.channel)) g (kind, key)
    group by g.kind, g.key
  ), keys as (
    select g.kind, g.key from grouped g union select w.kind, w.key from waits w union select 'total', ''
  ), figures as (
    select k.kind, k.key, jsonb_build_object(
      'conversations', coalesce(g.conversations, 0),
      'messages', coalesce(g.messages_in + g.messages_agent + g.messages_member, 0),
      'messages_in', coalesce(g.messages_in, 0),
      'messages_agent', coalesce(g.messages_agent, 0),
      'messages_member', coalesce(g.messages_member, 0),
      'answered', coalesce(g.answered, 0),
      'answered_without_human', coalesce(g.answered - g.handed_off_after_answer, 0),
      'handed_off', coalesce(g.handed_off, 0),
      'answered_without_human_share', case when coalesce(g.conversations, 0) > 0
        then round((g.answered - g.handed_off_after_answer)::numeric / g.conversations, 4) end,
      'median_first_response_seconds', m.median,
      'waiting', coalesce(w.n, 0),
      'tokens', coalesce(g.tokens, 0),
      'cost_usd', coalesce(g.cost_usd, 0),
      'ratings', coalesce(g.ratings, 0),
      'average_rating', case when g.ratings > 0 then round(g.rating_sum::numeric / g.ratings, 2) end,
      'good_rating_share', case when g.ratings > 0 then round(g.ratings_good::numeric / g.ratings, 4) end
    ) as f
    from keys k
    left join grouped g on g.kind = k.kind and g.key = k.key
    left join medians m on m.kind = k.kind and m.key = k.key
    left join waits w on w.kind = k.kind and w.key = k.key
  )
  select jsonb_build_object(
    'from_day', first_day,
    'to_day', last_day,
    'totals', (select f.f from figures f where f.kind = 'total'),
    'by_agent', coalesce((
      select jsonb_agg(f.f || jsonb_build_object('agent_id', nullif(f.key, '')::uuid,
          'name', coalesce(a.name, case when f.key = '' then 'No agent' else 'Deleted agent' end))
        order by coalesce(a.name, '~'), f.key)
      from figures f left join app.agents a on a.id = nullif(f.key, '')::uuid and a.tenant_id = get_dashboard.tenant_id
      where f.kind = 'agent'), '[]'::jsonb),
    'by_channel', coalesce((
      select jsonb_agg(f.f || jsonb_build_object('channel', nullif(f.key, '')) order by f.key)
      from figures f where f.kind = 'channel'), '[]'::jsonb),
    'by_day', coalesce((
      select jsonb_agg(jsonb_build_object('day', d.day, 'conversations', d.conversations, 'messages', d.messages,
          'cost_usd', d.cost_usd) order by d.day)
      from (select r.day, sum(r.conversations) as conversations,
              sum(r.messages_in + r.messages_agent + r.messages_member) as messages, sum(r.cost_usd) as cost_usd
            from days r group by r.day) d), '[]'::jsonb)
  ) into result;
  return result;
end
$$;
comment on function api.get_dashboard(uuid, date, date) is 'How a tenant''s AI workforce is doing from from_day to to_day (UTC days, inclusive; default: this month so far; at most 400 days): totals, by_agent, by_channel ({conversations, messages (in/agent/member), answered, answered_without_human and its share of conversations, handed_off, median_first_response_seconds, waiting (hand-offs waiting now), tokens, cost_usd, ratings, average_rating (1 to 5), good_rating_share (4 or 5)}) and by_day. Reads the daily rollups (app.activity_days, app.response_days), never the messages. Any member; 22023 for a backward or longer period.';

revoke all on function app.count_activity(uuid, date, uuid, text, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, numeric),
  app.count_conversation_started(), app.count_handoff(), app.count_message(), app.count_usage_activity()
  from public, anon, authenticated;
revoke all on function app.response_bounds(), app.response_bucket(numeric), app.response_median(jsonb), app.utc_day(timestamptz)
  from public, anon;
grant execute on function app.response_bounds(), app.response_bucket(numeric), app.response_median(jsonb), app.utc_day(timestamptz)
  to authenticated, service_role;
revoke all on function api.get_dashboard(uuid, date, date) from public, anon;
grant execute on function api.get_dashboard(uuid, date, date) to authenticated;
