-- app.count_inbound reads its settings once and counts both windows in one statement.
--
-- Profiled on a native PostgreSQL 15 (pg_stat_statements with track = all, bench:sql's
-- ingest_message script): counting one inbound message against the short-term rate limits
-- took eleven statements in six function calls: three calls of app.inbound_rate_setting
-- (two reads of app.settings each: the tenant's own value, then the platform's) and two of
-- app.add_inbound (an upsert of the window's slot, then a sum of its slots), one for the
-- tenant's window and one for the sender's. It now reads the six settings rows in one
-- statement, upserts the tenant's and the sender's slots in one insert (the tenant's row
-- first, as before, so concurrent ingests lock them in the same order), and sums both
-- windows in one select. Slot 0 of a window is still the row created first, so
-- app.claim_rate_limit_effects and the housekeeping on a new window are unchanged; the
-- counts, limits and result are the same (inbound_rate_limit.test.sql).
--
-- app.inbound_rate_value is the one reading of a setting's text, shared with
-- app.inbound_rate_setting. app.add_inbound had no other caller and is dropped.

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

drop function app.add_inbound(uuid, text, uuid, timestamptz);
