-- Model failures that admins hear about. A mistyped key or a dead endpoint used to show
-- as "typing…" for a minute while the worker retried, and no admin was told. Now:
--   * app.model_health keeps, per tenant, how many model calls failed in a row (one row
--     per tenant, updated in place: nothing here grows with history);
--   * api.record_model_outcome (service_role, called by the agent worker after each turn
--     that called a model) counts a failure or resets the count on success. The third
--     failure in a row writes one `alert.model_failing` audit entry (broadcast live to the
--     portal by app.broadcast_alert) and tells the worker to send the hand-off DM; nothing
--     more until a success writes `alert.model_recovered` and re-arms the alert;
--   * the conversation whose reply failed carries `model_failure` (shown on it in the
--     portal) until a turn of it succeeds;
--   * api.get_model_health lets members show the banner.

create table app.model_health (
  tenant_id uuid primary key references app.tenants (id) on delete cascade,
  consecutive_failures integer not null default 0 check (consecutive_failures >= 0),
  failing_since timestamptz,
  last_error text,
  last_status integer,
  last_conversation_id uuid,
  alerted_at timestamptz,
  updated_at timestamptz not null default now()
);
comment on table app.model_health is 'Per tenant: model calls failed in a row, since when, the last error, and whether admins were alerted (once per failing streak). Written by api.record_model_outcome; read by members through api.get_model_health.';

alter table app.model_health enable row level security;
alter table app.model_health force row level security;
create policy "members can read their tenant's model health" on app.model_health
  for select to authenticated
  using (app.can_read(tenant_id));
grant select on app.model_health to authenticated;
grant select, insert, update on app.model_health to service_role;

create function api.record_model_outcome(tenant_id uuid, ok boolean, conversation_id uuid default null,
  error text default null, status integer default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  -- Failures in a row that make an alert: one retried job (3 attempts) or three messages.
  alert_after constant integer := 3;
  health app.model_health;
  alerted boolean := false;
  recovered boolean := false;
begin
  if record_model_outcome.conversation_id is not null then
    perform app.require_conversation_of_tenant(record_model_outcome.tenant_id, record_model_outcome.conversation_id);
  end if;
  if record_model_outcome.ok then
    select * into health from app.model_health h
    where h.tenant_id = record_model_outcome.tenant_id and h.consecutive_failures > 0
    for update;
    if found then
      recovered := health.alerted_at is not null;
      update app.model_health h set consecutive_failures = 0, failing_since = null, alerted_at = null, updated_at = now()
      where h.tenant_id = health.tenant_id;
      if recovered then
        perform app.write_audit(health.tenant_id, 'alert.model_recovered', null, null,
          jsonb_build_object('failures', health.consecutive_failures, 'failing_since', health.failing_since));
      end if;
    end if;
    update app.conversations c set model_failure = null
    where c.id = record_model_outcome.conversation_id and c.model_failure is not null;
    return jsonb_build_object('alerted', false, 'recovered', recovered);
  end if;

  insert into app.model_health as h (tenant_id, consecutive_failures, failing_since, last_error, last_status,
    last_conversation_id)
  values (record_model_outcome.tenant_id, 1, now(), left(record_model_outcome.error, 500), record_model_outcome.status,
    record_model_outcome.conversation_id)
  on conflict on constraint model_health_pkey do update set
    consecutive_failures = h.consecutive_failures + 1,
    failing_since = coalesce(h.failing_since, now()),
    last_error = excluded.last_error,
    last_status = excluded.last_status,
    last_conversation_id = coalesce(excluded.last_conversation_id, h.last_conversation_id),
    updated_at = now()
  returning * into health;

  if health.consecutive_failures >= alert_after and health.alerted_at is null then
    update app.model_health h set alerted_at = now() where h.tenant_id = health.tenant_id;
    perform app.write_audit(health.tenant_id, 'alert.model_failing',
      case when health.last_conversation_id is null then null else 'conversation' end,
      health.last_conversation_id::text,
      jsonb_build_object('failures', health.consecutive_failures, 'failing_since', health.failing_since,
        'error', health.last_error, 'status', health.last_status));
    alerted := true;
  end if;

  update app.conversations c set model_failure = jsonb_build_object('error', left(record_model_outcome.error, 500),
      'status', record_model_outcome.status, 'failures', health.consecutive_failures, 'at', now())
  where c.id = record_model_outcome.conversation_id;
  return jsonb_build_object('alerted', alerted, 'recovered', false, 'failures', health.consecutive_failures);
end
$$;
comment on function api.record_model_outcome(uuid, boolean, uuid, text, integer) is 'The agent worker reports whether a turn''s model call worked. Failures in a row are counted per tenant; the third writes one alert.model_failing (portal banner, audit) and returns alerted = true so the worker sends the hand-off DM; a success resets the count, writes alert.model_recovered when an alert was out, and clears the conversation''s model_failure. service_role.';

create function api.get_model_health(tenant_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  health app.model_health;
begin
  perform app.require_read(get_model_health.tenant_id, 'model health');
  select * into health from app.model_health h where h.tenant_id = get_model_health.tenant_id;
  return jsonb_build_object(
    'failing', coalesce(health.alerted_at is not null, false),
    'consecutive_failures', coalesce(health.consecutive_failures, 0),
    'failing_since', health.failing_since,
    'last_error', health.last_error,
    'last_status', health.last_status,
    'last_conversation_id', health.last_conversation_id,
    'alerted_at', health.alerted_at);
end
$$;
comment on function api.get_model_health(uuid) is 'Whether the tenant''s model is failing (alerted: three or more failed calls in a row), since when and the last error: the portal''s banner. Any member.';

revoke all on function api.record_model_outcome(uuid, boolean, uuid, text, integer) from public, anon, authenticated;
grant execute on function api.record_model_outcome(uuid, boolean, uuid, text, integer) to service_role;
revoke all on function api.get_model_health(uuid) from public, anon;
grant execute on function api.get_model_health(uuid) to authenticated;
