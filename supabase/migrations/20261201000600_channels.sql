-- Channels: where a tenant's agents talk (Slack, WhatsApp, web chat).
--
-- One Slack team or WhatsApp phone number belongs to exactly one tenant (globally unique
-- columns; a WhatsApp number only once its tenant has proved control of it: the worker
-- checks that the tenant's token sees the number in the named business account, and only
-- such a connection receives that number's traffic; the outcome is broadcast as
-- channel_changed). Tokens live in Vault; a connection stores only the Vault secret id and
-- no api function ever returns a token to a browser. Web chat connections carry a public
-- widget key that the embeddable widget sends.
--
--   * the portal's api: list, create, configure, assign, disable channels; the Slack
--     users a hand-off DM goes to (handoff_notify_user_ids);
--   * webhooks resolve a connection (Slack team, WhatsApp number, widget key); Slack
--     install state is stored when "Add to Slack" starts and consumed once by the callback
--     (single use, bound to the tenant and the admin who started it, short-lived);
--   * the web chat widget: a visitor is an anonymous Supabase user whose id names its
--     private topic webchat:<visitor_id>; replies and status changes (status_changed,
--     {status} only, so the widget never shows "typing…" while a member has the
--     conversation) are broadcast there. Its limits (per visitor, per client IP, per
--     tenant) are counters here, one row per key and fixed window taken with one upsert,
--     so they hold however many function instances serve it; rows of windows long gone
--     are deleted a few at a time by the calls themselves;
--   * the portal's test chat: a visitor is marked as a test only by the web-chat
--     function, when its session request also carries a verified session of a member of
--     the widget's tenant (api.begin_test_chat, service role only); conversations ingest
--     then creates for it are test conversations, shown as "Test" and never counted.

create table app.channel_connections (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  kind text not null check (kind in ('slack', 'whatsapp', 'web_chat')),
  name text not null check (length(btrim(name)) between 1 and 120),
  agent_id uuid,
  status text not null default 'active' check (status in ('active', 'disabled')),
  -- Slack
  slack_team_id text unique,
  slack_team_name text,
  slack_bot_user_id text,
  -- WhatsApp
  whatsapp_phone_number_id text,
  whatsapp_business_account_id text,
  whatsapp_display_phone_number text,
  -- Proof of control: set when the tenant's token was seen to reach the number in its
  -- business account (api.confirm_whatsapp_channel); until then nothing is routed here.
  whatsapp_verified_at timestamptz,
  whatsapp_verification_error text,
  -- Web chat
  widget_key text unique,
  -- Slack bot token or WhatsApp access token, in Vault.
  token_secret_id uuid,
  settings jsonb not null default '{}'::jsonb check (jsonb_typeof(settings) = 'object'),
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id),
  foreign key (tenant_id, agent_id) references app.agents (tenant_id, id),
  check (kind <> 'slack' or slack_team_id is not null),
  check (kind <> 'whatsapp' or (whatsapp_phone_number_id is not null and whatsapp_business_account_id is not null)),
  check (kind <> 'web_chat' or widget_key is not null)
);
create index channel_connections_tenant_id_idx on app.channel_connections (tenant_id, created_at);
create index channel_connections_agent_id_idx on app.channel_connections (agent_id);
-- A claim without proof must not lock the real owner out: only proven numbers are unique.
create unique index channel_connections_whatsapp_number_key on app.channel_connections (whatsapp_phone_number_id)
  where whatsapp_verified_at is not null;
comment on table app.channel_connections is 'A tenant''s Slack workspace, WhatsApp number or web chat widget, and the agent assigned to it. slack_team_id is globally unique, and so is whatsapp_phone_number_id among numbers whose control was proved (whatsapp_verified_at); token_secret_id points into Vault.';
alter table app.channel_connections enable row level security;
alter table app.channel_connections force row level security;
create policy "members can read their tenant's channels" on app.channel_connections
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can create channels" on app.channel_connections
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can update channels" on app.channel_connections
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
grant select (id, tenant_id, kind, name, agent_id, status, slack_team_id, slack_team_name, slack_bot_user_id,
  whatsapp_phone_number_id, whatsapp_business_account_id, whatsapp_display_phone_number, whatsapp_verified_at,
  whatsapp_verification_error, widget_key, token_secret_id, settings, created_by, created_at, updated_at),
  insert (tenant_id, kind, name, agent_id, status, widget_key, settings, created_by),
  update (name, agent_id, status, settings)
  on app.channel_connections to authenticated;
