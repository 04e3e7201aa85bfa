-- The portal's api: functions a signed-in user calls through supabase.rpc().
--
-- Security invoker unless noted: row level security does the filtering and every
-- function also checks the caller's role first, so a refusal is an exact error:
--   42501 permission denied (not a member of the tenant, or role too low),
--   P0002 not found (the row does not exist or is not visible to the caller),
--   22023 invalid argument, 23505 conflict,
--   KO001 last owner, KO002 invitation expired, KO003 invitation used or revoked,
--   KO004 invitation addressed to another email.
-- The few security definer functions say why in their comment.
-- Grants: every function here is executable by `authenticated` only.

-- Internal helpers -------------------------------------------------------------------

create function app.slugify(value text)
returns text
language sql
immutable
set search_path = ''
as $$
  select left(btrim(regexp_replace(lower(coalesce(value, '')), '[^a-z0-9]+', '-', 'g'), '-'), 40)
$$;
comment on function app.slugify(text) is 'Lowercase, dash-separated slug of a name (at most 40 characters).';

create function app.agent_json(agent app.agents)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select (to_jsonb(agent) - 'llm_api_key_secret_id') || jsonb_build_object('has_own_llm_key', agent.llm_api_key_secret_id is not null)
$$;
comment on function app.agent_json(app.agents) is 'An agent as JSON for the api: every column but the Vault secret id, plus has_own_llm_key.';

create function app.channel_json(channel_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', c.id, 'tenant_id', c.tenant_id, 'kind', c.kind, 'name', c.name, 'agent_id', c.agent_id, 'status', c.status,
    'slack_team_id', c.slack_team_id, 'slack_team_name', c.slack_team_name, 'slack_bot_user_id', c.slack_bot_user_id,
    'whatsapp_phone_number_id', c.whatsapp_phone_number_id,
    'whatsapp_business_account_id', c.whatsapp_business_account_id,
    'whatsapp_display_phone_number', c.whatsapp_display_phone_number,
    'whatsapp_verified', c.whatsapp_verified_at is not null, 'whatsapp_verification_error', c.whatsapp_verification_error,
    'widget_key', c.widget_key, 'has_token', c.token_secret_id is not null, 'settings', c.settings,
    'created_at', c.created_at, 'updated_at', c.updated_at)
  from app.channel_connections c
  where c.id = channel_json.channel_id
$$;
comment on function app.channel_json(uuid) is 'A channel connection as JSON for the api; never includes a token or its Vault id.';

create function app.conversation_json(conversation_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', c.id, 'tenant_id', c.tenant_id, 'connection_id', c.connection_id, 'channel', c.channel,
    'thread_key', c.thread_key, 'contact_id', c.contact_id, 'contact_name', ct.display_name,
    'agent_id', c.agent_id, 'status', c.status, 'assigned_member_id', c.assigned_member_id,
    'escalation_reason', c.escalation_reason, 'last_message_at', c.last_message_at,
    'last_inbound_at', c.last_inbound_at, 'last_message_preview', c.last_message_preview,
    'channel_context', c.channel_context, 'model_failure', c.model_failure, 'is_test', c.is_test,
    'created_at', c.created_at, 'updated_at', c.updated_at)
  from app.conversations c
  left join app.contacts ct on ct.id = c.contact_id
  where c.id = conversation_json.conversation_id
$$;
comment on function app.conversation_json(uuid) is 'A conversation as JSON for the api, with the contact''s display name.';

create function app.new_token(prefix text)
returns text
language sql
volatile
set search_path = ''
as $$
  select prefix || encode(extensions.gen_random_bytes(24), 'hex')
$$;
comment on function app.new_token(text) is 'A random token: prefix + 48 hex characters (192 bits).';

create function app.token_hash(token text)
returns bytea
language sql
immutable
set search_path = ''
as $$
  select extensions.digest(convert_to(token, 'UTF8'), 'sha256')
$$;
comment on function app.token_hash(text) is 'sha256 of a token: what is stored instead of the token.';

create function app.chunk_text(content text, max_chars integer default 1200)
returns table (chunk_index integer, chunk text)
language plpgsql
immutable
set search_path = ''
as $$
declare
  paragraph text;
  current_chunk text := '';
  n integer := 0;
begin
  for paragraph in
    select btrim(p) from regexp_split_to_table(coalesce(content, ''), E'\\n\\s*\\n') p where btrim(p) <> ''
  loop
    -- A paragraph longer than a chunk is cut at whitespace.
    while length(paragraph) > max_chars loop
      if current_chunk <> '' then
        chunk_index := n; chunk := current_chunk; return next; n := n + 1; current_chunk := '';
      end if;
      chunk_index := n;
      chunk := btrim(substr(paragraph, 1, greatest(
        coalesce(length(substr(paragraph, 1, max_chars)) - strpos(reverse(substr(paragraph, 1, max_chars)), ' '), max_chars),
        max_chars / 2)));
      return next;
      n := n + 1;
      paragraph := btrim(substr(paragraph, length(chunk) + 1));
    end loop;
    if current_chunk <> '' and length(current_chunk) + length(paragraph) + 2 > max_chars then
      chunk_index := n; chunk := current_chunk; return next; n := n + 1; current_chunk := '';
    end if;
    current_chunk := case when current_chunk = '' then paragraph else current_chunk || E'\n\n' || paragraph end;
  end loop;
  if current_chunk <> '' then
    chunk_index := n; chunk := current_chunk; return next;
  end if;
end
$$;
comment on function app.chunk_text(text, integer) is 'Splits text into passages of at most max_chars, on blank lines, merging short paragraphs; used so pasted knowledge is searchable at once.';

