-- Counters in slots: one tenant's messages no longer wait for each other.
--
-- Every inbound message added one to rows its whole tenant shares: the tenant's rate-limit
-- window (app.inbound_rate_windows), its month (app.tenant_usage) and its day of the
-- dashboard (app.activity_days, twice: the conversation's and the message's trigger). An
-- update holds its row until commit, so a tenant's concurrent ingests queued on these rows
-- one after the other (four pgbench clients: 364 ingests/s, one client 300/s).
--
-- Now each such counter is a small set of rows, the slots of its key (a new column `slot`
-- in the key). A writer takes the first slot no other transaction holds (app.counter_slot:
-- a transaction-level advisory lock per key and slot, tried without waiting) and adds to that
-- slot's row, so no writer waits for another, not even when two create a key's rows at
-- once; a key never has more slots than writers were ever at once (it does not grow with
-- history). Readers sum the slots. Sums stay exact: each event is still added once, in the
-- transaction that stores it (a retried or duplicate event stores nothing, so adds nothing),
-- and a sum sees every committed addition.
--
-- What becomes approximate, and by how much: a limit checked in the writer's transaction
-- (the rate limit per tenant and per sender, the plan's monthly messages) reads the other
-- slots as committed, so it misses the additions of other ingests of the same tenant that
-- are in flight at that moment. Each of them holds one slot, so the count read is low by
-- at most the number of that tenant's concurrent ingests minus one (bounded by the
-- connections of the pool: 8 at most in flight from one webhook in our benches); a limit
-- of N admits at most N + that many in a window or a month, never fewer than N. The
-- counters themselves stay exact.
--
-- app.agent_usage keeps one row per agent and month: only the worker's model calls of one
-- agent add to it, not an inbound message; app.response_days likewise (an agent's first
-- replies). app.count_rating writes slot 0 of app.activity_days, as before. A usage event
-- (the usage_events trigger, app.count_usage_event) adds to the tenant's month through
-- app.add_tenant_usage; that trigger is redefined once, with the test chat left out of the
-- plan, in 20261206106000_test_chat_usage.
--
-- app.count_inbound counts one inbound message against both short-term windows in one
-- statement: it reads the six settings rows at once (a tenant's own '<key>:<tenant id>' before
-- the platform's '<key>'), upserts the tenant's and the sender's slots in one insert (the
-- tenant's row first, so concurrent ingests lock them in the same order) and sums both windows
-- in one select; it was eleven statements in six calls. Slot 0 of a window is the row created
-- first, so app.claim_rate_limit_effects and the housekeeping of a new window read it as
-- before. app.inbound_rate_value is the one reading of a setting's text, shared with
-- app.inbound_rate_setting.
--
-- app.count_activity is PL/pgSQL: a SQL function with `set search_path` is never inlined and
-- PostgreSQL 15 and 17 plan it again on every call (0.12 ms a call, of which its upsert was
-- 0.03 ms, up to twice per inbound message); PL/pgSQL keeps the statement's plan for the
-- session.

-- 1. The slots.
alter table app.inbound_rate_windows add column slot smallint not null default 0 check (slot >= 0);
alter table app.inbound_rate_windows drop constraint inbound_rate_windows_pkey;
alter table app.inbound_rate_windows
  add constraint inbound_rate_windows_pkey primary key (tenant_id, scope, subject, window_start, slot);
comment on column app.inbound_rate_windows.slot is 'Which of the key''s counter rows (app.count_inbound): a window''s count is the sum over its slots. notified_at and alerted_at are claimed on slot 0.';

alter table app.tenant_usage add column slot smallint not null default 0 check (slot >= 0);
alter table app.tenant_usage drop constraint tenant_usage_pkey;
alter table app.tenant_usage add constraint tenant_usage_pkey primary key (tenant_id, period_start, slot);
comment on column app.tenant_usage.slot is 'Which of the period''s counter rows (app.add_tenant_usage): a tenant''s usage in a period is the sum over its slots.';

alter table app.activity_days add column slot smallint not null default 0 check (slot >= 0);
alter table app.activity_days drop constraint activity_days_key;
alter table app.activity_days
  add constraint activity_days_key unique nulls not distinct (tenant_id, day, agent_id, channel, slot);
comment on column app.activity_days.slot is 'Which of the day''s counter rows for this agent and channel (app.count_activity): the dashboard sums them.';

-- 2. Writers.
create function app.counter_slot(key text)
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
  slot integer := 0;
  keyed integer := pg_catalog.hashtext(counter_slot.key);
begin
  -- Held until this transaction ends; taken again at once by the transaction that holds it.
  -- Another key with the same hash only makes a writer skip a slot.
  while not pg_catalog.pg_try_advisory_xact_lock(keyed, slot) loop
    slot := slot + 1;
  end loop;
  return slot;
end
$$;
comment on function app.counter_slot(text) is 'The first slot of a counter key (e.g. ''tenant_usage:<tenant>:<period>'') that no other transaction holds, held by this one until it ends (an advisory lock per key and slot, never waited for): where a writer adds to a counter kept in slots, so concurrent writers never wait for each other. Never more slots than writers at once.';
revoke all on function app.counter_slot(text) from public, anon, authenticated;
grant execute on function app.counter_slot(text) to service_role;

create function app.inbound_rate_value(raw text, fallback integer)
returns integer
language sql
immutable
as $$
  select case
    when nullif(btrim(inbound_rate_value.raw), '') is null then inbound_rate_value.fallback
    when lower(btrim(inbound_rate_value.raw)) in ('off', 'none', 'unlimited') then null
    when btrim(inbound_rate_value.raw) !~ '^[0-9]{1,9}$' then inbound_rate_value.fallback
    when btrim(inbound_rate_value.raw)::integer <= 0 then inbound_rate_value.fallback
    else btrim(inbound_rate_value.raw)::integer
  end
$$;
comment on function app.inbound_rate_value(text, integer) is 'An inbound rate limit setting''s text as a limit: empty or null = the fallback; ''off'' (or none, unlimited) = no limit (null); anything but a positive whole number = the fallback.';
revoke all on function app.inbound_rate_value(text, integer) from public, anon, authenticated;
grant execute on function app.inbound_rate_value(text, integer) to service_role;

create or replace function app.inbound_rate_setting(tenant_id uuid, key text, fallback integer)
returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return app.inbound_rate_value(coalesce(
    (select nullif(btrim(s.value), '') from app.settings s where s.key = inbound_rate_setting.key || ':' || inbound_rate_setting.tenant_id::text),
    (select nullif(btrim(s.value), '') from app.settings s where s.key = inbound_rate_setting.key)), inbound_rate_setting.fallback);
end
$$;

create or replace function app.count_inbound(tenant_id uuid, contact_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  per_tenant integer;
  per_sender integer;
  window_seconds integer;
  this_window timestamptz;
  tenant_slot integer;
  sender_slot integer;
  tenant_count integer;
  sender_count integer;
  opened boolean;
  exceeded text;
begin
  -- The three settings: a tenant's own ('<key>:<tenant id>') before the platform's ('<key>').
  select
    app.inbound_rate_value(coalesce(
      max(nullif(btrim(s.value), '')) filter (where s.key = 'inbound_rate_limit_per_tenant:' || count_inbound.tenant_id::text),
      max(nullif(btrim(s.value), '')) filter (where s.key = 'inbound_rate_limit_per_tenant')), 120),
    app.inbound_rate_value(coalesce(
      max(nullif(btrim(s.value), '')) filter (where s.key = 'inbound_rate_limit_per_sender:' || count_inbound.tenant_id::text),
      max(nullif(btrim(s.value), '')) filter (where s.key = 'inbound_rate_limit_per_sender')), 20),
    app.inbound_rate_value(coalesce(
      max(nullif(btrim(s.value), '')) filter (where s.key = 'inbound_rate_limit_window_seconds:' || count_inbound.tenant_id::text),
      max(nullif(btrim(s.value), '')) filter (where s.key = 'inbound_rate_limit_window_seconds')), 60)
  into per_tenant, per_sender, window_seconds
  from app.settings s
  where s.key in ('inbound_rate_limit_per_tenant', 'inbound_rate_limit_per_sender', 'inbound_rate_limit_window_seconds',
    'inbound_rate_limit_per_tenant:' || count_inbound.tenant_id::text,
    'inbound_rate_limit_per_sender:' || count_inbound.tenant_id::text,
    'inbound_rate_limit_window_seconds:' || count_inbound.tenant_id::text);
  window_seconds := coalesce(window_seconds, 60);
  this_window := to_timestamp(floor(extract(epoch from now()) / window_seconds) * window_seconds);

  -- A slot of each window no other transaction holds (app.counter_slot); the tenant's window
  -- first, then the sender's: always the same order.
  tenant_slot := app.counter_slot(concat_ws(':', 'inbound', count_inbound.tenant_id, 'tenant', count_inbound.tenant_id,
    extract(epoch from this_window)));
  if count_inbound.contact_id is not null then
    sender_slot := app.counter_slot(concat_ws(':', 'inbound', count_inbound.tenant_id, 'sender', count_inbound.contact_id,
      extract(epoch from this_window)));
  end if;
  with added as (
    insert into app.inbound_rate_windows as w (tenant_id, scope, subject, window_start, slot, messages)
    select count_inbound.tenant_id, v.scope, v.subject, this_window, v.slot, 1
    from (values (1, 'tenant', count_inbound.tenant_id, tenant_slot),
                 (2, 'sender', count_inbound.contact_id, sender_slot)) v (n, scope, subject, slot)
    where v.subject is not null
    order by v.n
    on conflict on constraint inbound_rate_windows_pkey do update set messages = w.messages + 1
    returning w.scope, w.slot = 0 and w.xmax = 0 as opened
  )
  select coalesce(bool_or(a.opened) filter (where a.scope = 'tenant'), false) into opened from added a;
  select
    (select sum(w.messages)::integer from app.inbound_rate_windows w
     where w.tenant_id = count_inbound.tenant_id and w.scope = 'tenant' and w.subject = count_inbound.tenant_id
       and w.window_start = this_window),
    (select sum(w.messages)::integer from app.inbound_rate_windows w
     where w.tenant_id = count_inbound.tenant_id and w.scope = 'sender' and w.subject = count_inbound.contact_id
       and w.window_start = this_window)
  into tenant_count, sender_count;
  -- Housekeeping once per tenant window: older windows are no longer needed.
  if opened then
    delete from app.inbound_rate_windows w
    where w.tenant_id = count_inbound.tenant_id and w.window_start < now() - interval '1 hour';
  end if;

  if per_tenant is not null and tenant_count > per_tenant then
    exceeded := 'tenant';
  elsif per_sender is not null and sender_count > per_sender then
    exceeded := 'sender';
  end if;
  return jsonb_build_object('limited', exceeded is not null, 'limit', exceeded,
    'tenant_messages', tenant_count, 'tenant_limit', per_tenant,
    'sender_messages', sender_count, 'sender_limit', per_sender,
    'window_start', this_window, 'window_seconds', window_seconds);
end
$$;
comment on function app.count_inbound(uuid, uuid) is 'Counts one new inbound message against its tenant''s and its sender''s (contact''s) window, each in a slot no other transaction holds (app.counter_slot; slot 0 is created first), and says whether either is over its limit: {limited, limit: tenant|sender|null, tenant_messages, tenant_limit, sender_messages, sender_limit, window_start, window_seconds}. Under concurrency a count misses the additions of the tenant''s other ingests still in flight (at most their number). Definer: the counters are closed to signed-in users.';

create or replace function app.claim_rate_limit_effects(tenant_id uuid, contact_id uuid, window_start timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  notify boolean := false;
  alert boolean := false;
begin
  -- Claimed on slot 0 of each window (the row app.add_inbound creates first): a claim may
  -- wait for the writer holding that slot, only on this path (over the limit).
  update app.inbound_rate_windows w set notified_at = now()
  where w.tenant_id = claim_rate_limit_effects.tenant_id and w.scope = 'sender'
    and w.subject = claim_rate_limit_effects.contact_id and w.window_start = claim_rate_limit_effects.window_start
    and w.slot = 0 and w.notified_at is null;
  notify := found;
  update app.inbound_rate_windows w set alerted_at = now()
  where w.tenant_id = claim_rate_limit_effects.tenant_id and w.scope = 'tenant'
    and w.subject = claim_rate_limit_effects.tenant_id and w.window_start = claim_rate_limit_effects.window_start
    and w.slot = 0 and w.alerted_at is null;
  alert := found;
  return jsonb_build_object('notify', notify, 'alert', alert);
end
$$;

create function app.add_tenant_usage(tenant_id uuid, period_start timestamptz, messages bigint default 0,
  tokens bigint default 0, cost_usd numeric default 0)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  slot integer := app.counter_slot(concat_ws(':', 'tenant_usage', add_tenant_usage.tenant_id,
    extract(epoch from add_tenant_usage.period_start)));
  total bigint;
begin
  insert into app.tenant_usage as u (tenant_id, period_start, slot, messages, tokens, cost_usd)
  values (add_tenant_usage.tenant_id, add_tenant_usage.period_start, slot, add_tenant_usage.messages,
    add_tenant_usage.tokens, add_tenant_usage.cost_usd)
  on conflict on constraint tenant_usage_pkey do update
    set messages = u.messages + excluded.messages, tokens = u.tokens + excluded.tokens,
      cost_usd = u.cost_usd + excluded.cost_usd;
  if add_tenant_usage.messages = 0 then
    return null;
  end if;
  select sum(u.messages)::bigint into total from app.tenant_usage u
  where u.tenant_id = add_tenant_usage.tenant_id and u.period_start = add_tenant_usage.period_start;
  return total;
end
$$;
comment on function app.add_tenant_usage(uuid, timestamptz, bigint, bigint, numeric) is 'Adds messages, tokens and cost to a tenant''s usage in a period, in a slot of app.tenant_usage no other transaction holds (app.counter_slot). When it adds messages, returns the period''s messages (slots summed; other transactions'' additions as committed), else null. The one writer of app.tenant_usage besides app.reconcile_usage_counters.';
revoke all on function app.add_tenant_usage(uuid, timestamptz, bigint, bigint, numeric) from public, anon, authenticated;
grant execute on function app.add_tenant_usage(uuid, timestamptz, bigint, bigint, numeric) to service_role;

create or replace function app.count_activity(tenant_id uuid, day date, agent_id uuid, channel text,
  conversations bigint default 0, messages_in bigint default 0, messages_agent bigint default 0,
  messages_member bigint default 0, answered bigint default 0, handed_off bigint default 0,
  handed_off_after_answer bigint default 0, tokens bigint default 0, cost_usd numeric default 0)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into app.activity_days as d (tenant_id, day, agent_id, channel, slot, conversations, messages_in,
    messages_agent, messages_member, answered, handed_off, handed_off_after_answer, tokens, cost_usd)
  values (count_activity.tenant_id, count_activity.day, count_activity.agent_id, count_activity.channel,
    app.counter_slot(concat_ws(':', 'activity', count_activity.tenant_id, count_activity.day, count_activity.agent_id,
      count_activity.channel)),
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
      cost_usd = d.cost_usd + excluded.cost_usd;
end
$$;
comment on function app.count_activity(uuid, date, uuid, text, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, numeric) is 'Adds to the dashboard''s counters of a day, agent and channel (app.activity_days), in a slot no other transaction holds (app.counter_slot): the one writer of those counters besides app.count_rating (slot 0), called by the dashboard''s triggers.';

-- 3. Readers sum the slots.
create or replace function app.billing_usage(tenant_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  period timestamptz := app.usage_period(now());
  used_messages bigint;
  used_tokens bigint;
begin
  -- plpgsql, not sql: its plans are kept for the session (it runs on every inbound message).
  select sum(u.messages), sum(u.tokens) into used_messages, used_tokens
  from app.tenant_usage u where u.tenant_id = billing_usage.tenant_id and u.period_start = period;
  return jsonb_build_object(
    'period_start', period,
    'agents', (select count(*) from app.agents a where a.tenant_id = billing_usage.tenant_id),
    'messages', coalesce(used_messages, 0),
    'tokens', coalesce(used_tokens, 0));
end
$$;

-- Ingest's own count of an admitted message (app.answer_inbound) takes a slot of its month
-- through app.add_tenant_usage in that function's next definition (20261206101300).
