-- Schemas, tenants and the people in them.
--
-- Tables live in the private schema `app` (never exposed by the Data API); the only
-- surface is the `api` schema of functions. This migration creates both schemas, the
-- tenancy tables (tenants, memberships, platform admins, invitations), the append-only
-- audit log, and the membership helpers that every row level security policy uses.
-- Runs on Supabase (PostgreSQL 15/17) and on PGlite (18): no 16+ only syntax.

-- Extensions: a fresh Supabase project has none of these enabled, so the migrations
-- enable them, idempotently (a project that already has one keeps it).
-- pgmq: the schema is created first, by the role running the migration (`postgres`),
-- so that role owns it and pgmq.create can add queue tables to it; a schema created by
-- the extension itself belongs to supabase_admin on a hosted project.
-- pg_net and pg_cron are only created where they are available (on Supabase); the
-- local stack provides the same functions in its platform shim.
create extension if not exists pgcrypto with schema extensions;
create extension if not exists vector with schema extensions;
create schema if not exists pgmq;
create extension if not exists pgmq with schema pgmq;
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net with schema extensions;
  end if;
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron with schema pg_catalog;
  end if;
end
$$;

create schema if not exists app;
comment on schema app is 'Konstruct tables and internal helpers. Private: never exposed by the Data API; reached only through api functions.';
revoke all on schema app from public;
grant usage on schema app to authenticated, service_role;

create schema if not exists api;
comment on schema api is 'The one surface of Konstruct: functions called through PostgREST RPC by the portal (authenticated) and the edge functions (service_role).';
revoke all on schema api from public;
grant usage on schema api to anon, authenticated, service_role;

-- Role ranks ---------------------------------------------------------------------

-- No `set search_path` (a CASE names nothing): so the planner inlines it.
create function app.role_rank(role text)
returns integer
language sql
immutable
as $$
  select case role when 'owner' then 3 when 'admin' then 2 when 'operator' then 1 else 0 end
$$;
comment on function app.role_rank(text) is 'Rank of a membership role: owner 3 > admin 2 > operator 1; anything else 0.';

-- Platform settings ----------------------------------------------------------------

create table app.settings (
  key text primary key,
  value text not null,
  updated_at timestamptz not null default now()
);
comment on table app.settings is 'Platform-wide settings (e.g. worker_safety_net_schedule, stripe_meter_schedule). Only the database owner and service_role touch it.';

-- Tenants --------------------------------------------------------------------------

create table app.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 120),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  model_settings jsonb not null default '{}'::jsonb check (jsonb_typeof(model_settings) = 'object'),
  llm_api_key_secret_id uuid,
  -- Set while a platform admin has suspended the tenant (api.suspend_tenant): its agents
  -- answer with a polite notice only.
  suspended_at timestamptz,
  suspended_reason text check (suspended_reason is null or length(suspended_reason) <= 500),
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table app.tenants is 'A business using Konstruct. Every tenant-owned row carries tenant_id. model_settings = tenant-wide model defaults; llm_api_key_secret_id = the tenant''s own LLM key in Vault.';