-- Tenants ------------------------------------------------------------------------------

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

create function api.admin_list_tenants()
returns table (id uuid, name text, slug text, created_at timestamptz, member_count bigint)
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not app.is_platform_admin() then
    raise exception 'platform admins only' using errcode = '42501';
  end if;
  perform app.write_audit(null, 'platform_admin.list_tenants', 'platform', null, '{}'::jsonb);
  return query
    select t.id, t.name, t.slug, t.created_at, (select count(*) from app.memberships m where m.tenant_id = t.id)
    from app.tenants t
    order by t.created_at desc, t.id;
end
$$;
comment on function api.admin_list_tenants() is 'Every tenant, for platform admins only; the read is audited. Security definer to write the audit entry and count members.';

-- Members ------------------------------------------------------------------------------

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

create function api.leave_tenant(tenant_id uuid)
returns void
language sql
set search_path = ''
as $$
  select api.remove_member(leave_tenant.tenant_id, (select auth.uid()))
$$;
comment on function api.leave_tenant(uuid) is 'The caller leaves the tenant. Any member except the last owner (KO001).';

-- Invitations ---------------------------------------------------------------------------

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

-- Agents ---------------------------------------------------------------------------------

create function api.list_agent_templates()
returns table (key text, name text, description text, role text, tone text, tools jsonb, sort_order integer)
language sql
stable
set search_path = ''
as $$
  select t.key, t.name, t.description, t.role, t.tone, t.tools, t.sort_order
  from app.agent_templates t order by t.sort_order, t.key
$$;
comment on function api.list_agent_templates() is 'The agent templates that deploy_agent_template can deploy. Any signed-in user.';

create function api.list_agents(tenant_id uuid)
returns table (id uuid, name text, role text, template_key text, status text, model_settings jsonb, tools jsonb,
  monthly_token_budget bigint, tokens_used_this_month bigint, created_at timestamptz, updated_at timestamptz)
language sql
set search_path = ''
as $$
  select app.require_read(list_agents.tenant_id, 'agents');
  select a.id, a.name, a.role, a.template_key, a.status, a.model_settings, a.tools, a.monthly_token_budget,
    coalesce((select u.tokens from app.agent_usage u
      where u.agent_id = a.id and u.period_start = app.usage_period(now())), 0)::bigint,
    a.created_at, a.updated_at
  from app.agents a
  where a.tenant_id = list_agents.tenant_id
  order by a.created_at, a.id
$$;
comment on function api.list_agents(uuid) is 'The agents of a tenant with this month''s token use. Any member; platform admins (audited).';

