-- Web chat widget allowances, shared by every instance of the web-chat function.
--
-- The widget is public: anyone can open sessions and post messages with a widget key. Its
-- limits (per visitor, per client IP, per tenant) must hold however many function
-- instances serve it, so the counters live here: one row per key and fixed window, taken
-- with one upsert on the primary key. Rows of windows long gone are deleted a few at a
-- time by the calls themselves (bounded work, indexed), so the hot path never scans what
-- grows with history and the table holds only recent keys.

create table app.widget_allowances (
  key text primary key check (length(key) <= 300),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  window_started_at timestamptz not null,
  used integer not null check (used >= 0)
);
create index widget_allowances_window_idx on app.widget_allowances (window_started_at);
create index widget_allowances_tenant_id_idx on app.widget_allowances (tenant_id);
comment on table app.widget_allowances is 'Fixed-window counters of the web chat widget (keys visitor:<connection>:<visitor>, ip:<connection>:<address>, tenant:<tenant>); written only by api.take_widget_allowance; stale rows are deleted as calls go.';

alter table app.widget_allowances enable row level security;
alter table app.widget_allowances force row level security;
grant select, insert, update, delete on app.widget_allowances to service_role;

create function app.take_allowance(tenant_id uuid, key text, max_uses integer, window_seconds integer)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  taken app.widget_allowances;
  window_length interval := make_interval(secs => greatest(take_allowance.window_seconds, 1));
begin
  insert into app.widget_allowances as a (key, tenant_id, window_started_at, used)
  values (take_allowance.key, take_allowance.tenant_id, now(), 1)
  on conflict on constraint widget_allowances_pkey do update set
    window_started_at = case when a.window_started_at <= now() - window_length then now() else a.window_started_at end,
    -- Refused attempts count too (a flood stays refused), capped so the counter never overflows.
    used = case when a.window_started_at <= now() - window_length then 1 else least(a.used + 1, 1000000000) end
  returning * into taken;
  if taken.used > take_allowance.max_uses then
    return greatest(1, ceil(extract(epoch from (taken.window_started_at + window_length - now())))::integer);
  end if;
  return 0;
end
$$;
comment on function app.take_allowance(uuid, text, integer, integer) is 'Takes one use of a fixed-window allowance: 0 when taken, else the seconds until the window ends.';

create function api.take_widget_allowance(connection_id uuid, visitor_id text, client_ip text,
  per_visitor integer default 20, per_ip integer default 60, per_tenant integer default 600,
  window_seconds integer default 60)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conn app.channel_connections;
  wait integer;
begin
  select * into conn from app.channel_connections c where c.id = take_widget_allowance.connection_id and c.kind = 'web_chat';
  if not found then
    raise exception 'connection not found' using errcode = 'P0002';
  end if;
  -- Expired windows go a few at a time: bounded work, whatever the table's history.
  delete from app.widget_allowances a
  where a.key in (select s.key from app.widget_allowances s
                  where s.window_started_at < now() - make_interval(secs => greatest(take_widget_allowance.window_seconds, 1) * 2)
                  order by s.window_started_at limit 20);
  if take_widget_allowance.client_ip is not null then
    wait := app.take_allowance(conn.tenant_id, 'ip:' || conn.id::text || ':' || left(take_widget_allowance.client_ip, 64),
      take_widget_allowance.per_ip, take_widget_allowance.window_seconds);
    if wait > 0 then
      return jsonb_build_object('allowed', false, 'scope', 'ip', 'retry_after_seconds', wait);
    end if;
  end if;
  if take_widget_allowance.visitor_id is not null then
    wait := app.take_allowance(conn.tenant_id, 'visitor:' || conn.id::text || ':' || left(take_widget_allowance.visitor_id, 64),
      take_widget_allowance.per_visitor, take_widget_allowance.window_seconds);
    if wait > 0 then
      return jsonb_build_object('allowed', false, 'scope', 'visitor', 'retry_after_seconds', wait);
    end if;
  end if;
  wait := app.take_allowance(conn.tenant_id, 'tenant:' || conn.tenant_id::text, take_widget_allowance.per_tenant,
    take_widget_allowance.window_seconds);
  if wait > 0 then
    return jsonb_build_object('allowed', false, 'scope', 'tenant', 'retry_after_seconds', wait);
  end if;
  return jsonb_build_object('allowed', true, 'scope', null, 'retry_after_seconds', 0);
end
$$;
comment on function api.take_widget_allowance(uuid, text, text, integer, integer, integer, integer) is 'Takes one widget request from the allowances of its client IP, its visitor (when known) and its tenant, in fixed windows shared by every web-chat instance: {allowed, scope: ip|visitor|tenant|null, retry_after_seconds}. P0002 for a connection that is not a web chat. service_role.';

revoke all on function app.take_allowance(uuid, text, integer, integer) from public, anon, authenticated;
revoke all on function api.take_widget_allowance(uuid, text, text, integer, integer, integer, integer)
  from public, anon, authenticated;
grant execute on function app.take_allowance(uuid, text, integer, integer) to service_role;
grant execute on function api.take_widget_allowance(uuid, text, text, integer, integer, integer, integer) to service_role;