create table app.memberships (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null check (role in ('owner', 'admin', 'operator')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
create index memberships_user_id_idx on app.memberships (user_id);
comment on table app.memberships is 'Who belongs to a tenant and with which role: owner (everything), admin (everything but owners and billing ownership), operator (reads everything, changes nothing).';

create table app.platform_admins (
  user_id uuid primary key references auth.users (id) on delete cascade,
  created_at timestamptz not null default now()
);
comment on table app.platform_admins is 'Operators of the Konstruct platform itself: may read every tenant; each such read is audited. Managed by the database owner only.';

create table app.invitations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  email text not null check (email ~ '^[^@\s]+@[^@\s]+$'),
  role text not null check (role in ('owner', 'admin', 'operator')),
  token_hash bytea not null unique,
  invited_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '48 hours',
  accepted_at timestamptz,
  accepted_by uuid references auth.users (id) on delete set null,
  revoked_at timestamptz
);
create unique index invitations_one_pending_per_email on app.invitations (tenant_id, lower(email))
  where accepted_at is null and revoked_at is null;
comment on table app.invitations is 'An invitation to join a tenant with a role: by email, valid 48 hours, single use. Only the sha256 of the token is stored; the raw token is returned once to the inviter.';

-- Audit log (append-only) ------------------------------------------------------------

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

create trigger audit_log_is_append_only
  before update or delete on app.audit_log
  for each row execute function app.refuse_audit_change();
create trigger audit_log_refuses_truncate
  before truncate on app.audit_log
  for each statement execute function app.refuse_audit_change();

-- Helpers ----------------------------------------------------------------------------

-- The row level security helpers run once per row read, so they are plpgsql: their plans
-- are kept for the session (an sql function with `set` is planned again at every call).
create function app.is_member(tenant_id uuid, min_role text default 'operator')
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select 1
    from app.memberships m
    where m.tenant_id = is_member.tenant_id
      and m.user_id = (select auth.uid())
      and app.role_rank(m.role) >= app.role_rank(is_member.min_role)
  );
end
$$;
comment on function app.is_member(uuid, text) is 'True when the signed-in user belongs to the tenant with at least min_role (operator < admin < owner). Definer so policies need no access to memberships.';

create function app.is_platform_admin()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (select 1 from app.platform_admins p where p.user_id = (select auth.uid()));
end
$$;
comment on function app.is_platform_admin() is 'True when the signed-in user is a platform admin.';

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

