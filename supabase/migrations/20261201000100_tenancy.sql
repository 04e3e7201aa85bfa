-- Tenancy: the schemas, tenants and the people in them.
--
-- Tables live in the private schema `app` (never exposed by the Data API); the only
-- surface is the `api` schema of functions, called through supabase.rpc() by the portal
-- (authenticated) and the edge functions (service_role). This file enables the extensions
-- the project uses, creates both schemas, the tenancy tables (settings, tenants,
-- memberships, platform admins, invitations), the membership helpers every row level
-- security policy uses, who may receive a tenant's Realtime broadcasts, and the portal's
-- api for tenants, members and invitations.
--
-- Portal functions are security invoker unless noted: row level security does the
-- filtering and every function also checks the caller's role first, so a refusal is an
-- exact error:
--   42501 permission denied (not a member of the tenant, or role too low),
--   P0002 not found (the row does not exist or is not visible to the caller),
--   22023 invalid argument, 23505 conflict,
--   KO001 last owner, KO002 invitation expired, KO003 invitation used or revoked,
--   KO004 invitation addressed to another email.
-- The few security definer functions say why in their comment. Service functions trust
-- no id they are given: each checks that it belongs to the tenant it is given (42501 or
-- P0002). Every function is locked down beside its definition (revoke from public and
-- anon), then granted to exactly the roles that call it.
--
-- Realtime: private topics `tenant:<tenant_id>` (members and platform admins) and
-- `webchat:<visitor_id>` (that anonymous visitor only); the broadcasts themselves are
-- defined with the rows they announce.
--
-- Runs on Supabase (PostgreSQL 15/17, where `postgres` is no superuser) and on PGlite
-- (18): no 16+ only syntax.

-- Extensions: a fresh Supabase project has none of these enabled, so the migrations
-- enable them, idempotently (a project that already has one keeps it).
-- pgmq: the schema is created first, by the role running the migration (`postgres`),
-- so that role owns it and pgmq.create can add queue tables to it; a schema created by
-- the extension itself belongs to supabase_admin on a hosted project.
-- pg_net and pg_cron are only created where they are available (on Supabase); the
-- local stack provides the same functions in its platform shim.
create extension if not exists pgcrypto with schema extensions;

create extension if not exists vector with schema extensions;

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

-- No `set search_path` (a CASE names nothing): so the planner inlines it.
create function app.role_rank(role text)
returns integer
language sql
immutable
as $$
  select case role when 'owner' then 3 when 'admin' then 2 when 'operator' then 1 else 0 end
$$;
comment on function app.role_rank(text) is 'Rank of a membership role: owner 3 > admin 2 > operator 1; anything else 0.';
revoke all on function app.role_rank(text) from public, anon;
grant execute on function app.role_rank(text) to authenticated, service_role;

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
revoke all on function app.is_member(uuid, text) from public, anon;
grant execute on function app.is_member(uuid, text) to authenticated, service_role;

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
revoke all on function app.is_platform_admin() from public, anon;
grant execute on function app.is_platform_admin() to authenticated, service_role;

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
revoke all on function app.can_read(uuid) from public, anon;
grant execute on function app.can_read(uuid) to authenticated, service_role;

create table app.settings (
  key text primary key,
  value text not null,
  updated_at timestamptz not null default now()
);
comment on table app.settings is 'Platform-wide settings (e.g. worker_safety_net_schedule, stripe_meter_schedule). Only the database owner and service_role touch it.';
alter table app.settings enable row level security;
alter table app.settings force row level security;
grant select, insert, update, delete on app.settings to service_role;

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
alter table app.tenants enable row level security;
alter table app.tenants force row level security;
create policy "members and platform admins can read their tenants" on app.tenants
  for select to authenticated using (app.can_read(id));
create policy "admins can update their tenant" on app.tenants
  for update to authenticated using (app.is_member(id, 'admin')) with check (app.is_member(id, 'admin'));
-- authenticated reaches these tables only through api functions (app is not exposed);
-- the grants exist so security-invoker functions run under RLS as the caller.
grant select, update (name, model_settings) on app.tenants to authenticated;
grant select, insert, update, delete on app.tenants to service_role;

