-- Demo data: a platform that is usable the moment it starts.
--
--   sign in:   admin@konstruct.local / konstruct-demo   (owner of "Konstruct Demo")
--              platform@konstruct.local / konstruct-platform   (platform admin: the console at /platform)
--   tenant:    10000000-0000-4000-8000-000000000001 (slug demo)
--   agent:     "Ava" from the customer_support_rep template, 20000000-0000-4000-8000-000000000001
--   channels:  web chat  widget key wk_demo_konstruct_widget_key
--              Slack     team T0KONSTRUCT, bot user U0KONSTRUCT (token xoxb-konstruct-placeholder, in Vault)
--              WhatsApp  phone number id 100000000000001 (token EAAG-konstruct-placeholder, in Vault)
-- Fixed ids so the README's curl commands and the tests can name them. Works on Supabase
-- (`supabase db reset`) and on the local stack (applied once to a new database).

-- The demo admin ---------------------------------------------------------------------------

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values ('00000000-0000-0000-0000-000000000000', '00000000-0000-4000-8000-000000000001', 'authenticated',
  'authenticated', 'admin@konstruct.local', extensions.crypt('konstruct-demo', extensions.gen_salt('bf')), now(),
  '{"provider": "email", "providers": ["email"]}', '{"name": "Demo Admin"}', now(), now());

insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
values ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001',
  '{"sub": "00000000-0000-4000-8000-000000000001", "email": "admin@konstruct.local", "email_verified": true}',
  'email', now(), now(), now());

-- Supabase Auth reads these token columns as strings; empty, not null, where they exist.
do $$
declare
  col text;
begin
  foreach col in array array['confirmation_token', 'recovery_token', 'email_change_token_new', 'email_change',
    'email_change_token_current', 'phone_change', 'phone_change_token', 'reauthentication_token']
  loop
    if exists (select 1 from information_schema.columns
               where table_schema = 'auth' and table_name = 'users' and column_name = col) then
      execute format('update auth.users set %I = coalesce(%I, %L) where id = %L', col, col, '',
        '00000000-0000-4000-8000-000000000001');
    end if;
  end loop;
end
$$;

-- The demo platform admin: runs the platform console (/platform), in no tenant ------------

insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
  raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values ('00000000-0000-0000-0000-000000000000', '00000000-0000-4000-8000-0000000000ff', 'authenticated',
  'authenticated', 'platform@konstruct.local', extensions.crypt('konstruct-platform', extensions.gen_salt('bf')), now(),
  '{"provider": "email", "providers": ["email"]}', '{"name": "Platform Admin"}', now(), now());
insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
values ('00000000-0000-4000-8000-0000000000ff', '00000000-0000-4000-8000-0000000000ff',
  '{"sub": "00000000-0000-4000-8000-0000000000ff", "email": "platform@konstruct.local", "email_verified": true}',
  'email', now(), now(), now());
do $$
declare
  col text;
begin
  foreach col in array array['confirmation_token', 'recovery_token', 'email_change_token_new', 'email_change',
    'email_change_token_current', 'phone_change', 'phone_change_token', 'reauthentication_token']
  loop
    if exists (select 1 from information_schema.columns
               where table_schema = 'auth' and table_name = 'users' and column_name = col) then
      execute format('update auth.users set %I = coalesce(%I, %L) where id = %L', col, col, '',
        '00000000-0000-4000-8000-0000000000ff');
    end if;
  end loop;
end
$$;
insert into app.platform_admins (user_id) values ('00000000-0000-4000-8000-0000000000ff');

-- The demo tenant, made through the api as the admin would ----------------------------------

select set_config('request.jwt.claims',
  '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated", "email": "admin@konstruct.local"}', true);

insert into app.tenants (id, name, slug, created_by)
values ('10000000-0000-4000-8000-000000000001', 'Konstruct Demo', 'demo', '00000000-0000-4000-8000-000000000001');
insert into app.memberships (tenant_id, user_id, role)
values ('10000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000001', 'owner');

insert into app.agents (id, tenant_id, template_key, name, role, persona, tone, instructions, model_settings, tools,
  escalation_rules, monthly_token_budget, created_by)
select '20000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', t.key, 'Ava', t.role,
  replace(t.persona, '{{company}}', 'Konstruct Demo'), t.tone, replace(t.instructions, '{{company}}', 'Konstruct Demo'),
  t.model_settings, t.tools, t.escalation_rules, 2000000, '00000000-0000-4000-8000-000000000001'
