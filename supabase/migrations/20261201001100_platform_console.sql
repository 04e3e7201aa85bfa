-- The platform console: platform admins see every tenant with its plan, status, usage and
-- cost this period, members and channels; suspend and resume a tenant; and open a
-- tenant's portal read-only for support, recorded in that tenant's audit log.
--   * platform admins are granted and revoked by the service role (api.grant_platform_admin,
--     api.revoke_platform_admin; scripts/platform-admin.ts for self-hosters);
--   * a suspended tenant's agents stop answering: app.billing_refusal says 'suspended' with
--     a polite text, which app.answer_inbound sends as a notice instead of a reply; its
--     admins are told (alert.tenant_suspended: live banner, audit) and see a banner while
--     it lasts;
--   * api.begin_support_access writes support.access_started into the tenant's audit log
--     before the console opens its portal; platform admins read every tenant already
--     (app.can_read) and change nothing there (app.require_role needs a membership).

create function api.grant_platform_admin(email text)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  found_user uuid;
begin
  select u.id into found_user from auth.users u where lower(u.email) = lower(btrim(grant_platform_admin.email));
  if not found then
    raise exception 'no user with the email %', grant_platform_admin.email using errcode = 'P0002';
  end if;
  insert into app.platform_admins (user_id) values (found_user) on conflict on constraint platform_admins_pkey do nothing;
  perform app.write_audit(null, 'platform_admin.granted', 'user', found_user::text,
    jsonb_build_object('email', lower(btrim(grant_platform_admin.email))));
  return found_user;
end
$$;
comment on function api.grant_platform_admin(text) is 'Makes the user with this email a platform admin (P0002 if there is none). service_role (scripts/platform-admin.ts).';
revoke all on function api.grant_platform_admin(text) from public, anon, authenticated;
grant execute on function api.grant_platform_admin(text) to service_role;

create function api.revoke_platform_admin(email text)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  removed uuid;
begin
  delete from app.platform_admins p
  using auth.users u
  where u.id = p.user_id and lower(u.email) = lower(btrim(revoke_platform_admin.email))
  returning p.user_id into removed;
  if removed is not null then
    perform app.write_audit(null, 'platform_admin.revoked', 'user', removed::text,
      jsonb_build_object('email', lower(btrim(revoke_platform_admin.email))));
  end if;
  return removed is not null;
end
$$;
comment on function api.revoke_platform_admin(text) is 'Takes the platform admin role from the user with this email; false when they had none. service_role.';
revoke all on function api.revoke_platform_admin(text) from public, anon, authenticated;
grant execute on function api.revoke_platform_admin(text) to service_role;

create function app.require_platform_admin()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not app.is_platform_admin() then
    raise exception 'platform admins only' using errcode = '42501';
  end if;
end
$$;
comment on function app.require_platform_admin() is 'Refuses (42501) anyone but a platform admin.';
revoke all on function app.require_platform_admin() from public, anon;
grant execute on function app.require_platform_admin() to authenticated, service_role;

create function api.platform_list_tenants(search text default null, after_name text default null,
  after_id uuid default null, page_size integer default 50)
returns table (id uuid, name text, slug text, created_at timestamptz, suspended_at timestamptz, plan_key text,
  plan_name text, billing_status text, member_count bigint, channel_count bigint, agent_count bigint,
  messages_this_period bigint, tokens_this_period bigint, cost_this_period numeric)
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform app.require_platform_admin();
  perform app.write_audit(null, 'platform_admin.list_tenants', 'platform', null,
    jsonb_build_object('search', platform_list_tenants.search));
  return query
    select t.id, t.name, t.slug, t.created_at, t.suspended_at, s.plan_key, coalesce(p.name, s.plan_key),
      coalesce(s.status, 'none'),
      (select count(*) from app.memberships m where m.tenant_id = t.id),
      (select count(*) from app.channel_connections c where c.tenant_id = t.id),
      (select count(*) from app.agents a where a.tenant_id = t.id),
      u.messages, u.tokens, u.cost
    from (
      select x.* from app.tenants x
      where (platform_list_tenants.search is null or x.name ilike '%' || platform_list_tenants.search || '%'
          or x.slug ilike '%' || platform_list_tenants.search || '%')
        and (platform_list_tenants.after_name is null
          or (x.name, x.id) > (platform_list_tenants.after_name, coalesce(platform_list_tenants.after_id, '00000000-0000-0000-0000-000000000000'::uuid)))
      order by x.name, x.id
      limit least(greatest(coalesce(platform_list_tenants.page_size, 50), 1), 200)
    ) t
    left join app.subscriptions s on s.tenant_id = t.id
    left join app.plans p on p.key = s.plan_key
    -- This period's usage of one page of tenants (the calendar month, UTC).
    cross join lateral (
      select
        (select count(*) from app.messages m
          where m.tenant_id = t.id and m.direction = 'in' and m.created_at >= date_trunc('month', now())) as messages,
        coalesce(sum(e.input_tokens + e.output_tokens), 0)::bigint as tokens,
        coalesce(sum(e.cost_usd), 0)::numeric as cost
      from app.usage_events e
      where e.tenant_id = t.id and e.occurred_at >= date_trunc('month', now())
    ) u
    order by t.name, t.id;