create function app.require_role(tenant_id uuid, min_role text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not app.is_member(require_role.tenant_id, require_role.min_role) then
    raise exception 'permission denied: requires role % in tenant %', require_role.min_role, require_role.tenant_id
      using errcode = '42501';
  end if;
end
$$;
comment on function app.require_role(uuid, text) is 'Raises 42501 unless the signed-in user is a member of the tenant with at least min_role. Used by api functions that change things.';

create function app.require_read(tenant_id uuid, what text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if app.is_member(require_read.tenant_id, 'operator') then
    return;
  end if;
  if app.is_platform_admin() then
    perform app.write_audit(require_read.tenant_id, 'platform_admin.read', 'tenant', require_read.tenant_id::text,
      jsonb_build_object('what', require_read.what));
    return;
  end if;
  raise exception 'permission denied: not a member of tenant %', require_read.tenant_id using errcode = '42501';
end
$$;
comment on function app.require_read(uuid, text) is 'Allows a read of tenant data by any member, or by a platform admin (and then audits it); otherwise raises 42501.';

create function app.can_read(tenant_id uuid)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return app.is_member(can_read.tenant_id, 'operator') or app.is_platform_admin();
end
$$;
comment on function app.can_read(uuid) is 'Row level security read test: a member of the tenant or a platform admin.';

create function app.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function app.touch_updated_at() is 'Trigger: keeps updated_at current.';

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

create function app.protect_last_owner()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner') then
    return coalesce(new, old);
  end if;
  -- Deleting the tenant or the auth user cascades here: let it through.
  if not exists (select 1 from app.tenants t where t.id = old.tenant_id)
     or not exists (select 1 from auth.users u where u.id = old.user_id) then
    return coalesce(new, old);
  end if;
  -- Serialize owner changes of one tenant so two owners cannot demote each other at once.
  perform 1 from app.tenants t where t.id = old.tenant_id for update;
  if not exists (
    select 1 from app.memberships m
    where m.tenant_id = old.tenant_id and m.role = 'owner' and m.user_id <> old.user_id
  ) then
    raise exception 'the last owner of a tenant cannot leave or be demoted; make another member owner first'
      using errcode = 'KO001';
  end if;
  return coalesce(new, old);
end
$$;
comment on function app.protect_last_owner() is 'Before-row trigger on memberships: refuses (KO001) to demote or remove the last owner of a tenant.';

create trigger memberships_protect_last_owner
  before update of role or delete on app.memberships
  for each row execute function app.protect_last_owner();
create trigger tenants_touch_updated_at before update on app.tenants
  for each row execute function app.touch_updated_at();
create trigger memberships_touch_updated_at before update on app.memberships
  for each row execute function app.touch_updated_at();
create trigger tenants_audit after insert or update or delete on app.tenants
  for each row execute function app.audit_change('tenant', 'id', 'id');
create trigger memberships_audit after insert or update or delete on app.memberships
  for each row execute function app.audit_change('membership', 'user_id', 'tenant_id');
create trigger invitations_audit after insert or update on app.invitations
  for each row execute function app.audit_change('invitation', 'id', 'tenant_id');

-- Row level security -----------------------------------------------------------------

alter table app.settings enable row level security;
alter table app.settings force row level security;
alter table app.tenants enable row level security;
alter table app.tenants force row level security;
alter table app.memberships enable row level security;
alter table app.memberships force row level security;
alter table app.platform_admins enable row level security;
alter table app.platform_admins force row level security;
alter table app.invitations enable row level security;
alter table app.invitations force row level security;
alter table app.audit_log enable row level security;
alter table app.audit_log force row level security;

create policy "members and platform admins can read their tenants" on app.tenants
  for select to authenticated using (app.can_read(id));
create policy "admins can update their tenant" on app.tenants
  for update to authenticated using (app.is_member(id, 'admin')) with check (app.is_member(id, 'admin'));

create policy "members can read the memberships of their tenants" on app.memberships
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can change roles below owner, owners any role" on app.memberships
  for update to authenticated
  using (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')))
  with check (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')));
create policy "members can leave, admins remove non-owners, owners remove anyone" on app.memberships
  for delete to authenticated
  using (
    user_id = (select auth.uid())
    or (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')))
  );

create policy "platform admins can read their own row" on app.platform_admins
  for select to authenticated using (user_id = (select auth.uid()));

create policy "members can read their tenant's invitations" on app.invitations
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can invite, only owners invite owners" on app.invitations
  for insert to authenticated
  with check (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')));
create policy "admins can revoke or resend invitations" on app.invitations
  for update to authenticated
  using (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')))
  with check (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')));

create policy "members can read their tenant's audit log" on app.audit_log
  for select to authenticated using (app.can_read(tenant_id));

-- Grants -----------------------------------------------------------------------------
-- authenticated reaches these tables only through api functions (app is not exposed);
-- the grants exist so security-invoker functions run under RLS as the caller.

grant select, update (name, model_settings) on app.tenants to authenticated;
grant select, update (role), delete on app.memberships to authenticated;
grant select on app.platform_admins to authenticated;
grant select (id, tenant_id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at),
  insert (id, tenant_id, email, role, token_hash, invited_by, expires_at),
  update (token_hash, expires_at, revoked_at)
  on app.invitations to authenticated;
grant select on app.audit_log to authenticated;

grant select, insert, update, delete on app.settings, app.tenants, app.memberships, app.platform_admins, app.invitations
  to service_role;
grant select, insert on app.audit_log to service_role;

revoke all on function app.role_rank(text) from public, anon;
revoke all on function app.is_member(uuid, text) from public, anon;
revoke all on function app.is_platform_admin() from public, anon;
revoke all on function app.actor_kind() from public, anon;
revoke all on function app.write_audit(uuid, text, text, text, jsonb) from public, anon, authenticated;
revoke all on function app.require_role(uuid, text) from public, anon;
revoke all on function app.require_read(uuid, text) from public, anon;
revoke all on function app.can_read(uuid) from public, anon;
revoke all on function app.touch_updated_at() from public, anon, authenticated;
revoke all on function app.audit_change() from public, anon, authenticated;
revoke all on function app.protect_last_owner() from public, anon, authenticated;
revoke all on function app.refuse_audit_change() from public, anon, authenticated;
grant execute on function app.role_rank(text), app.is_member(uuid, text), app.is_platform_admin(), app.actor_kind(),
  app.require_role(uuid, text), app.require_read(uuid, text), app.can_read(uuid)
  to authenticated, service_role;
grant execute on function app.write_audit(uuid, text, text, text, jsonb) to service_role;