create table app.memberships (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null check (role in ('owner', 'admin', 'operator')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  available boolean not null default true,
  last_assigned_at timestamptz,
  primary key (tenant_id, user_id)
);
create index memberships_user_id_idx on app.memberships (user_id);
comment on table app.memberships is 'Who belongs to a tenant and with which role: owner (everything), admin (everything but owners and billing ownership), operator (reads everything, changes nothing).';
alter table app.memberships enable row level security;
alter table app.memberships force row level security;
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
grant select, update (role), delete on app.memberships to authenticated;
grant select, insert, update, delete on app.memberships to service_role;
comment on column app.memberships.available is 'Whether hand-offs are auto-assigned to this member (owners and admins; api.set_my_availability).';
comment on column app.memberships.last_assigned_at is 'When a hand-off was last auto-assigned to this member: the round robin picks the oldest.';

create table app.platform_admins (
  user_id uuid primary key references auth.users (id) on delete cascade,
  created_at timestamptz not null default now()
);
comment on table app.platform_admins is 'Operators of the Konstruct platform itself: may read every tenant; each such read is audited. Managed by the database owner only.';
alter table app.platform_admins enable row level security;
alter table app.platform_admins force row level security;
create policy "platform admins can read their own row" on app.platform_admins
  for select to authenticated using (user_id = (select auth.uid()));
grant select on app.platform_admins to authenticated;
grant select, insert, update, delete on app.platform_admins to service_role;

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
alter table app.invitations enable row level security;
alter table app.invitations force row level security;
create policy "members can read their tenant's invitations" on app.invitations
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can invite, only owners invite owners" on app.invitations
  for insert to authenticated
  with check (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')));
create policy "admins can revoke or resend invitations" on app.invitations
  for update to authenticated
  using (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')))
  with check (app.is_member(tenant_id, 'admin') and (role <> 'owner' or app.is_member(tenant_id, 'owner')));
grant select (id, tenant_id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at),
  insert (id, tenant_id, email, role, token_hash, invited_by, expires_at),
  update (token_hash, expires_at, revoked_at)
  on app.invitations to authenticated;
grant select, insert, update, delete on app.invitations to service_role;

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
revoke all on function app.require_role(uuid, text) from public, anon;
grant execute on function app.require_role(uuid, text) to authenticated, service_role;

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
revoke all on function app.require_read(uuid, text) from public, anon;
grant execute on function app.require_read(uuid, text) to authenticated, service_role;

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
revoke all on function app.touch_updated_at() from public, anon, authenticated;
create trigger tenants_touch_updated_at before update on app.tenants
  for each row execute function app.touch_updated_at();
create trigger memberships_touch_updated_at before update on app.memberships
  for each row execute function app.touch_updated_at();

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
revoke all on function app.protect_last_owner() from public, anon, authenticated;
create trigger memberships_protect_last_owner
  before update of role or delete on app.memberships
  for each row execute function app.protect_last_owner();

create function app.tenant_id_from_topic(topic text)
returns uuid
language sql
immutable
set search_path = ''
as $$
  select case
    when topic ~ '^tenant:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
      then substr(topic, 8)::uuid
  end
$$;
comment on function app.tenant_id_from_topic(text) is 'The tenant id of a topic `tenant:<uuid>`, or null for any other (or malformed) topic; never raises.';
revoke all on function app.tenant_id_from_topic(text) from public, anon;
grant execute on function app.tenant_id_from_topic(text) to authenticated, service_role;

create function app.slugify(value text)
returns text
language sql
immutable
set search_path = ''
as $$
  select left(btrim(regexp_replace(lower(coalesce(value, '')), '[^a-z0-9]+', '-', 'g'), '-'), 40)
$$;
comment on function app.slugify(text) is 'Lowercase, dash-separated slug of a name (at most 40 characters).';
revoke all on function app.slugify(text) from public, anon;
grant execute on function app.slugify(text) to authenticated, service_role;

create function app.new_token(prefix text)
returns text
language sql
volatile
set search_path = ''
as $$
  select prefix || encode(extensions.gen_random_bytes(24), 'hex')
$$;
comment on function app.new_token(text) is 'A random token: prefix + 48 hex characters (192 bits).';
revoke all on function app.new_token(text) from public, anon;
grant execute on function app.new_token(text) to authenticated, service_role;

create function app.token_hash(token text)
returns bytea
language sql
immutable
set search_path = ''
as $$
  select extensions.digest(convert_to(token, 'UTF8'), 'sha256')
$$;
comment on function app.token_hash(text) is 'sha256 of a token: what is stored instead of the token.';
revoke all on function app.token_hash(text) from public, anon;
grant execute on function app.token_hash(text) to authenticated, service_role;

create function api.create_tenant(name text, slug text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  tenant app.tenants;
  chosen_slug text;
begin
  -- Anonymous users (web chat visitors) are not people who can own a tenant.
  if uid is null or (select auth.jwt() ->> 'is_anonymous') = 'true' then
    raise exception 'sign in to create a tenant' using errcode = '42501';
  end if;
  if create_tenant.name is null or length(btrim(create_tenant.name)) = 0 then
    raise exception 'a tenant needs a name' using errcode = '22023';
  end if;
  chosen_slug := coalesce(
    nullif(lower(btrim(create_tenant.slug)), ''),
    coalesce(nullif(app.slugify(create_tenant.name), ''), 'tenant') || '-' || encode(extensions.gen_random_bytes(3), 'hex')
  );
  if chosen_slug !~ '^[a-z0-9][a-z0-9-]{1,62}$' then
    raise exception 'slug must be 2-63 lowercase letters, digits or dashes' using errcode = '22023';
  end if;
  if exists (select 1 from app.tenants t where t.slug = chosen_slug) then
    raise exception 'slug % is taken', chosen_slug using errcode = '23505';
  end if;
  insert into app.tenants (name, slug, created_by)
  values (btrim(create_tenant.name), chosen_slug, uid)
  returning * into tenant;
  insert into app.memberships (tenant_id, user_id, role) values (tenant.id, uid, 'owner');
  return jsonb_build_object('id', tenant.id, 'name', tenant.name, 'slug', tenant.slug, 'role', 'owner',
    'created_at', tenant.created_at);
end
$$;
comment on function api.create_tenant(text, text) is 'Creates a tenant; the caller becomes its owner. Security definer because the first owner membership cannot be granted by RLS (there is no member yet).';
revoke all on function api.create_tenant(text, text) from public, anon;
grant execute on function api.create_tenant(text, text) to authenticated;

create function api.list_my_tenants()
returns table (id uuid, name text, slug text, role text, created_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select t.id, t.name, t.slug, m.role, t.created_at
  from app.memberships m
  join app.tenants t on t.id = m.tenant_id
  where m.user_id = (select auth.uid())
  order by t.name, t.id
$$;
comment on function api.list_my_tenants() is 'The tenants the caller belongs to, with the caller''s role.';
revoke all on function api.list_my_tenants() from public, anon;
grant execute on function api.list_my_tenants() to authenticated;

create function api.get_tenant(tenant_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  result jsonb;
begin
  perform app.require_read(get_tenant.tenant_id, 'tenant');
  select jsonb_build_object('id', t.id, 'name', t.name, 'slug', t.slug, 'model_settings', t.model_settings,
      'has_own_llm_key', t.llm_api_key_secret_id is not null, 'created_at', t.created_at,
      'my_role', (select m.role from app.memberships m where m.tenant_id = t.id and m.user_id = (select auth.uid())))
    into result
  from app.tenants t where t.id = get_tenant.tenant_id;
  return result;
end
$$;
comment on function api.get_tenant(uuid) is 'One tenant with the caller''s role. Members; platform admins (audited).';
revoke all on function api.get_tenant(uuid) from public, anon;
grant execute on function api.get_tenant(uuid) to authenticated;

create function api.update_tenant(tenant_id uuid, name text default null, model_settings jsonb default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  perform app.require_role(update_tenant.tenant_id, 'admin');
  update app.tenants t set
    name = coalesce(btrim(update_tenant.name), t.name),
    model_settings = coalesce(update_tenant.model_settings, t.model_settings)
  where t.id = update_tenant.tenant_id;
  return api.get_tenant(update_tenant.tenant_id);
end
$$;
comment on function api.update_tenant(uuid, text, jsonb) is 'Renames a tenant or changes its default model settings. Owners and admins.';
revoke all on function api.update_tenant(uuid, text, jsonb) from public, anon;
grant execute on function api.update_tenant(uuid, text, jsonb) to authenticated;

create function api.whoami()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'user_id', (select auth.uid()),
    'email', (select auth.jwt()) ->> 'email',
    'is_platform_admin', app.is_platform_admin(),
    'tenant_count', (select count(*) from app.memberships m where m.user_id = (select auth.uid())))
$$;
comment on function api.whoami() is 'The caller''s user id, email, platform admin flag and number of tenants.';
revoke all on function api.whoami() from public, anon;
grant execute on function api.whoami() to authenticated;

create function api.list_members(tenant_id uuid)
returns table (user_id uuid, email text, role text, joined_at timestamptz)
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform app.require_read(list_members.tenant_id, 'members');
  return query
    select m.user_id, u.email::text, m.role, m.created_at
    from app.memberships m
    join auth.users u on u.id = m.user_id
    where m.tenant_id = list_members.tenant_id
    order by app.role_rank(m.role) desc, u.email;
end
$$;
comment on function api.list_members(uuid) is 'Members of a tenant with their emails and roles. Any member; platform admins (audited). Security definer only to read emails from auth.users, after the membership check.';
revoke all on function api.list_members(uuid) from public, anon;
grant execute on function api.list_members(uuid) to authenticated;

create function api.change_member_role(tenant_id uuid, user_id uuid, role text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  current_role_of_target text;
begin
  perform app.require_role(change_member_role.tenant_id, 'admin');
  if change_member_role.role not in ('owner', 'admin', 'operator') then
    raise exception 'role must be owner, admin or operator' using errcode = '22023';
  end if;
  select m.role into current_role_of_target from app.memberships m
  where m.tenant_id = change_member_role.tenant_id and m.user_id = change_member_role.user_id;
  if not found then
    raise exception 'member not found' using errcode = 'P0002';
  end if;
  if (current_role_of_target = 'owner' or change_member_role.role = 'owner')
     and not app.is_member(change_member_role.tenant_id, 'owner') then
    raise exception 'only owners can grant or take the owner role' using errcode = '42501';
  end if;
  update app.memberships m set role = change_member_role.role
  where m.tenant_id = change_member_role.tenant_id and m.user_id = change_member_role.user_id;
end
$$;
comment on function api.change_member_role(uuid, uuid, text) is 'Changes a member''s role. Admins for admin/operator; only owners grant or take owner; the last owner cannot be demoted (KO001).';
revoke all on function api.change_member_role(uuid, uuid, text) from public, anon;
grant execute on function api.change_member_role(uuid, uuid, text) to authenticated;

create function api.remove_member(tenant_id uuid, user_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  target_role text;
begin
  if remove_member.user_id is distinct from (select auth.uid()) then
    perform app.require_role(remove_member.tenant_id, 'admin');
  else
    perform app.require_role(remove_member.tenant_id, 'operator');
  end if;
  select m.role into target_role from app.memberships m
  where m.tenant_id = remove_member.tenant_id and m.user_id = remove_member.user_id;
  if not found then
    raise exception 'member not found' using errcode = 'P0002';
  end if;
  if target_role = 'owner' and remove_member.user_id is distinct from (select auth.uid())
     and not app.is_member(remove_member.tenant_id, 'owner') then
    raise exception 'only owners can remove an owner' using errcode = '42501';
  end if;
  delete from app.memberships m where m.tenant_id = remove_member.tenant_id and m.user_id = remove_member.user_id;
end
$$;
comment on function api.remove_member(uuid, uuid) is 'Removes a member (or the caller, which is leaving). Admins remove non-owners, owners anyone, anyone may leave; the last owner cannot leave (KO001).';
revoke all on function api.remove_member(uuid, uuid) from public, anon;
grant execute on function api.remove_member(uuid, uuid) to authenticated;

create function api.leave_tenant(tenant_id uuid)
returns void
language sql
set search_path = ''
as $$
  select api.remove_member(leave_tenant.tenant_id, (select auth.uid()))
$$;
comment on function api.leave_tenant(uuid) is 'The caller leaves the tenant. Any member except the last owner (KO001).';
revoke all on function api.leave_tenant(uuid) from public, anon;
grant execute on function api.leave_tenant(uuid) to authenticated;

create function api.create_invitation(tenant_id uuid, email text, role text default 'operator')
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  token text := app.new_token('inv_');
  invitation_id uuid;
  expires timestamptz;
begin
  perform app.require_role(create_invitation.tenant_id, 'admin');
  if create_invitation.role not in ('owner', 'admin', 'operator') then
    raise exception 'role must be owner, admin or operator' using errcode = '22023';
  end if;
  if create_invitation.role = 'owner' and not app.is_member(create_invitation.tenant_id, 'owner') then
    raise exception 'only owners can invite owners' using errcode = '42501';
  end if;
  if create_invitation.email is null or btrim(create_invitation.email) !~ '^[^@\s]+@[^@\s]+$' then
    raise exception 'a valid email is required' using errcode = '22023';
  end if;
  -- A new invitation replaces any pending one for the same address.
  update app.invitations i set revoked_at = now()
  where i.tenant_id = create_invitation.tenant_id and lower(i.email) = lower(btrim(create_invitation.email))
    and i.accepted_at is null and i.revoked_at is null;
  invitation_id := gen_random_uuid();
  expires := now() + interval '48 hours';
  insert into app.invitations (id, tenant_id, email, role, token_hash, invited_by, expires_at)
  values (invitation_id, create_invitation.tenant_id, lower(btrim(create_invitation.email)), create_invitation.role,
    app.token_hash(token), (select auth.uid()), expires);
  return jsonb_build_object('id', invitation_id, 'tenant_id', create_invitation.tenant_id,
    'email', lower(btrim(create_invitation.email)), 'role', create_invitation.role, 'expires_at', expires, 'token', token);
end
$$;
comment on function api.create_invitation(uuid, text, text) is 'Invites an email to the tenant with a role (default operator), valid 48 hours. Returns the raw token once; only its sha256 is stored. Admins; only owners invite owners.';
revoke all on function api.create_invitation(uuid, text, text) from public, anon;
grant execute on function api.create_invitation(uuid, text, text) to authenticated;

create function api.list_invitations(tenant_id uuid, include_inactive boolean default false)
returns table (id uuid, email text, role text, invited_by uuid, created_at timestamptz, expires_at timestamptz,
  accepted_at timestamptz, revoked_at timestamptz, status text)
language sql
set search_path = ''
as $$
  select app.require_read(list_invitations.tenant_id, 'invitations');
  select i.id, i.email, i.role, i.invited_by, i.created_at, i.expires_at, i.accepted_at, i.revoked_at,
    case when i.accepted_at is not null then 'accepted' when i.revoked_at is not null then 'revoked'
         when i.expires_at <= now() then 'expired' else 'pending' end
  from app.invitations i
  where i.tenant_id = list_invitations.tenant_id
    and (list_invitations.include_inactive or (i.accepted_at is null and i.revoked_at is null and i.expires_at > now()))
  order by i.created_at desc, i.id
$$;
comment on function api.list_invitations(uuid, boolean) is 'Invitations of a tenant (pending only unless include_inactive), never their tokens. Any member.';
revoke all on function api.list_invitations(uuid, boolean) from public, anon;
grant execute on function api.list_invitations(uuid, boolean) to authenticated;

create function api.revoke_invitation(invitation_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  inv_tenant uuid;
begin
  select i.tenant_id into inv_tenant from app.invitations i where i.id = revoke_invitation.invitation_id;
  if not found then
    raise exception 'invitation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(inv_tenant, 'admin');
  update app.invitations i set revoked_at = now()
  where i.id = revoke_invitation.invitation_id and i.accepted_at is null and i.revoked_at is null;
  if not found then
    raise exception 'invitation already used or revoked' using errcode = 'KO003';
  end if;
end
$$;
comment on function api.revoke_invitation(uuid) is 'Revokes a pending invitation. Admins (owners for owner invitations).';
revoke all on function api.revoke_invitation(uuid) from public, anon;
grant execute on function api.revoke_invitation(uuid) to authenticated;

create function api.resend_invitation(invitation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  inv record;
  token text := app.new_token('inv_');
  expires timestamptz := now() + interval '48 hours';
begin
  select i.id, i.tenant_id, i.email, i.role, i.accepted_at, i.revoked_at into inv
  from app.invitations i where i.id = resend_invitation.invitation_id;
  if not found then
    raise exception 'invitation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(inv.tenant_id, 'admin');
  if inv.accepted_at is not null or inv.revoked_at is not null then
    raise exception 'invitation already used or revoked' using errcode = 'KO003';
  end if;
  update app.invitations i set token_hash = app.token_hash(token), expires_at = expires
  where i.id = inv.id;
  if not found then
    raise exception 'permission denied' using errcode = '42501';
  end if;
  return jsonb_build_object('id', inv.id, 'tenant_id', inv.tenant_id, 'email', inv.email, 'role', inv.role,
    'expires_at', expires, 'token', token);
end
$$;
comment on function api.resend_invitation(uuid) is 'Issues a new token for a pending invitation (the old one stops working) and restarts its 48 hours. Returns the raw token once. Admins.';
revoke all on function api.resend_invitation(uuid) from public, anon;
grant execute on function api.resend_invitation(uuid) to authenticated;

create function api.preview_invitation(token text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  result jsonb;
begin
  if (select auth.uid()) is null then
    raise exception 'sign in to see an invitation' using errcode = '42501';
  end if;
  select jsonb_build_object('tenant_name', t.name, 'role', i.role, 'email', i.email, 'expires_at', i.expires_at,
      'status', case when i.accepted_at is not null then 'accepted' when i.revoked_at is not null then 'revoked'
                     when i.expires_at <= now() then 'expired' else 'pending' end)
    into result
  from app.invitations i join app.tenants t on t.id = i.tenant_id
  where i.token_hash = app.token_hash(preview_invitation.token);
  if result is null then
    raise exception 'invitation not found' using errcode = 'P0002';
  end if;
  return result;
end
$$;
comment on function api.preview_invitation(text) is 'What an invitation token is for (tenant name, role, email, status), so the accept page can show it. Any signed-in user holding the token. Security definer: the caller is not a member yet.';
revoke all on function api.preview_invitation(text) from public, anon;
grant execute on function api.preview_invitation(text) to authenticated;

create function api.accept_invitation(token text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  uid uuid := (select auth.uid());
  inv app.invitations;
  user_email text;
  existing_role text;
begin
  if uid is null then
    raise exception 'sign in to accept an invitation' using errcode = '42501';
  end if;
  select * into inv from app.invitations i where i.token_hash = app.token_hash(accept_invitation.token) for update;
  if not found then
    raise exception 'invitation not found' using errcode = 'P0002';
  end if;
  if inv.accepted_at is not null or inv.revoked_at is not null then
    raise exception 'this invitation was already used or revoked' using errcode = 'KO003';
  end if;
  if inv.expires_at <= now() then
    raise exception 'this invitation has expired; ask for a new one' using errcode = 'KO002';
  end if;
  select u.email into user_email from auth.users u where u.id = uid;
  if user_email is null or lower(user_email) <> lower(inv.email) then
    raise exception 'this invitation is for another email address' using errcode = 'KO004';
  end if;
  select m.role into existing_role from app.memberships m where m.tenant_id = inv.tenant_id and m.user_id = uid;
  if existing_role is null then
    insert into app.memberships (tenant_id, user_id, role) values (inv.tenant_id, uid, inv.role);
  elsif app.role_rank(inv.role) > app.role_rank(existing_role) then
    update app.memberships m set role = inv.role where m.tenant_id = inv.tenant_id and m.user_id = uid;
  end if;
  update app.invitations i set accepted_at = now(), accepted_by = uid where i.id = inv.id;
  return jsonb_build_object('tenant_id', inv.tenant_id, 'role',
    (select m.role from app.memberships m where m.tenant_id = inv.tenant_id and m.user_id = uid));
end
$$;
comment on function api.accept_invitation(text) is 'Joins the tenant of an invitation: the token must be pending (KO003), unexpired (KO002) and addressed to the caller''s email (KO004); single use. Security definer: the caller is not a member yet.';
revoke all on function api.accept_invitation(text) from public, anon;
grant execute on function api.accept_invitation(text) to authenticated;

-- The tenants the signed-in user may read, computed once per query by the policies on
-- the knowledge ranking tables
-- (a per-row membership check over thousands of postings would cost more than the search).
create function app.readable_tenants()
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
  select case when app.is_platform_admin() then array(select t.id from app.tenants t)
    else array(select m.tenant_id from app.memberships m where m.user_id = (select auth.uid())) end
$$;
comment on function app.readable_tenants() is 'The tenants whose data the signed-in user may read (members; every tenant for a platform admin). Policies call it once per query: tenant_id = any ((select app.readable_tenants())::uuid[]).';
revoke all on function app.readable_tenants() from public, anon;
grant execute on function app.readable_tenants() to authenticated, service_role;

create policy "members can receive their tenant's broadcasts" on realtime.messages
  for select to authenticated
  using (
    realtime.messages.topic = (select realtime.topic())
    and (select realtime.topic()) like 'tenant:%'
    and coalesce(app.can_read(app.tenant_id_from_topic((select realtime.topic()))), false)
  );

-- A visitor is an anonymous user (is_anonymous in its session) whose id names its topic:
-- it reads webchat:<its own id> and nothing else; the publishable key alone, signed-in
-- members and other visitors read nothing there.
create policy "web chat visitors can receive their own conversation's broadcasts" on realtime.messages
  for select to authenticated
  using (
    (select auth.jwt() ->> 'is_anonymous') = 'true'
    and (select realtime.topic()) = 'webchat:' || (select auth.uid())::text
  );