create function api.get_agent(agent_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  agent app.agents;
begin
  select * into agent from app.agents a where a.id = get_agent.agent_id;
  if not found then
    raise exception 'agent not found' using errcode = 'P0002';
  end if;
  perform app.require_read(agent.tenant_id, 'agent');
  return app.agent_json(agent);
end
$$;
comment on function api.get_agent(uuid) is 'One agent with all its settings (never its LLM key). Any member.';

create function api.create_agent(
  tenant_id uuid,
  name text,
  role text default '',
  persona text default '',
  tone text default '',
  instructions text default '',
  model_settings jsonb default '{}'::jsonb,
  tools jsonb default '{}'::jsonb,
  escalation_rules jsonb default '[]'::jsonb,
  monthly_token_budget bigint default null,
  status text default 'active'
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  agent app.agents;
begin
  perform app.require_role(create_agent.tenant_id, 'admin');
  insert into app.agents (tenant_id, name, role, persona, tone, instructions, model_settings, tools, escalation_rules,
    monthly_token_budget, status, created_by)
  values (create_agent.tenant_id, btrim(create_agent.name), coalesce(create_agent.role, ''),
    coalesce(create_agent.persona, ''), coalesce(create_agent.tone, ''), coalesce(create_agent.instructions, ''),
    coalesce(create_agent.model_settings, '{}'::jsonb), coalesce(create_agent.tools, '{}'::jsonb),
    coalesce(create_agent.escalation_rules, '[]'::jsonb), create_agent.monthly_token_budget,
    coalesce(create_agent.status, 'active'), (select auth.uid()))
  returning * into agent;
  return app.agent_json(agent);
end
$$;
comment on function api.create_agent(uuid, text, text, text, text, text, jsonb, jsonb, jsonb, bigint, text) is 'Creates an agent. Owners and admins.';

create function api.update_agent(agent_id uuid, changes jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  agent app.agents;
  unknown text;
begin
  select * into agent from app.agents a where a.id = update_agent.agent_id;
  if not found then
    raise exception 'agent not found' using errcode = 'P0002';
  end if;
  perform app.require_role(agent.tenant_id, 'admin');
  if jsonb_typeof(update_agent.changes) is distinct from 'object' then
    raise exception 'changes must be a JSON object' using errcode = '22023';
  end if;
  select k into unknown from jsonb_object_keys(update_agent.changes) k
  where k not in ('name', 'role', 'persona', 'tone', 'instructions', 'model_settings', 'tools', 'escalation_rules',
    'monthly_token_budget', 'status')
  limit 1;
  if unknown is not null then
    raise exception 'unknown agent field %', unknown using errcode = '22023';
  end if;
  update app.agents a set
    name = case when update_agent.changes ? 'name' then btrim(update_agent.changes ->> 'name') else a.name end,
    role = case when update_agent.changes ? 'role' then coalesce(update_agent.changes ->> 'role', '') else a.role end,
    persona = case when update_agent.changes ? 'persona' then coalesce(update_agent.changes ->> 'persona', '') else a.persona end,
    tone = case when update_agent.changes ? 'tone' then coalesce(update_agent.changes ->> 'tone', '') else a.tone end,
    instructions = case when update_agent.changes ? 'instructions'
      then coalesce(update_agent.changes ->> 'instructions', '') else a.instructions end,
    model_settings = case when update_agent.changes ? 'model_settings'
      then coalesce(update_agent.changes -> 'model_settings', '{}'::jsonb) else a.model_settings end,
    tools = case when update_agent.changes ? 'tools' then coalesce(update_agent.changes -> 'tools', '{}'::jsonb) else a.tools end,
    escalation_rules = case when update_agent.changes ? 'escalation_rules'
      then coalesce(update_agent.changes -> 'escalation_rules', '[]'::jsonb) else a.escalation_rules end,
    monthly_token_budget = case when update_agent.changes ? 'monthly_token_budget'
      then (update_agent.changes ->> 'monthly_token_budget')::bigint else a.monthly_token_budget end,
    status = case when update_agent.changes ? 'status' then update_agent.changes ->> 'status' else a.status end
  where a.id = update_agent.agent_id
  returning * into agent;
  return app.agent_json(agent);
end
$$;
comment on function api.update_agent(uuid, jsonb) is 'Changes an agent: changes is an object of any of name, role, persona, tone, instructions, model_settings, tools, escalation_rules, monthly_token_budget (null = unlimited), status. Owners and admins.';

create function api.pause_agent(agent_id uuid)
returns jsonb
language sql
set search_path = ''
as $$
  select api.update_agent(pause_agent.agent_id, '{"status": "paused"}'::jsonb)
$$;
comment on function api.pause_agent(uuid) is 'Pauses an agent: its conversations get no agent jobs. Owners and admins.';

create function api.resume_agent(agent_id uuid)
returns jsonb
language sql
set search_path = ''
as $$
  select api.update_agent(resume_agent.agent_id, '{"status": "active"}'::jsonb)
$$;
comment on function api.resume_agent(uuid) is 'Makes a paused agent active again. Owners and admins.';

create function api.delete_agent(agent_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  agent_tenant uuid;
begin
  select a.tenant_id into agent_tenant from app.agents a where a.id = delete_agent.agent_id;
  if not found then
    raise exception 'agent not found' using errcode = 'P0002';
  end if;
  perform app.require_role(agent_tenant, 'admin');
  delete from app.agents a where a.id = delete_agent.agent_id;
end
$$;
comment on function api.delete_agent(uuid) is 'Deletes an agent; its channels and conversations become unassigned, history stays. Owners and admins.';

create function api.deploy_agent_template(tenant_id uuid, template_key text, name text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  template app.agent_templates;
  company text;
  agent app.agents;
begin
  perform app.require_role(deploy_agent_template.tenant_id, 'admin');
  select * into template from app.agent_templates t where t.key = deploy_agent_template.template_key;
  if not found then
    raise exception 'unknown agent template %', deploy_agent_template.template_key using errcode = 'P0002';
  end if;
  select t.name into company from app.tenants t where t.id = deploy_agent_template.tenant_id;
  insert into app.agents (tenant_id, template_key, name, role, persona, tone, instructions, model_settings, tools,
    escalation_rules, created_by)
  values (deploy_agent_template.tenant_id, template.key,
    coalesce(nullif(btrim(deploy_agent_template.name), ''), template.name), template.role,
    replace(template.persona, '{{company}}', company), template.tone,
    replace(template.instructions, '{{company}}', company), template.model_settings, template.tools,
    template.escalation_rules, (select auth.uid()))
  returning * into agent;
  return app.agent_json(agent);
end
$$;
comment on function api.deploy_agent_template(uuid, text, text) is 'Creates a working agent from a template (customer_support_rep, sales_assistant, office_manager), optionally renamed. Owners and admins.';

-- Channels --------------------------------------------------------------------------------

create function api.list_channels(tenant_id uuid)
returns table (id uuid, kind text, name text, agent_id uuid, agent_name text, status text, slack_team_id text,
  slack_team_name text, slack_bot_user_id text, whatsapp_phone_number_id text, whatsapp_business_account_id text,
  whatsapp_display_phone_number text, widget_key text, has_token boolean, settings jsonb, created_at timestamptz,
  whatsapp_verified_at timestamptz, whatsapp_verification_error text)
language sql
set search_path = ''
as $$
  select app.require_read(list_channels.tenant_id, 'channels');
  select c.id, c.kind, c.name, c.agent_id, a.name, c.status, c.slack_team_id, c.slack_team_name, c.slack_bot_user_id,
    c.whatsapp_phone_number_id, c.whatsapp_business_account_id, c.whatsapp_display_phone_number, c.widget_key,
    c.token_secret_id is not null, c.settings, c.created_at, c.whatsapp_verified_at, c.whatsapp_verification_error
  from app.channel_connections c
  left join app.agents a on a.id = c.agent_id
  where c.tenant_id = list_channels.tenant_id
  order by c.created_at, c.id
$$;
comment on function api.list_channels(uuid) is 'The channel connections of a tenant (never tokens). A WhatsApp number''s proof of control: whatsapp_verified_at (proved; only then does its traffic arrive) or whatsapp_verification_error (why not); both null while the check is pending. Any member.';

create function app.first_active_agent(tenant_id uuid)
returns uuid
language sql
stable
set search_path = ''
as $$
  select a.id from app.agents a
  where a.tenant_id = first_active_agent.tenant_id and a.status = 'active'
  order by a.created_at, a.id
  limit 1
$$;
comment on function app.first_active_agent(uuid) is 'The agent a new channel is answered by unless an admin picks another: the tenant''s oldest active agent (null when it has none).';

create function api.create_web_chat_channel(tenant_id uuid, name text, agent_id uuid default null,
  allowed_origins text[] default null, without_agent boolean default false)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  channel_id uuid;
begin
  perform app.require_role(create_web_chat_channel.tenant_id, 'admin');
  insert into app.channel_connections (tenant_id, kind, name, agent_id, widget_key, settings, created_by)
  values (create_web_chat_channel.tenant_id, 'web_chat', btrim(create_web_chat_channel.name),
    case when create_web_chat_channel.without_agent then null
      else coalesce(create_web_chat_channel.agent_id, app.first_active_agent(create_web_chat_channel.tenant_id)) end,
    app.new_token('wk_'),
    case when create_web_chat_channel.allowed_origins is null then '{}'::jsonb
      else jsonb_build_object('allowed_origins', to_jsonb(create_web_chat_channel.allowed_origins)) end,
    (select auth.uid()))
  returning id into channel_id;
  return app.channel_json(channel_id);
end
$$;
comment on function api.create_web_chat_channel(uuid, text, uuid, text[], boolean) is 'Creates a web chat connection with a new public widget key, answered by the given agent (by default the tenant''s first active agent; without_agent leaves it to humans) and optionally restricted to allowed origins. Owners and admins.';

create function app.enqueue_whatsapp_verification(connection_id uuid)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  c app.channel_connections;
begin
  select * into c from app.channel_connections x where x.id = enqueue_whatsapp_verification.connection_id and x.kind = 'whatsapp';
  if not found then
    return null;
  end if;
  return app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'verify_whatsapp_channel', 'tenant_id', c.tenant_id,
    'connection_id', c.id, 'phone_number_id', c.whatsapp_phone_number_id,
    'business_account_id', c.whatsapp_business_account_id));
end
$$;
comment on function app.enqueue_whatsapp_verification(uuid) is 'Queues the proof-of-control check of a WhatsApp connection (the worker asks the Graph API, with the connection''s token, for the numbers of its business account). Called by the definers that create a connection or change its token.';

create function api.create_whatsapp_channel(tenant_id uuid, name text, phone_number_id text, business_account_id text,
  access_token text, display_phone_number text default null, agent_id uuid default null,
  without_agent boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  channel_id uuid := gen_random_uuid();
begin
  perform app.require_role(create_whatsapp_channel.tenant_id, 'admin');
  if coalesce(btrim(create_whatsapp_channel.access_token), '') = '' then
    raise exception 'an access token is required' using errcode = '22023';
  end if;
  if coalesce(btrim(create_whatsapp_channel.phone_number_id), '') = ''
     or coalesce(btrim(create_whatsapp_channel.business_account_id), '') = '' then
    raise exception 'the phone number id and the WhatsApp business account id are required' using errcode = '22023';
  end if;
  if create_whatsapp_channel.agent_id is not null and not exists (
    select 1 from app.agents a where a.id = create_whatsapp_channel.agent_id and a.tenant_id = create_whatsapp_channel.tenant_id
  ) then
    raise exception 'agent not found' using errcode = 'P0002';
  end if;
  -- Only a proven connection holds a number: an unproven claim (anyone's) blocks nobody.
  if exists (select 1 from app.channel_connections c
             where c.whatsapp_phone_number_id = btrim(create_whatsapp_channel.phone_number_id)
               and c.whatsapp_verified_at is not null) then
    raise exception 'this WhatsApp number is already connected' using errcode = '23505';
  end if;
  insert into app.channel_connections (id, tenant_id, kind, name, agent_id, whatsapp_phone_number_id,
    whatsapp_business_account_id, whatsapp_display_phone_number, token_secret_id, created_by)
  values (channel_id, create_whatsapp_channel.tenant_id, 'whatsapp', btrim(create_whatsapp_channel.name),
    case when create_whatsapp_channel.without_agent then null
      else coalesce(create_whatsapp_channel.agent_id, app.first_active_agent(create_whatsapp_channel.tenant_id)) end,
    btrim(create_whatsapp_channel.phone_number_id),
    btrim(create_whatsapp_channel.business_account_id), create_whatsapp_channel.display_phone_number,
    vault.create_secret(create_whatsapp_channel.access_token, 'konstruct_channel_' || channel_id::text,
      'WhatsApp access token of channel ' || channel_id::text),
    (select auth.uid()));
  perform app.enqueue_whatsapp_verification(channel_id);
  return app.channel_json(channel_id);
end
$$;
comment on function api.create_whatsapp_channel(uuid, text, text, text, text, text, uuid, boolean) is 'Connects a WhatsApp Cloud API number of a business account (23505 if another tenant has proved control of it), answered by the given agent (by default the tenant''s first active agent; without_agent leaves it to humans); the access token goes to Vault and is never returned. The number receives traffic only after the worker has seen the token reach it in that business account (whatsapp_verified; whatsapp_verification_error says why not). Owners and admins. Security definer only to write Vault and queue the check, after the role check.';

create function api.set_channel_token(channel_id uuid, token text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  channel app.channel_connections;
begin
  select * into channel from app.channel_connections c where c.id = set_channel_token.channel_id;
  if not found or not app.can_read(channel.tenant_id) then
    raise exception 'channel not found' using errcode = 'P0002';
  end if;
  perform app.require_role(channel.tenant_id, 'admin');
  if channel.kind = 'web_chat' then
    raise exception 'web chat channels have no token' using errcode = '22023';
  end if;
  if coalesce(btrim(set_channel_token.token), '') = '' then
    raise exception 'a token is required' using errcode = '22023';
  end if;
  if channel.token_secret_id is null then
    update app.channel_connections c set token_secret_id = vault.create_secret(set_channel_token.token,
      'konstruct_channel_' || channel.id::text, 'token of channel ' || channel.id::text)
    where c.id = channel.id;
  else
    perform vault.update_secret(channel.token_secret_id, set_channel_token.token);
    perform app.write_audit(channel.tenant_id, 'channel.token_rotated', 'channel', channel.id::text, '{}'::jsonb);
  end if;
  -- A new token must prove control again; the number keeps working until a check fails.
  if channel.kind = 'whatsapp' then
    perform app.enqueue_whatsapp_verification(channel.id);
  end if;
  return app.channel_json(channel.id);
end
$$;
comment on function api.set_channel_token(uuid, text) is 'Stores or rotates a Slack/WhatsApp channel token in Vault (never returned). Owners and admins. Security definer only to write Vault, after the role check.';

create function api.update_channel(channel_id uuid, name text default null, settings jsonb default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  channel_tenant uuid;
begin
  select c.tenant_id into channel_tenant from app.channel_connections c where c.id = update_channel.channel_id;
  if not found then
    raise exception 'channel not found' using errcode = 'P0002';
  end if;
  perform app.require_role(channel_tenant, 'admin');
  update app.channel_connections c set
    name = coalesce(btrim(update_channel.name), c.name),
    settings = coalesce(update_channel.settings, c.settings)
  where c.id = update_channel.channel_id;
  return app.channel_json(update_channel.channel_id);
end
$$;
comment on function api.update_channel(uuid, text, jsonb) is 'Renames a channel or replaces its settings (e.g. web chat allowed_origins). Owners and admins.';

create function api.assign_channel_agent(channel_id uuid, agent_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  channel_tenant uuid;
begin
  select c.tenant_id into channel_tenant from app.channel_connections c where c.id = assign_channel_agent.channel_id;
  if not found then
    raise exception 'channel not found' using errcode = 'P0002';
  end if;
  perform app.require_role(channel_tenant, 'admin');
  if assign_channel_agent.agent_id is not null and not exists (
    select 1 from app.agents a where a.id = assign_channel_agent.agent_id and a.tenant_id = channel_tenant
  ) then
    raise exception 'agent not found' using errcode = 'P0002';
  end if;
  update app.channel_connections c set agent_id = assign_channel_agent.agent_id where c.id = assign_channel_agent.channel_id;
  -- Open conversations follow the channel's agent; those with a human keep theirs for release.
  update app.conversations v set agent_id = assign_channel_agent.agent_id
  where v.connection_id = assign_channel_agent.channel_id and v.status <> 'closed';
  return app.channel_json(assign_channel_agent.channel_id);
end
$$;
comment on function api.assign_channel_agent(uuid, uuid) is 'Assigns an agent of the same tenant (or none) to a channel and its ongoing conversations. Owners and admins.';

create function api.set_channel_status(channel_id uuid, status text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  channel_tenant uuid;
begin
  select c.tenant_id into channel_tenant from app.channel_connections c where c.id = set_channel_status.channel_id;
  if not found then
    raise exception 'channel not found' using errcode = 'P0002';
  end if;
  perform app.require_role(channel_tenant, 'admin');
  if set_channel_status.status not in ('active', 'disabled') then
    raise exception 'status must be active or disabled' using errcode = '22023';
  end if;
  update app.channel_connections c set status = set_channel_status.status where c.id = set_channel_status.channel_id;
  return app.channel_json(set_channel_status.channel_id);
end
$$;
comment on function api.set_channel_status(uuid, text) is 'Disables or re-enables a channel (a disabled channel ingests nothing). Owners and admins.';

create function api.disable_channel(channel_id uuid)
returns jsonb
language sql
set search_path = ''
as $$
  select api.set_channel_status(disable_channel.channel_id, 'disabled')
$$;
comment on function api.disable_channel(uuid) is 'Disables a channel. Owners and admins.';

-- Conversations and messages ------------------------------------------------------------------

create function app.require_inbox_view(view text)
returns void
language plpgsql
immutable
set search_path = ''
as $fn$
begin
  if view is not null and view not in ('all', 'mine', 'unassigned', 'waiting', 'closed') then
    raise exception 'unknown view %; use all, mine, unassigned, waiting or closed', view using errcode = '22023';
  end if;
end
$fn$;
comment on function app.require_inbox_view(text) is 'Refuses (22023) an inbox view other than all, mine, unassigned, waiting and closed.';

create function api.list_conversations(
  tenant_id uuid,
  status text default null,
  channel text default null,
  agent_id uuid default null,
  assigned_to_me boolean default false,
  search text default null,
  before_activity_at timestamptz default null,
  before_id uuid default null,
  page_size integer default 50,
  view text default null,
  assignee_id uuid default null,
  from_time timestamptz default null,
  to_time timestamptz default null
)
returns table (id uuid, connection_id uuid, connection_name text, channel text, thread_key text, contact_id uuid,
  contact_name text, agent_id uuid, agent_name text, status text, assigned_member_id uuid, escalation_reason text,
  last_message_at timestamptz, last_message_preview text, activity_at timestamptz, created_at timestamptz,
  unread boolean, channel_agent_id uuid, model_failure jsonb, is_test boolean)
language sql
set search_path = ''
as $$
  select app.require_read(list_conversations.tenant_id, 'conversations');
  select app.require_inbox_view(list_conversations.view);
  select c.id, c.connection_id, cc.name, c.channel, c.thread_key, c.contact_id, ct.display_name, c.agent_id, a.name,
    c.status, c.assigned_member_id, c.escalation_reason, c.last_message_at, c.last_message_preview,
    coalesce(c.last_message_at, c.created_at), c.created_at,
    -- Unread: a contact message past the caller's read mark (one comparison, no counting).
    coalesce(c.last_inbound_seq, 0) > coalesce((select r.last_read_seq from app.conversation_reads r
      where r.conversation_id = c.id and r.user_id = (select auth.uid())), 0),
    cc.agent_id, c.model_failure, c.is_test
  from app.conversations c
  join app.channel_connections cc on cc.id = c.connection_id
  left join app.contacts ct on ct.id = c.contact_id
  left join app.agents a on a.id = c.agent_id
  where c.tenant_id = list_conversations.tenant_id
    and (list_conversations.status is null or c.status = list_conversations.status)
    and (list_conversations.channel is null or c.channel = list_conversations.channel)
    and (list_conversations.agent_id is null or c.agent_id = list_conversations.agent_id)
    and (list_conversations.assignee_id is null or c.assigned_member_id = list_conversations.assignee_id)
    and (not coalesce(list_conversations.assigned_to_me, false) or c.assigned_member_id = (select auth.uid()))
    and (list_conversations.view is null
      or list_conversations.view = 'all'
      or (list_conversations.view = 'mine' and c.status <> 'closed' and c.assigned_member_id = (select auth.uid()))
      or (list_conversations.view = 'unassigned' and c.status <> 'closed' and c.assigned_member_id is null)
      or (list_conversations.view = 'waiting' and c.status = 'waiting_for_human')
      or (list_conversations.view = 'closed' and c.status = 'closed'))
    and (list_conversations.from_time is null or coalesce(c.last_message_at, c.created_at) >= list_conversations.from_time)
    and (list_conversations.to_time is null or coalesce(c.last_message_at, c.created_at) < list_conversations.to_time)
    -- Every filter on c alone (the contact's name through exists), so even a generic plan walks
    -- conversations_tenant_activity_idx in order and stops at the page.
    and (list_conversations.search is null
      or exists (select 1 from app.contacts sc where sc.id = c.contact_id
                 and sc.display_name ilike '%' || list_conversations.search || '%')
      -- Any message of the conversation. A correlated exists, not `in (select …)`: under the
      -- generic plan PostgreSQL 15 gives this function, a hashed subplan would read every
      -- message of the tenant even for the first page without a search.
      or exists (select 1 from app.messages m
        where m.conversation_id = c.id
          and m.search @@ websearch_to_tsquery('simple'::regconfig, list_conversations.search)))
    and (list_conversations.before_activity_at is null
      or (coalesce(c.last_message_at, c.created_at), c.id)
        < (list_conversations.before_activity_at, coalesce(list_conversations.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))
  order by coalesce(c.last_message_at, c.created_at) desc, c.id desc
  limit least(greatest(coalesce(list_conversations.page_size, 50), 1), 200)
$$;
comment on function api.list_conversations(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz) is 'Conversations of a tenant, most recent activity first. view: all / mine (assigned to the caller, not closed) / unassigned (not closed) / waiting / closed; filters by status, channel, agent, assignee, activity between from_time and to_time, and search (contact name, or full text over every message). unread = a contact message past the caller''s read mark; is_test = the portal''s test chat (never counted toward the plan). Keyset paging: pass the last row''s activity_at and id as before_activity_at/before_id. page_size 1-200. Any member.';
create function api.get_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = get_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_read(conversation_tenant, 'conversation');
  return app.conversation_json(get_conversation.conversation_id);
end
$$;
comment on function api.get_conversation(uuid) is 'One conversation with its contact. Any member.';

create function api.list_messages(conversation_id uuid, before_seq bigint default null, page_size integer default 50)
returns table (id uuid, seq bigint, direction text, author_kind text, author_member_id uuid, agent_id uuid, text text,
  attachments jsonb, delivery_status text, delivery_error text, created_at timestamptz)
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = list_messages.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_read(conversation_tenant, 'messages');
  return query
    select p.id, p.seq, p.direction, p.author_kind, p.author_member_id, p.agent_id, p.text, p.attachments,
      p.delivery_status, p.delivery_error, p.created_at
    from (
      select m.* from app.messages m
      where m.conversation_id = list_messages.conversation_id
        and (list_messages.before_seq is null or m.seq < list_messages.before_seq)
      order by m.seq desc
      limit least(greatest(coalesce(list_messages.page_size, 50), 1), 200)
    ) p
    order by p.seq;
end
$$;
comment on function api.list_messages(uuid, bigint, integer) is 'The newest page_size (1-200) messages of a conversation before before_seq, in chronological order; for the previous page pass the first row''s seq. Any member.';

create function api.takeover_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = takeover_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conversation_tenant, 'admin');
  update app.conversations c set status = 'human', assigned_member_id = (select auth.uid())
  where c.id = takeover_conversation.conversation_id;
  return app.conversation_json(takeover_conversation.conversation_id);
end
$$;
comment on function api.takeover_conversation(uuid) is 'The caller takes over a conversation: status human, assigned to the caller; the agent stays silent. Audited. Owners and admins.';

create function api.release_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = release_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conversation_tenant, 'admin');
  update app.conversations c set status = 'open', assigned_member_id = null, escalation_reason = null
  where c.id = release_conversation.conversation_id;
  return app.conversation_json(release_conversation.conversation_id);
end
$$;
comment on function api.release_conversation(uuid) is 'Returns a conversation to its agent (status open). Audited. Owners and admins.';

create function api.close_conversation(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = close_conversation.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conversation_tenant, 'admin');
  update app.conversations c set status = 'closed', assigned_member_id = null
  where c.id = close_conversation.conversation_id;
  return app.conversation_json(close_conversation.conversation_id);
end
$$;
comment on function api.close_conversation(uuid) is 'Closes a conversation (a new inbound message reopens it). Audited. Owners and admins.';

create function app.enqueue_member_reply(message_id uuid)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  msg app.messages;
begin
  select * into msg from app.messages m where m.id = enqueue_member_reply.message_id;
  if not found or msg.author_kind <> 'member' or msg.author_member_id is distinct from (select auth.uid())
     or msg.delivery_status <> 'pending' or not app.is_member(msg.tenant_id, 'admin') then
    raise exception 'permission denied' using errcode = '42501';
  end if;
  return app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'deliver', 'tenant_id', msg.tenant_id,
    'conversation_id', msg.conversation_id, 'message_id', msg.id));
end
$$;
comment on function app.enqueue_member_reply(uuid) is 'Queues delivery of the caller''s own pending member reply. Security definer because only service_role may use pgmq; checks the message is the caller''s.';

create function api.reply_as_member(conversation_id uuid, text text, attachments jsonb default '[]'::jsonb,
  client_key text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv record;
  new_message_id uuid;
  job_id bigint;
begin
  select c.id, c.tenant_id, c.connection_id, c.status, c.assigned_member_id into conv
  from app.conversations c where c.id = reply_as_member.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conv.tenant_id, 'admin');
  if coalesce(btrim(reply_as_member.text), '') = '' and coalesce(jsonb_array_length(reply_as_member.attachments), 0) = 0 then
    raise exception 'a reply needs text or an attachment' using errcode = '22023';
  end if;
  if reply_as_member.client_key is not null then
    select m.id into new_message_id from app.messages m
    where m.conversation_id = conv.id and m.idempotency_key = 'member:' || reply_as_member.client_key;
    if found then
      return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'duplicate', true);
    end if;
  end if;
  -- Replying takes the conversation over: the agent must not answer at the same time.
  if conv.status <> 'human' or conv.assigned_member_id is distinct from (select auth.uid()) then
    update app.conversations c set status = 'human', assigned_member_id = (select auth.uid()) where c.id = conv.id;
  end if;
  insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, author_member_id, text,
    attachments, idempotency_key, delivery_status)
  values (conv.tenant_id, conv.id, conv.connection_id, 'out', 'member', (select auth.uid()), reply_as_member.text,
    coalesce(reply_as_member.attachments, '[]'::jsonb), 'member:' || coalesce(reply_as_member.client_key, gen_random_uuid()::text),
    'pending')
  returning id into new_message_id;
  job_id := app.enqueue_member_reply(new_message_id);
  return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'job_id', job_id, 'duplicate', false);
end
$$;
comment on function api.reply_as_member(uuid, text, jsonb, text) is 'A member''s reply: takes the conversation over (status human), stores an outbound message (pending) and queues its delivery to the channel. client_key makes a retried click a no-op. Owners and admins.';

-- Knowledge ------------------------------------------------------------------------------------

create function api.list_knowledge_sources(tenant_id uuid, before_created_at timestamptz default null,
  before_id uuid default null, page_size integer default 100)
returns table (id uuid, title text, kind text, uri text, status text, error text, chunk_count integer,
  created_by uuid, created_at timestamptz, updated_at timestamptz)
language sql
set search_path = ''
as $$
  select app.require_read(list_knowledge_sources.tenant_id, 'knowledge');
  select s.id, s.title, s.kind, s.uri, s.status, s.error, s.chunk_count, s.created_by, s.created_at, s.updated_at
  from app.knowledge_sources s
  where s.tenant_id = list_knowledge_sources.tenant_id
    and (list_knowledge_sources.before_created_at is null
      or (s.created_at, s.id) < (list_knowledge_sources.before_created_at,
        coalesce(list_knowledge_sources.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)))
  order by s.created_at desc, s.id desc
  limit least(greatest(coalesce(list_knowledge_sources.page_size, 100), 1), 500)
$$;
comment on function api.list_knowledge_sources(uuid, timestamptz, uuid, integer) is 'The knowledge sources of a tenant with their processing status, newest first; keyset paging: pass the last row''s created_at and id as before_created_at/before_id. page_size 1-500 (default 100). Any member.';

create function app.enqueue_knowledge_source(source_id uuid)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  source_tenant uuid;
begin
  select s.tenant_id into source_tenant from app.knowledge_sources s where s.id = enqueue_knowledge_source.source_id;
  -- Inside a definer current_user is the owner, never the caller: ask who signed the request.
  if not found or not (app.is_member(source_tenant, 'admin') or (select auth.role()) = 'service_role') then
    raise exception 'permission denied' using errcode = '42501';
  end if;
  return app.enqueue_job('knowledge_jobs', jsonb_build_object('kind', 'process_source', 'tenant_id', source_tenant,
    'source_id', enqueue_knowledge_source.source_id));
end
$$;
comment on function app.enqueue_knowledge_source(uuid) is 'Queues a knowledge source for (re)chunking and embedding. Security definer because only service_role may use pgmq; checks the caller (by its JWT, not current_user, which is the owner here) is an admin of the source''s tenant or the service role.';

create function api.delete_knowledge_source(source_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
  source_tenant uuid;
begin
  select s.tenant_id into source_tenant from app.knowledge_sources s where s.id = delete_knowledge_source.source_id;
  if not found then
    raise exception 'knowledge source not found' using errcode = 'P0002';
  end if;
  perform app.require_role(source_tenant, 'admin');
  delete from app.knowledge_sources s where s.id = delete_knowledge_source.source_id;
end
$$;
comment on function api.delete_knowledge_source(uuid) is 'Deletes a knowledge source and its chunks. Owners and admins.';

-- Usage and audit --------------------------------------------------------------------------------

create function api.usage_summary(tenant_id uuid, group_by text default 'day',
  from_time timestamptz default date_trunc('month', now()), to_time timestamptz default null)
returns table (bucket text, label text, input_tokens bigint, output_tokens bigint, total_tokens bigint,
  cost_usd numeric, event_count bigint)
language plpgsql
set search_path = ''
as $$
begin
  perform app.require_read(usage_summary.tenant_id, 'usage');
  if usage_summary.group_by not in ('day', 'agent', 'channel', 'model') then
    raise exception 'group_by must be day, agent, channel or model' using errcode = '22023';
  end if;
  return query
    select g.bucket, g.label, sum(g.input_tokens)::bigint, sum(g.output_tokens)::bigint,
      sum(g.input_tokens + g.output_tokens)::bigint, sum(g.cost_usd), count(*)::bigint
    from (
      select
        case usage_summary.group_by
          when 'day' then to_char((u.occurred_at at time zone 'UTC')::date, 'YYYY-MM-DD')
          when 'agent' then coalesce(u.agent_id::text, 'none')
          when 'channel' then coalesce(u.channel, 'none')
          else coalesce(u.model, 'none')
        end as bucket,
        case usage_summary.group_by
          when 'day' then to_char((u.occurred_at at time zone 'UTC')::date, 'YYYY-MM-DD')
          when 'agent' then coalesce((select a.name from app.agents a where a.id = u.agent_id), 'deleted or no agent')
          when 'channel' then coalesce(u.channel, 'none')
          else coalesce(u.model, 'none')
        end as label,
        u.input_tokens, u.output_tokens, u.cost_usd
      from app.usage_events u
      where u.tenant_id = usage_summary.tenant_id
        and u.occurred_at >= coalesce(usage_summary.from_time, '-infinity'::timestamptz)
        and u.occurred_at < coalesce(usage_summary.to_time, 'infinity'::timestamptz)
    ) g
    group by g.bucket, g.label
    order by g.bucket;
end
$$;
comment on function api.usage_summary(uuid, text, timestamptz, timestamptz) is 'Tokens, cost and event count of a tenant grouped by day (UTC), agent, channel or model, between from_time (default: start of this month) and to_time (default: now). Any member.';

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

-- Grants ---------------------------------------------------------------------------------------

revoke all on all functions in schema api from public, anon;
revoke all on function app.enqueue_whatsapp_verification(uuid) from public, anon, authenticated;
grant execute on function app.enqueue_whatsapp_verification(uuid) to service_role;
revoke all on function app.slugify(text), app.agent_json(app.agents), app.channel_json(uuid), app.conversation_json(uuid),
  app.require_inbox_view(text),
  app.first_active_agent(uuid),
  app.new_token(text), app.token_hash(text), app.chunk_text(text, integer), app.enqueue_member_reply(uuid),
  app.enqueue_knowledge_source(uuid)
  from public, anon;
grant execute on function app.slugify(text), app.agent_json(app.agents), app.channel_json(uuid), app.conversation_json(uuid),
  app.require_inbox_view(text),
  app.first_active_agent(uuid),
  app.new_token(text), app.token_hash(text), app.chunk_text(text, integer), app.enqueue_member_reply(uuid),
  app.enqueue_knowledge_source(uuid)
  to authenticated, service_role;

grant execute on function
  api.create_tenant(text, text),
  api.list_my_tenants(),
  api.get_tenant(uuid),
  api.update_tenant(uuid, text, jsonb),
  api.whoami(),
  api.admin_list_tenants(),
  api.list_members(uuid),
  api.change_member_role(uuid, uuid, text),
  api.remove_member(uuid, uuid),
  api.leave_tenant(uuid),
  api.create_invitation(uuid, text, text),
  api.list_invitations(uuid, boolean),
  api.revoke_invitation(uuid),
  api.resend_invitation(uuid),
  api.preview_invitation(text),
  api.accept_invitation(text),
  api.list_agent_templates(),
  api.list_agents(uuid),
  api.get_agent(uuid),
  api.create_agent(uuid, text, text, text, text, text, jsonb, jsonb, jsonb, bigint, text),
  api.update_agent(uuid, jsonb),
  api.pause_agent(uuid),
  api.resume_agent(uuid),
  api.delete_agent(uuid),
  api.deploy_agent_template(uuid, text, text),
  api.list_channels(uuid),
  api.create_web_chat_channel(uuid, text, uuid, text[], boolean),
  api.create_whatsapp_channel(uuid, text, text, text, text, text, uuid, boolean),
  api.set_channel_token(uuid, text),
  api.update_channel(uuid, text, jsonb),
  api.assign_channel_agent(uuid, uuid),
  api.set_channel_status(uuid, text),
  api.disable_channel(uuid),
  api.list_conversations(uuid, text, text, uuid, boolean, text, timestamptz, uuid, integer, text, uuid, timestamptz, timestamptz),
  api.get_conversation(uuid),
  api.list_messages(uuid, bigint, integer),
  api.takeover_conversation(uuid),
  api.release_conversation(uuid),
  api.close_conversation(uuid),
  api.reply_as_member(uuid, text, jsonb, text),
  api.list_knowledge_sources(uuid, timestamptz, uuid, integer),
  api.delete_knowledge_source(uuid),
  api.usage_summary(uuid, text, timestamptz, timestamptz),
  api.list_audit_log(uuid, bigint, integer, text)
to authenticated;
