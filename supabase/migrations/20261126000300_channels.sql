-- Channel connections: where a tenant's agents talk (Slack, WhatsApp, web chat).
--
-- One Slack team or WhatsApp phone number belongs to exactly one tenant (globally
-- unique columns; a WhatsApp number only once its tenant has proved control of it: the
-- worker checks that the tenant's token sees the number in the named business account,
-- and only such a connection receives that number's traffic). Tokens live in Vault; a connection stores only the Vault secret id
-- and no api function ever returns a token to a browser. Web chat connections carry a
-- public widget key that the embeddable widget sends.

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

create trigger channel_connections_touch_updated_at before update on app.channel_connections
  for each row execute function app.touch_updated_at();
create trigger channel_connections_audit after insert or update or delete on app.channel_connections
  for each row execute function app.audit_change('channel', 'id', 'tenant_id');

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