from app.agent_templates t where t.key = 'customer_support_rep';

-- Channels: one of each, tokens are placeholders in Vault ------------------------------------

insert into app.channel_connections (id, tenant_id, kind, name, agent_id, widget_key, settings, created_by)
values ('30000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', 'web_chat', 'Website chat',
  '20000000-0000-4000-8000-000000000001', 'wk_demo_konstruct_widget_key', '{"allowed_origins": []}',
  '00000000-0000-4000-8000-000000000001');

insert into app.channel_connections (id, tenant_id, kind, name, agent_id, slack_team_id, slack_team_name,
  slack_bot_user_id, token_secret_id, created_by)
values ('30000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000001', 'slack', 'Konstruct Slack',
  '20000000-0000-4000-8000-000000000001', 'T0KONSTRUCT', 'Konstruct', 'U0KONSTRUCT',
  vault.create_secret('xoxb-konstruct-placeholder', 'konstruct_channel_30000000-0000-4000-8000-000000000002',
    'Slack bot token of the demo channel (placeholder)'),
  '00000000-0000-4000-8000-000000000001');

-- The demo number counts as proven (a real one is proven by the worker's check).
insert into app.channel_connections (id, tenant_id, kind, name, agent_id, whatsapp_phone_number_id,
  whatsapp_business_account_id, whatsapp_display_phone_number, whatsapp_verified_at, token_secret_id, created_by)
values ('30000000-0000-4000-8000-000000000003', '10000000-0000-4000-8000-000000000001', 'whatsapp', 'Konstruct WhatsApp',
  '20000000-0000-4000-8000-000000000001', '100000000000001', '200000000000001', '+1 555 010 0001', now(),
  vault.create_secret('EAAG-konstruct-placeholder', 'konstruct_channel_30000000-0000-4000-8000-000000000003',
    'WhatsApp access token of the demo channel (placeholder)'),
  '00000000-0000-4000-8000-000000000001');

-- Knowledge: a few passages, searchable by full text at once ---------------------------------

insert into app.knowledge_sources (id, tenant_id, title, kind, content, status, created_by)
values
  ('40000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', 'Konstruct Demo FAQ', 'markdown',
   E'Our support team is available Monday to Friday, 9:00 to 17:00 Central European Time. Outside these hours Ava, our AI assistant, answers and hands over to a person the next working day.\n\nRefunds: you can ask for a full refund within 30 days of purchase. Refunds are paid back to the original payment method within 5 business days.\n\nShipping: orders placed before 14:00 ship the same day. Standard delivery takes 2 to 4 business days within the EU; express delivery takes 1 business day.\n\nPasswords: to reset your password, open the sign-in page, choose "Forgot password" and follow the link we email you. The link is valid for one hour.',
   'pending', '00000000-0000-4000-8000-000000000001'),
  ('40000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000001', 'Pricing', 'markdown',
   E'Konstruct Demo has three plans. Starter costs 29 euros per month and includes one AI employee. Team costs 99 euros per month and includes five AI employees and Slack. Business costs 299 euros per month with unlimited AI employees, WhatsApp and priority support.\n\nAll plans start with a 14-day free trial, no credit card required. You can cancel at any time from the billing page.',
   'pending', '00000000-0000-4000-8000-000000000001');

insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, heading)
select s.tenant_id, s.id, c.chunk_index, c.chunk, s.title
from app.knowledge_sources s, app.chunk_text(s.content, 300) c
where s.tenant_id = '10000000-0000-4000-8000-000000000001';

update app.knowledge_sources s set status = 'ready',
  chunk_count = (select count(*) from app.knowledge_chunks c where c.source_id = s.id)
where s.tenant_id = '10000000-0000-4000-8000-000000000001';

select set_config('request.jwt.claims', '', true);

-- Billing: the demo tenant is on a 14-day trial of the Team plan (3 agents included, every
-- channel); no Stripe account is needed for it. Its subscription row was made with the tenant.
update app.subscriptions set plan_key = 'team', status = 'trialing', quantity = 3,
  trial_ends_at = now() + interval '14 days', current_period_start = now(),
  current_period_end = now() + interval '14 days'
where tenant_id = '10000000-0000-4000-8000-000000000001';
