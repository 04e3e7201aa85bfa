-- Audit: the append-only log of who changed what, and the live alerts written into it.
--
-- Every change that matters (a tenant, membership, invitation, agent, channel, knowledge
-- source, plan or subscription row; a hand-off; a platform admin reading a tenant) is one
-- row of app.audit_log, written by the audit triggers or by app.write_audit. The log
-- refuses updates, deletes and truncation. An entry whose action starts with `alert.` is
-- also broadcast live as `alert` to the tenant's private topic, so the portal shows it the
-- moment it is written and the log keeps it for good; app.alert_once writes an alert at
-- most once per period, from an index, without reading the tenant's history.

create table app.audit_log (
  id bigint generated always as identity primary key,
  tenant_id uuid,
  actor_user_id uuid,
  actor_kind text not null check (actor_kind in ('member', 'platform_admin', 'service', 'system')),
  action text not null,
  entity_type text,
  entity_id text,
  details jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index audit_log_tenant_id_id_idx on app.audit_log (tenant_id, id desc);
-- "Was this alert already written since ...?" (app.alert_once) without reading the tenant's history.
create index audit_log_tenant_action_time_idx on app.audit_log (tenant_id, action, created_at desc);
comment on table app.audit_log is 'Append-only record of every membership, agent, channel, takeover and billing change, and of platform admins'' reads. The database refuses update, delete and truncate, even for the table owner. No foreign key on tenant_id so history outlives a tenant.';
alter table app.audit_log enable row level security;
alter table app.audit_log force row level security;
create policy "members can read their tenant's audit log" on app.audit_log
  for select to authenticated using (app.can_read(tenant_id));
grant select on app.audit_log to authenticated;
grant select, insert on app.audit_log to service_role;

create function app.refuse_audit_change()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'the audit log is append-only (% refused)', lower(tg_op) using errcode = '42501';
end
$$;
comment on function app.refuse_audit_change() is 'Trigger: refuses update, delete and truncate on app.audit_log, whoever asks.';
revoke all on function app.refuse_audit_change() from public, anon, authenticated;
create trigger audit_log_is_append_only
  before update or delete on app.audit_log
  for each row execute function app.refuse_audit_change();
create trigger audit_log_refuses_truncate
  before truncate on app.audit_log
  for each statement execute function app.refuse_audit_change();

create function app.actor_kind()
returns text
language sql
stable
set search_path = ''
as $$
  select case
    when (select auth.role()) = 'service_role' then 'service'
    when (select auth.uid()) is null then 'system'
    when exists (select 1 from app.platform_admins p where p.user_id = (select auth.uid()))
      and not exists (select 1 from app.memberships m where m.user_id = (select auth.uid())) then 'platform_admin'
    else 'member'
  end
$$;
comment on function app.actor_kind() is 'Who is acting, for the audit log: service (service_role), member, platform_admin, or system (no JWT: migrations, cron).';
revoke all on function app.actor_kind() from public, anon;
grant execute on function app.actor_kind() to authenticated, service_role;

create function app.write_audit(
  tenant_id uuid,
  action text,
  entity_type text default null,
  entity_id text default null,
  details jsonb default '{}'::jsonb
)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  new_id bigint;
begin
  insert into app.audit_log (tenant_id, actor_user_id, actor_kind, action, entity_type, entity_id, details)
  values (
    write_audit.tenant_id,
    (select auth.uid()),
    app.actor_kind(),
    write_audit.action,
    write_audit.entity_type,
    write_audit.entity_id,
    coalesce(write_audit.details, '{}'::jsonb)
  )
  returning id into new_id;
  return new_id;
end
$$;
comment on function app.write_audit(uuid, text, text, text, jsonb) is 'Appends one audit entry as the current actor. The only writer of app.audit_log besides service_role.';
revoke all on function app.write_audit(uuid, text, text, text, jsonb) from public, anon, authenticated;
grant execute on function app.write_audit(uuid, text, text, text, jsonb) to service_role;

create function app.audit_change()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
-- tg_argv[0] = entity type (e.g. 'agent'), tg_argv[1] = the id column (default 'id'),
-- tg_argv[2] = the tenant column (default 'tenant_id').
declare
  new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
  old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
  id_column text := coalesce(tg_argv[1], 'id');
  tenant_column text := coalesce(tg_argv[2], 'tenant_id');
  hidden text[] := array['updated_at', 'token_hash', 'llm_api_key_secret_id', 'token_secret_id'];
  changes jsonb := '{}'::jsonb;
  k text;
  details jsonb;
begin
  if tg_op = 'UPDATE' then
    for k in select jsonb_object_keys(new_row) loop
      if not (k = any (hidden)) and (new_row -> k) is distinct from (old_row -> k) then
        changes := changes || jsonb_build_object(k, jsonb_build_object('from', old_row -> k, 'to', new_row -> k));
      end if;
    end loop;
    if changes = '{}'::jsonb then
      return null;
    end if;
    details := jsonb_build_object('changes', changes);
  elsif tg_op = 'INSERT' then
    details := jsonb_build_object('row', new_row - hidden);
  else
    details := jsonb_build_object('row', old_row - hidden);
  end if;
  perform app.write_audit(
    (coalesce(new_row, old_row) ->> tenant_column)::uuid,
    tg_argv[0] || '.' || case tg_op when 'INSERT' then 'created' when 'UPDATE' then 'updated' else 'deleted' end,
    tg_argv[0],
    coalesce(new_row, old_row) ->> id_column,
    details
  );
  return null;
end
$$;
comment on function app.audit_change() is 'After-row trigger: writes <entity>.created/updated/deleted with the changed fields (secrets and token hashes left out). Arguments: entity type, id column, tenant column.';
revoke all on function app.audit_change() from public, anon, authenticated;
create trigger tenants_audit after insert or update or delete on app.tenants
  for each row execute function app.audit_change('tenant', 'id', 'id');
create trigger memberships_audit after insert or update or delete on app.memberships
  for each row execute function app.audit_change('membership', 'user_id', 'tenant_id');
create trigger invitations_audit after insert or update on app.invitations
  for each row execute function app.audit_change('invitation', 'id', 'tenant_id');

create function api.list_audit_log(tenant_id uuid, before_id bigint default null, page_size integer default 50,
  action_prefix text default null)
returns table (id bigint, actor_user_id uuid, actor_kind text, action text, entity_type text, entity_id text,
  details jsonb, created_at timestamptz)
language sql
set search_path = ''
as $$
  select app.require_read(list_audit_log.tenant_id, 'audit log');
  select l.id, l.actor_user_id, l.actor_kind, l.action, l.entity_type, l.entity_id, l.details, l.created_at
  from app.audit_log l
  where l.tenant_id = list_audit_log.tenant_id
    and (list_audit_log.before_id is null or l.id < list_audit_log.before_id)
    and (list_audit_log.action_prefix is null or l.action like list_audit_log.action_prefix || '%')
  order by l.id desc
  limit least(greatest(coalesce(list_audit_log.page_size, 50), 1), 200)
$$;
comment on function api.list_audit_log(uuid, bigint, integer, text) is 'The audit log of a tenant, newest first; page with before_id = the last row''s id; optional action prefix filter (e.g. ''agent.''). Any member.';
revoke all on function api.list_audit_log(uuid, bigint, integer, text) from public, anon;
grant execute on function api.list_audit_log(uuid, bigint, integer, text) to authenticated;

create function api.record_audit(tenant_id uuid, action text, entity_type text default null, entity_id text default null,
  details jsonb default '{}'::jsonb)
returns bigint
language sql
set search_path = ''
as $$
  select app.write_audit(record_audit.tenant_id, record_audit.action, record_audit.entity_type, record_audit.entity_id,
    record_audit.details)
$$;
comment on function api.record_audit(uuid, text, text, text, jsonb) is 'Appends an audit entry as the service (model calls, tool calls, handoffs, billing events). service_role.';
revoke all on function api.record_audit(uuid, text, text, text, jsonb) from public, anon;
grant execute on function api.record_audit(uuid, text, text, text, jsonb) to service_role;

create function app.broadcast_alert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.tenant_id is not null and new.action like 'alert.%' then
    perform realtime.send(
      jsonb_build_object('audit_id', new.id, 'tenant_id', new.tenant_id, 'kind', substr(new.action, 7),
        'entity_type', new.entity_type, 'entity_id', new.entity_id, 'details', new.details,
        'created_at', new.created_at),
      'alert',
      'tenant:' || new.tenant_id::text,
      true
    );
  end if;
  return null;
end
$$;
comment on function app.broadcast_alert() is 'After-insert trigger on audit_log: entries whose action starts with alert. (dead-lettered job, escalation, budget exhausted, undeliverable reply) are broadcast as `alert` to tenant:<tenant_id>.';
revoke all on function app.broadcast_alert() from public, anon, authenticated;
create trigger audit_log_broadcast_alert after insert on app.audit_log
  for each row execute function app.broadcast_alert();

create function app.alert_once(tenant_id uuid, kind text, since timestamptz, details jsonb default '{}'::jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from app.audit_log l where l.tenant_id = alert_once.tenant_id
             and l.action = 'alert.' || alert_once.kind and l.created_at >= alert_once.since) then
    return false;
  end if;
  perform app.write_audit(alert_once.tenant_id, 'alert.' || alert_once.kind, 'billing', alert_once.tenant_id::text,
    coalesce(alert_once.details, '{}'::jsonb));
  return true;
end
$$;
comment on function app.alert_once(uuid, text, timestamptz, jsonb) is 'Writes the portal alert alert.<kind> for a tenant unless one was written since `since` (e.g. once a month per limit), so a busy channel does not flood the admins.';
revoke all on function app.alert_once(uuid, text, timestamptz, jsonb) from public, anon, authenticated;
grant execute on function app.alert_once(uuid, text, timestamptz, jsonb) to service_role;