grant select, insert, update, delete on app.channel_connections to service_role;
create trigger channel_connections_touch_updated_at before update on app.channel_connections
  for each row execute function app.touch_updated_at();
create trigger channel_connections_audit after insert or update or delete on app.channel_connections
  for each row execute function app.audit_change('channel', 'id', 'tenant_id');

create table app.slack_oauth_states (
  nonce text primary key check (length(nonce) between 16 and 200),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index slack_oauth_states_tenant_id_idx on app.slack_oauth_states (tenant_id);
create index slack_oauth_states_expires_at_idx on app.slack_oauth_states (expires_at);
comment on table app.slack_oauth_states is 'The nonce of each Slack "Add to Slack" OAuth state: who (tenant, admin) started the install, until when it is valid, and when the callback used it (single use). Service role only.';
alter table app.slack_oauth_states enable row level security;
alter table app.slack_oauth_states force row level security;
-- No policy for authenticated: the portal never reads install states.
grant select, insert, update, delete on app.slack_oauth_states to service_role;

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

create table app.test_chat_visitors (
  connection_id uuid not null references app.channel_connections (id) on delete cascade,
  -- The anonymous visitor's user id, as ingest sees it (external_user_id and thread_key).
  visitor_id text not null check (length(visitor_id) between 1 and 200),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  started_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  primary key (connection_id, visitor_id)
);
create index test_chat_visitors_tenant_idx on app.test_chat_visitors (tenant_id);
create index test_chat_visitors_started_by_idx on app.test_chat_visitors (started_by);
comment on table app.test_chat_visitors is 'Web chat visitors that are a member''s test chat (api.begin_test_chat): the conversations ingest creates for them on that connection are tests (is_test). service_role only.';
alter table app.test_chat_visitors enable row level security;
alter table app.test_chat_visitors force row level security;
grant select, insert on app.test_chat_visitors to service_role;

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
revoke all on function app.channel_json(uuid) from public, anon;
grant execute on function app.channel_json(uuid) to authenticated, service_role;

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
revoke all on function api.list_channels(uuid) from public, anon;
grant execute on function api.list_channels(uuid) to authenticated;

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
revoke all on function app.first_active_agent(uuid) from public, anon;
grant execute on function app.first_active_agent(uuid) to authenticated, service_role;

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
revoke all on function api.create_web_chat_channel(uuid, text, uuid, text[], boolean) from public, anon;
grant execute on function api.create_web_chat_channel(uuid, text, uuid, text[], boolean) to authenticated;

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
revoke all on function app.enqueue_whatsapp_verification(uuid) from public, anon, authenticated;
grant execute on function app.enqueue_whatsapp_verification(uuid) to service_role;

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
revoke all on function api.create_whatsapp_channel(uuid, text, text, text, text, text, uuid, boolean) from public, anon;
grant execute on function api.create_whatsapp_channel(uuid, text, text, text, text, text, uuid, boolean) to authenticated;

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
revoke all on function api.set_channel_token(uuid, text) from public, anon;
grant execute on function api.set_channel_token(uuid, text) to authenticated;

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
revoke all on function api.update_channel(uuid, text, jsonb) from public, anon;
grant execute on function api.update_channel(uuid, text, jsonb) to authenticated;

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
revoke all on function api.assign_channel_agent(uuid, uuid) from public, anon;
grant execute on function api.assign_channel_agent(uuid, uuid) to authenticated;

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
revoke all on function api.set_channel_status(uuid, text) from public, anon;
grant execute on function api.set_channel_status(uuid, text) to authenticated;

create function app.connection_json(connection_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'connection_id', c.id, 'tenant_id', c.tenant_id, 'kind', c.kind, 'name', c.name, 'status', c.status,
    'agent_id', c.agent_id, 'agent_status', a.status, 'slack_team_id', c.slack_team_id,
    'slack_bot_user_id', c.slack_bot_user_id, 'whatsapp_phone_number_id', c.whatsapp_phone_number_id,
    'whatsapp_business_account_id', c.whatsapp_business_account_id, 'widget_key', c.widget_key,
    'has_token', c.token_secret_id is not null, 'settings', c.settings)
  from app.channel_connections c
  left join app.agents a on a.id = c.agent_id
  where c.id = connection_json.connection_id
$$;
comment on function app.connection_json(uuid) is 'What a channel function needs to know about a connection (no token).';
revoke all on function app.connection_json(uuid) from public, anon, authenticated;
grant execute on function app.connection_json(uuid) to service_role;

create function api.resolve_slack_connection(team_id text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select app.connection_json(c.id) from app.channel_connections c where c.slack_team_id = resolve_slack_connection.team_id
$$;
comment on function api.resolve_slack_connection(text) is 'The connection of a Slack team id (any status; check status), or null when unknown. service_role.';
revoke all on function api.resolve_slack_connection(text) from public, anon;
grant execute on function api.resolve_slack_connection(text) to service_role;

create function api.resolve_whatsapp_connection(phone_number_id text, business_account_id text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select app.connection_json(c.id) from app.channel_connections c
  where c.whatsapp_phone_number_id = resolve_whatsapp_connection.phone_number_id
    and c.whatsapp_business_account_id = resolve_whatsapp_connection.business_account_id
    and c.whatsapp_verified_at is not null
$$;
comment on function api.resolve_whatsapp_connection(text, text) is 'The connection that proved control of a WhatsApp phone number id, when the delivery names the same business account (the webhook''s entry id), or null: an unproven claim or another account''s delivery routes nowhere. service_role.';
revoke all on function api.resolve_whatsapp_connection(text, text) from public, anon;
grant execute on function api.resolve_whatsapp_connection(text, text) to service_role;

create function api.confirm_whatsapp_channel(connection_id uuid, phone_number_ids text[], error text default null,
  display_phone_number text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  c app.channel_connections;
  holder uuid;
begin
  select * into c from app.channel_connections x
  where x.id = confirm_whatsapp_channel.connection_id and x.kind = 'whatsapp' for update;
  if not found then
    raise exception 'connection not found' using errcode = 'P0002';
  end if;
  if confirm_whatsapp_channel.error is not null or not (c.whatsapp_phone_number_id = any (coalesce(confirm_whatsapp_channel.phone_number_ids, '{}'))) then
    update app.channel_connections x set whatsapp_verified_at = null,
      whatsapp_verification_error = coalesce(confirm_whatsapp_channel.error,
        'The access token does not reach this phone number in that WhatsApp Business Account.')
    where x.id = c.id;
    return jsonb_build_object('verified', false, 'reason', 'not_controlled');
  end if;
  select x.id into holder from app.channel_connections x
  where x.whatsapp_phone_number_id = c.whatsapp_phone_number_id and x.whatsapp_verified_at is not null and x.id <> c.id;
  if holder is not null then
    update app.channel_connections x set whatsapp_verified_at = null,
      whatsapp_verification_error = 'This WhatsApp number is already connected to another account.'
    where x.id = c.id;
    return jsonb_build_object('verified', false, 'reason', 'taken');
  end if;
  update app.channel_connections x set whatsapp_verified_at = coalesce(x.whatsapp_verified_at, now()),
    whatsapp_verification_error = null,
    whatsapp_display_phone_number = coalesce(confirm_whatsapp_channel.display_phone_number, x.whatsapp_display_phone_number)
  where x.id = c.id;
  return jsonb_build_object('verified', true);
end
$$;
comment on function api.confirm_whatsapp_channel(uuid, text[], text, text) is 'Records the proof-of-control check of a WhatsApp connection: phone_number_ids are the numbers its token sees in its business account (Graph GET /<waba>/phone_numbers). The connection starts receiving its number''s traffic only when its number is among them and no other connection has proved it; an error or a missing number unproves it (whatsapp_verification_error). Returns {verified, reason?}. service_role.';
revoke all on function api.confirm_whatsapp_channel(uuid, text[], text, text) from public, anon;
grant execute on function api.confirm_whatsapp_channel(uuid, text[], text, text) to service_role;

create function api.resolve_widget_connection(widget_key text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select app.connection_json(c.id) from app.channel_connections c where c.widget_key = resolve_widget_connection.widget_key
$$;
comment on function api.resolve_widget_connection(text) is 'The web chat connection of a public widget key, or null when unknown. service_role.';
revoke all on function api.resolve_widget_connection(text) from public, anon;
grant execute on function api.resolve_widget_connection(text) to service_role;

create function api.get_channel_token(connection_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
  select d.decrypted_secret
  from app.channel_connections c
  join vault.decrypted_secrets d on d.id = c.token_secret_id
  where c.id = get_channel_token.connection_id
$$;
comment on function api.get_channel_token(uuid) is 'The decrypted Slack bot token or WhatsApp access token of a connection, for sending; null when none. service_role only; never reaches a browser.';
revoke all on function api.get_channel_token(uuid) from public, anon;
grant execute on function api.get_channel_token(uuid) to service_role;

create function api.save_slack_installation(tenant_id uuid, team_id text, bot_user_id text, bot_token text,
  team_name text default null, installed_by uuid default null, name text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  existing app.channel_connections;
  new_id uuid := gen_random_uuid();
begin
  if coalesce(btrim(save_slack_installation.team_id), '') = '' or coalesce(btrim(save_slack_installation.bot_token), '') = '' then
    raise exception 'team id and bot token are required' using errcode = '22023';
  end if;
  if not exists (select 1 from app.tenants t where t.id = save_slack_installation.tenant_id) then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  select * into existing from app.channel_connections c where c.slack_team_id = save_slack_installation.team_id for update;
  if found and existing.tenant_id <> save_slack_installation.tenant_id then
    raise exception 'this Slack workspace is connected to another tenant' using errcode = '23505';
  end if;
  if found then
    if existing.token_secret_id is null then
      update app.channel_connections c set token_secret_id = vault.create_secret(save_slack_installation.bot_token,
        'konstruct_channel_' || existing.id::text, 'Slack bot token of channel ' || existing.id::text)
      where c.id = existing.id;
    else
      perform vault.update_secret(existing.token_secret_id, save_slack_installation.bot_token);
    end if;
    update app.channel_connections c set
      status = 'active',
      slack_bot_user_id = save_slack_installation.bot_user_id,
      slack_team_name = coalesce(save_slack_installation.team_name, c.slack_team_name)
    where c.id = existing.id;
    perform app.write_audit(existing.tenant_id, 'channel.slack_reinstalled', 'channel', existing.id::text,
      jsonb_build_object('team_id', save_slack_installation.team_id, 'installed_by', save_slack_installation.installed_by));
    return app.connection_json(existing.id);
  end if;
  insert into app.channel_connections (id, tenant_id, kind, name, slack_team_id, slack_team_name, slack_bot_user_id,
    token_secret_id, agent_id, created_by)
  values (new_id, save_slack_installation.tenant_id, 'slack',
    coalesce(save_slack_installation.name, 'Slack ' || coalesce(save_slack_installation.team_name, save_slack_installation.team_id)),
    save_slack_installation.team_id, save_slack_installation.team_name, save_slack_installation.bot_user_id,
    vault.create_secret(save_slack_installation.bot_token, 'konstruct_channel_' || new_id::text,
      'Slack bot token of channel ' || new_id::text),
    -- The tenant's first active agent answers until an admin assigns another.
    (select a.id from app.agents a where a.tenant_id = save_slack_installation.tenant_id and a.status = 'active'
     order by a.created_at, a.id limit 1),
    save_slack_installation.installed_by);
  return app.connection_json(new_id);
end
$$;
comment on function api.save_slack_installation(uuid, text, text, text, text, uuid, text) is 'Stores a Slack OAuth v2 install for a tenant: creates the connection (token in Vault, first active agent assigned) or, on re-install, rotates the token and re-activates it. A team connected to another tenant is refused (23505). service_role.';
revoke all on function api.save_slack_installation(uuid, text, text, text, text, uuid, text) from public, anon;
grant execute on function api.save_slack_installation(uuid, text, text, text, text, uuid, text) to service_role;

create function api.disable_slack_installation(team_id text, reason text default 'uninstalled')
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  update app.channel_connections c set status = 'disabled',
    settings = c.settings || jsonb_build_object('disabled_reason', disable_slack_installation.reason)
  where c.slack_team_id = disable_slack_installation.team_id and c.status <> 'disabled';
  return found;
end
$$;
comment on function api.disable_slack_installation(text, text) is 'Disables the connection of a Slack team (app_uninstalled, tokens_revoked); true if something changed. service_role.';
revoke all on function api.disable_slack_installation(text, text) from public, anon;
grant execute on function api.disable_slack_installation(text, text) to service_role;

create function api.begin_slack_install(tenant_id uuid, user_id uuid, nonce text, expires_at timestamptz)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  if not exists (
    select 1 from app.memberships m
    where m.tenant_id = begin_slack_install.tenant_id and m.user_id = begin_slack_install.user_id
      and app.role_rank(m.role) >= app.role_rank('admin')
  ) then
    raise exception 'only an owner or admin of the tenant can install Slack' using errcode = '42501';
  end if;
  if begin_slack_install.expires_at <= now() or begin_slack_install.expires_at > now() + interval '1 hour' then
    raise exception 'an install state must expire within the hour' using errcode = '22023';
  end if;
  -- Old states are useless; keep the table small.
  delete from app.slack_oauth_states s where s.expires_at < now() - interval '1 day';
  insert into app.slack_oauth_states (nonce, tenant_id, user_id, expires_at)
  values (begin_slack_install.nonce, begin_slack_install.tenant_id, begin_slack_install.user_id,
    begin_slack_install.expires_at);
  return jsonb_build_object('nonce', begin_slack_install.nonce, 'tenant_id', begin_slack_install.tenant_id,
    'expires_at', begin_slack_install.expires_at);
end
$$;
comment on function api.begin_slack_install(uuid, uuid, text, timestamptz) is 'Records the nonce of a signed Slack install state for a tenant and the admin who started it (42501 unless the user is an owner or admin; must expire within the hour). service_role.';
revoke all on function api.begin_slack_install(uuid, uuid, text, timestamptz) from public, anon, authenticated;
grant execute on function api.begin_slack_install(uuid, uuid, text, timestamptz) to service_role;

create function api.consume_slack_install(nonce text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  state app.slack_oauth_states;
begin
  select * into state from app.slack_oauth_states s where s.nonce = consume_slack_install.nonce for update;
  if not found then
    raise exception 'unknown install state' using errcode = 'P0002';
  end if;
  if state.used_at is not null then
    raise exception 'install state already used' using errcode = 'KO006';
  end if;
  if state.expires_at <= now() then
    raise exception 'install state expired' using errcode = 'KO006';
  end if;
  update app.slack_oauth_states s set used_at = now() where s.nonce = state.nonce;
  -- The admin may have lost the role since the install started.
  if not exists (
    select 1 from app.memberships m
    where m.tenant_id = state.tenant_id and m.user_id = state.user_id and app.role_rank(m.role) >= app.role_rank('admin')
  ) then
    raise exception 'the user who started the install is no longer an admin of the tenant' using errcode = '42501';
  end if;
  return jsonb_build_object('tenant_id', state.tenant_id, 'user_id', state.user_id);
end
$$;
comment on function api.consume_slack_install(text) is 'Uses a Slack install state once: returns {tenant_id, user_id}; unknown P0002, used or expired KO006, the starter no longer admin 42501 (the state is spent either way). service_role.';
revoke all on function api.consume_slack_install(text) from public, anon, authenticated;
grant execute on function api.consume_slack_install(text) to service_role;

create function api.set_handoff_notifications(channel_id uuid, slack_user_ids text[])
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conn app.channel_connections;
  ids text[];
begin
  select * into conn from app.channel_connections c where c.id = set_handoff_notifications.channel_id;
  if not found then
    raise exception 'channel not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conn.tenant_id, 'admin');
  if conn.kind <> 'slack' then
    raise exception 'hand-off DMs are sent through a Slack channel' using errcode = '22023';
  end if;
  select coalesce(array_agg(distinct btrim(u) order by btrim(u)), '{}') into ids
  from unnest(coalesce(set_handoff_notifications.slack_user_ids, '{}')) u where btrim(u) <> '';
  if exists (select 1 from unnest(ids) u where u !~ '^[UW][A-Z0-9]{2,20}$') then
    raise exception 'Slack user ids look like U0123ABCD' using errcode = '22023';
  end if;
  if cardinality(ids) > 10 then
    raise exception 'at most 10 people can be notified' using errcode = '22023';
  end if;
  update app.channel_connections c
  set settings = case when cardinality(ids) = 0 then c.settings - 'handoff_notify_user_ids'
    else c.settings || jsonb_build_object('handoff_notify_user_ids', to_jsonb(ids)) end
  where c.id = conn.id;
  -- Audited by the channel_connections trigger.
  return app.channel_json(conn.id);
end
$$;
comment on function api.set_handoff_notifications(uuid, text[]) is 'Names the Slack users (ids like U0123ABCD, at most 10; empty to stop) whom the agent DMs, through this Slack connection''s bot, when a conversation of the tenant is handed to a human. Stored in the connection''s settings as handoff_notify_user_ids. Owners and admins.';
revoke all on function api.set_handoff_notifications(uuid, text[]) from public, anon, authenticated;
grant execute on function api.set_handoff_notifications(uuid, text[]) to authenticated;

create function api.list_handoff_slack_targets(tenant_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object('connection_id', c.id, 'slack_team_id', c.slack_team_id,
      'user_ids', c.settings -> 'handoff_notify_user_ids') order by c.created_at, c.id), '[]'::jsonb)
  from app.channel_connections c
  where c.tenant_id = list_handoff_slack_targets.tenant_id
    and c.kind = 'slack' and c.status = 'active' and c.token_secret_id is not null
    and jsonb_typeof(c.settings -> 'handoff_notify_user_ids') = 'array'
    and jsonb_array_length(c.settings -> 'handoff_notify_user_ids') > 0
$$;
comment on function api.list_handoff_slack_targets(uuid) is 'The tenant''s active Slack connections with people to DM on hand-off: [{connection_id, slack_team_id, user_ids}] (no tokens; the worker asks api.get_channel_token). service_role.';
revoke all on function api.list_handoff_slack_targets(uuid) from public, anon, authenticated;
grant execute on function api.list_handoff_slack_targets(uuid) to service_role;

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
revoke all on function app.take_allowance(uuid, text, integer, integer) from public, anon, authenticated;
grant execute on function app.take_allowance(uuid, text, integer, integer) to service_role;

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
revoke all on function api.take_widget_allowance(uuid, text, text, integer, integer, integer, integer) from public, anon, authenticated;
grant execute on function api.take_widget_allowance(uuid, text, text, integer, integer, integer, integer) to service_role;

create function api.begin_test_chat(connection_id uuid, visitor_id text, member_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conn app.channel_connections;
begin
  select * into conn from app.channel_connections c where c.id = begin_test_chat.connection_id;
  if not found or conn.kind <> 'web_chat' then
    raise exception 'web chat connection not found' using errcode = 'P0002';
  end if;
  if coalesce(btrim(begin_test_chat.visitor_id), '') = '' then
    raise exception 'a visitor is required' using errcode = '22023';
  end if;
  -- Who asks: a member (any role) of the widget's own tenant.
  if begin_test_chat.member_id is null or not exists (
      select 1 from app.memberships m where m.tenant_id = conn.tenant_id and m.user_id = begin_test_chat.member_id) then
    raise exception 'permission denied: not a member of this widget''s workspace' using errcode = '42501';
  end if;
  insert into app.test_chat_visitors (connection_id, visitor_id, tenant_id, started_by)
  values (conn.id, begin_test_chat.visitor_id, conn.tenant_id, begin_test_chat.member_id)
  on conflict on constraint test_chat_visitors_pkey do nothing;
  return jsonb_build_object('test', true, 'tenant_id', conn.tenant_id);
end
$$;
comment on function api.begin_test_chat(uuid, text, uuid) is 'Marks a web chat visitor as a member''s test chat on this connection, for the web-chat function once it verified both the visitor''s and the member''s sessions: the conversations ingest creates for it afterwards are tests (is_test: shown as Test, never counted toward the plan). 42501 unless member_id belongs to the connection''s tenant. Returns {test, tenant_id}. service_role.';
revoke all on function api.begin_test_chat(uuid, text, uuid) from public, anon, authenticated;
grant execute on function api.begin_test_chat(uuid, text, uuid) to service_role;

create function app.broadcast_channel_verification()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send(
    jsonb_build_object(
      'id', new.id, 'tenant_id', new.tenant_id, 'kind', new.kind,
      'whatsapp_verified_at', new.whatsapp_verified_at,
      'whatsapp_verification_error', new.whatsapp_verification_error
    ),
    'channel_changed',
    'tenant:' || new.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_channel_verification() is 'After-update trigger on channel connections: broadcasts channel_changed (the WhatsApp proof of control: whatsapp_verified_at, whatsapp_verification_error; never a token) to tenant:<tenant_id> when it changes.';
revoke all on function app.broadcast_channel_verification() from public, anon, authenticated;
create trigger channel_connections_verification_broadcast after update of whatsapp_verified_at, whatsapp_verification_error
  on app.channel_connections
  for each row
  when (old.whatsapp_verified_at is distinct from new.whatsapp_verified_at
    or old.whatsapp_verification_error is distinct from new.whatsapp_verification_error)
  execute function app.broadcast_channel_verification();