end
$$;
comment on function api.platform_list_tenants(text, text, uuid, integer) is 'Every tenant for the platform console, by name (keyset: pass the last row''s name and id), with plan, billing status, suspension, members, channels, agents, and this month''s messages, tokens and cost. Platform admins only; audited.';
revoke all on function api.platform_list_tenants(text, text, uuid, integer) from public, anon, authenticated;
grant execute on function api.platform_list_tenants(text, text, uuid, integer) to authenticated;

create function api.platform_get_tenant(tenant_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  result jsonb;
begin
  perform app.require_platform_admin();
  select jsonb_build_object(
    'id', t.id, 'name', t.name, 'slug', t.slug, 'created_at', t.created_at, 'suspended_at', t.suspended_at,
    'suspended_reason', t.suspended_reason, 'billing', app.billing_state(t.id),
    'members', coalesce((select jsonb_agg(jsonb_build_object('user_id', m.user_id, 'email', u.email, 'role', m.role)
        order by u.email) from app.memberships m join auth.users u on u.id = m.user_id where m.tenant_id = t.id), '[]'::jsonb),
    'channels', coalesce((select jsonb_agg(jsonb_build_object('id', c.id, 'kind', c.kind, 'name', c.name,
        'status', c.status, 'agent_id', c.agent_id) order by c.created_at)
      from app.channel_connections c where c.tenant_id = t.id), '[]'::jsonb))
  into result
  from app.tenants t where t.id = platform_get_tenant.tenant_id;
  if result is null then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  perform app.write_audit(platform_get_tenant.tenant_id, 'support.tenant_viewed', 'tenant',
    platform_get_tenant.tenant_id::text, '{}'::jsonb);
  return result;
end
$$;
comment on function api.platform_get_tenant(uuid) is 'One tenant for the platform console: billing state, members (emails, roles) and channels. Platform admins only; recorded in the tenant''s audit log.';
revoke all on function api.platform_get_tenant(uuid) from public, anon, authenticated;
grant execute on function api.platform_get_tenant(uuid) to authenticated;

create function api.suspend_tenant(tenant_id uuid, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform app.require_platform_admin();
  if coalesce(btrim(suspend_tenant.reason), '') = '' then
    raise exception 'say why the tenant is suspended' using errcode = '22023';
  end if;
  update app.tenants t set suspended_at = coalesce(t.suspended_at, now()), suspended_reason = left(btrim(suspend_tenant.reason), 500)
  where t.id = suspend_tenant.tenant_id;
  if not found then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  -- The alert reaches the tenant's admins live (app.broadcast_alert) and stays in its audit log.
  perform app.write_audit(suspend_tenant.tenant_id, 'alert.tenant_suspended', 'tenant', suspend_tenant.tenant_id::text,
    jsonb_build_object('reason', left(btrim(suspend_tenant.reason), 500)));
  return jsonb_build_object('suspended', true);
end
$$;
comment on function api.suspend_tenant(uuid, text) is 'Suspends a tenant with a reason: its agents answer with a polite notice only, its admins are told (alert.tenant_suspended). Platform admins only.';
revoke all on function api.suspend_tenant(uuid, text) from public, anon, authenticated;
grant execute on function api.suspend_tenant(uuid, text) to authenticated;

create function api.resume_tenant(tenant_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform app.require_platform_admin();
  update app.tenants t set suspended_at = null, suspended_reason = null where t.id = resume_tenant.tenant_id;
  if not found then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  perform app.write_audit(resume_tenant.tenant_id, 'alert.tenant_resumed', 'tenant', resume_tenant.tenant_id::text, '{}'::jsonb);
  return jsonb_build_object('suspended', false);
end
$$;
comment on function api.resume_tenant(uuid) is 'Lifts a suspension: agents answer again; the admins are told (alert.tenant_resumed). Platform admins only.';
revoke all on function api.resume_tenant(uuid) from public, anon, authenticated;
grant execute on function api.resume_tenant(uuid) to authenticated;

create function api.begin_support_access(tenant_id uuid, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  found_slug text;
begin
  perform app.require_platform_admin();
  select t.slug into found_slug from app.tenants t where t.id = begin_support_access.tenant_id;
  if not found then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  perform app.write_audit(begin_support_access.tenant_id, 'support.access_started', 'tenant',
    begin_support_access.tenant_id::text, jsonb_build_object('reason', left(begin_support_access.reason, 500),
      'email', (select auth.jwt()) ->> 'email'));
  return jsonb_build_object('tenant_id', begin_support_access.tenant_id, 'slug', found_slug);
end
$$;
comment on function api.begin_support_access(uuid, text) is 'A platform admin opens a tenant''s portal read-only for support: recorded in that tenant''s audit log (support.access_started, with who and why). Platform admins only.';
revoke all on function api.begin_support_access(uuid, text) from public, anon, authenticated;
grant execute on function api.begin_support_access(uuid, text) to authenticated;

create function api.get_tenant_suspension(tenant_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select case when app.can_read(get_tenant_suspension.tenant_id) then
    (select jsonb_build_object('suspended', t.suspended_at is not null, 'suspended_at', t.suspended_at,
      'reason', t.suspended_reason) from app.tenants t where t.id = get_tenant_suspension.tenant_id) end
$$;
comment on function api.get_tenant_suspension(uuid) is 'Whether the tenant is suspended, since when and why: the banner its members see. Members and platform admins (null for others).';
revoke all on function api.get_tenant_suspension(uuid) from public, anon, authenticated;
grant execute on function api.get_tenant_suspension(uuid) to authenticated;
