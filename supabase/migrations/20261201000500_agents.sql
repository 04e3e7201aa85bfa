-- Agents (the AI employees), the templates that produce a working one in one call, the
-- tenant's own LLM key, and model failures that admins hear about.
--
-- An agent has a persona (name, role, tone, instructions), model settings (provider
-- base URL, model, temperature), enabled tools with their settings, escalation rules,
-- a monthly token budget and a status. Templates are data, readable by every
-- signed-in user; api.deploy_agent_template copies one into a tenant.
--
-- The tenant's LLM key lives in Vault: owners and admins set, replace or clear it
-- (api.set_tenant_llm_key), the worker reads it (api.get_llm_key); nothing returns it to
-- a browser.
--
-- Model health: app.model_health keeps, per tenant, how many model calls failed in a row
-- (one row per tenant, updated in place: nothing here grows with history).
-- api.record_model_outcome (the worker, after each turn that called a model) counts a
-- failure or resets the count on success. The third failure in a row writes one
-- `alert.model_failing` audit entry (broadcast live) and tells the worker to send the
-- hand-off DM; nothing more until a success writes `alert.model_recovered` and re-arms
-- the alert. The conversation whose reply failed carries `model_failure` until a turn of
-- it succeeds; api.get_model_health lets members show the banner.

create table app.agent_templates (
  key text primary key check (key ~ '^[a-z0-9_]+$'),
  name text not null,
  description text not null default '',
  role text not null,
  persona text not null default '',
  tone text not null default '',
  instructions text not null default '',
  model_settings jsonb not null default '{}'::jsonb check (jsonb_typeof(model_settings) = 'object'),
  tools jsonb not null default '{}'::jsonb check (jsonb_typeof(tools) = 'object'),
  escalation_rules jsonb not null default '[]'::jsonb check (jsonb_typeof(escalation_rules) = 'array'),
  sort_order integer not null default 0
);
comment on table app.agent_templates is 'Ready-made agents (customer support rep, sales assistant, office manager, ...) as data; deploy_agent_template copies one into a tenant.';
alter table app.agent_templates enable row level security;
alter table app.agent_templates force row level security;
create policy "signed-in users can read agent templates" on app.agent_templates
  for select to authenticated using (true);
grant select on app.agent_templates to authenticated;
grant select, insert, update, delete on app.agent_templates to service_role;
insert into app.agent_templates (key, name, description, role, persona, tone, instructions, model_settings, tools, escalation_rules, sort_order)
values
  ('customer_support_rep', 'Customer support rep',
   'Answers customers'' questions from your knowledge base, politely and precisely, and hands over to a human when asked or unsure.',
   'Customer support representative',
   'You are a friendly, patient customer support representative for {{company}}.',
   'warm, concise, professional',
   'Answer from the knowledge base passages you are given and say so when they do not contain the answer; never invent policies, prices or dates. Keep answers short and in the customer''s language. When the customer asks for a person, is upset, or the question needs an account change you cannot make, escalate to a human and tell the customer that a colleague will take over.',
   '{"model": "gpt-4o-mini", "temperature": 0.3}',
   '{"knowledge_search": {}, "escalate_to_human": {}}',
   '[{"kind": "keywords", "keywords": ["human", "person", "agent", "representative", "someone real"], "reason": "the customer asked for a human"}]',
   1),
  ('sales_assistant', 'Sales assistant',
   'Qualifies leads, explains products and pricing from your knowledge base, and books a call with the sales team.',
   'Sales assistant',
   'You are an upbeat, knowledgeable sales assistant for {{company}}.',
   'enthusiastic, helpful, never pushy',
   'Learn what the prospect needs (team size, use case, timeline, budget) with one question at a time. Explain products and pricing only from the knowledge base. When the prospect is ready to buy, asks for a discount, or wants a demo, escalate to a human with a one-line summary of the lead.',
   '{"model": "gpt-4o-mini", "temperature": 0.5}',
   '{"knowledge_search": {}, "escalate_to_human": {}}',
   '[{"kind": "keywords", "keywords": ["discount", "contract", "demo", "talk to sales"], "reason": "a qualified lead wants to talk to sales"}]',
   2),
  ('office_manager', 'Office manager',
   'Helps your team with internal questions: policies, procedures, where things are, who to ask.',
   'Office manager',
   'You are the organised, resourceful office manager of {{company}}, helping colleagues in Slack.',
   'clear, friendly, to the point',
   'Answer colleagues'' questions about policies, procedures, equipment, travel and expenses from the knowledge base, citing the document you used. If something needs approval or is not covered, say who to ask and escalate to a human.',
   '{"model": "gpt-4o-mini", "temperature": 0.2}',
   '{"knowledge_search": {}, "escalate_to_human": {}, "http_request": {"allowed_hosts": []}}',
   '[]',
   3);

create table app.agents (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  template_key text references app.agent_templates (key) on delete set null,
  name text not null check (length(btrim(name)) between 1 and 80),
  role text not null default '',
  persona text not null default '',
  tone text not null default '',
  instructions text not null default '',
  -- {"base_url": "https://api.openai.com/v1" | null, "model": "gpt-4o-mini", "temperature": 0.3, "fallback_model": ...}
  model_settings jsonb not null default '{}'::jsonb check (
    jsonb_typeof(model_settings) = 'object'
    and (not (model_settings ? 'temperature') or jsonb_typeof(model_settings -> 'temperature') = 'number')
  ),
  -- {"knowledge_search": {}, "escalate_to_human": {}, "http_request": {"allowed_hosts": ["api.example.com"]}}:
  -- a key present = the tool is enabled; its value = the tool's settings.
  tools jsonb not null default '{}'::jsonb check (jsonb_typeof(tools) = 'object'),
  -- [{"kind": "keywords", "keywords": ["human", "person"], "reason": "asked for a human"}]
  escalation_rules jsonb not null default '[]'::jsonb check (jsonb_typeof(escalation_rules) = 'array'),
  monthly_token_budget bigint check (monthly_token_budget is null or monthly_token_budget >= 0),
  status text not null default 'active' check (status in ('active', 'paused')),
  llm_api_key_secret_id uuid,
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id)
);
create index agents_tenant_id_idx on app.agents (tenant_id, created_at);
comment on table app.agents is 'An AI employee of a tenant: persona, model settings, tools, escalation rules, monthly token budget (null = unlimited) and status (active/paused). llm_api_key_secret_id = the agent''s own LLM key in Vault.';
alter table app.agents enable row level security;
alter table app.agents force row level security;
create policy "members can read their tenant's agents" on app.agents
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can create agents" on app.agents
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can update agents" on app.agents
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete agents" on app.agents
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
grant select, delete on app.agents to authenticated;
grant insert (tenant_id, template_key, name, role, persona, tone, instructions, model_settings, tools, escalation_rules,
  monthly_token_budget, status, created_by),
  update (name, role, persona, tone, instructions, model_settings, tools, escalation_rules, monthly_token_budget, status)
  on app.agents to authenticated;
grant select, insert, update, delete on app.agents to service_role;
create trigger agents_touch_updated_at before update on app.agents
  for each row execute function app.touch_updated_at();
create trigger agents_audit after insert or update or delete on app.agents
  for each row execute function app.audit_change('agent', 'id', 'tenant_id');

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

create function app.agent_json(agent app.agents)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select (to_jsonb(agent) - 'llm_api_key_secret_id') || jsonb_build_object('has_own_llm_key', agent.llm_api_key_secret_id is not null)
$$;
comment on function app.agent_json(app.agents) is 'An agent as JSON for the api: every column but the Vault secret id, plus has_own_llm_key.';
revoke all on function app.agent_json(app.agents) from public, anon;
grant execute on function app.agent_json(app.agents) to authenticated, service_role;

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
revoke all on function api.list_agent_templates() from public, anon;
grant execute on function api.list_agent_templates() to authenticated;

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
revoke all on function api.list_agents(uuid) from public, anon;
grant execute on function api.list_agents(uuid) to authenticated;

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
revoke all on function api.get_agent(uuid) from public, anon;
grant execute on function api.get_agent(uuid) to authenticated;

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
revoke all on function api.create_agent(uuid, text, text, text, text, text, jsonb, jsonb, jsonb, bigint, text) from public, anon;
grant execute on function api.create_agent(uuid, text, text, text, text, text, jsonb, jsonb, jsonb, bigint, text) to authenticated;

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
revoke all on function api.update_agent(uuid, jsonb) from public, anon;
grant execute on function api.update_agent(uuid, jsonb) to authenticated;

create function api.pause_agent(agent_id uuid)
returns jsonb
language sql
set search_path = ''
as $$
  select api.update_agent(pause_agent.agent_id, '{"status": "paused"}'::jsonb)
$$;
comment on function api.pause_agent(uuid) is 'Pauses an agent: its conversations get no agent jobs. Owners and admins.';
revoke all on function api.pause_agent(uuid) from public, anon;
grant execute on function api.pause_agent(uuid) to authenticated;

create function api.resume_agent(agent_id uuid)
returns jsonb
language sql
set search_path = ''
as $$
  select api.update_agent(resume_agent.agent_id, '{"status": "active"}'::jsonb)
$$;
comment on function api.resume_agent(uuid) is 'Makes a paused agent active again. Owners and admins.';
revoke all on function api.resume_agent(uuid) from public, anon;
grant execute on function api.resume_agent(uuid) to authenticated;

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
revoke all on function api.delete_agent(uuid) from public, anon;
grant execute on function api.delete_agent(uuid) to authenticated;

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
revoke all on function api.deploy_agent_template(uuid, text, text) from public, anon;
grant execute on function api.deploy_agent_template(uuid, text, text) to authenticated;

create function api.get_llm_key(tenant_id uuid, agent_id uuid default null)
returns text
language sql
stable
set search_path = ''
as $$
  select d.decrypted_secret
  from (
    select a.llm_api_key_secret_id as secret_id, 1 as preference from app.agents a
    where a.id = get_llm_key.agent_id and a.tenant_id = get_llm_key.tenant_id
    union all
    select t.llm_api_key_secret_id, 2 from app.tenants t where t.id = get_llm_key.tenant_id
  ) s
  join vault.decrypted_secrets d on d.id = s.secret_id
  order by s.preference
  limit 1
$$;
comment on function api.get_llm_key(uuid, uuid) is 'The LLM API key to use: the agent''s own, else the tenant''s, else null (use the platform''s). service_role only.';
revoke all on function api.get_llm_key(uuid, uuid) from public, anon;
grant execute on function api.get_llm_key(uuid, uuid) to service_role;

create function api.set_llm_key(tenant_id uuid, api_key text, agent_id uuid default null)
returns void
language plpgsql
set search_path = ''
as $$
declare
  secret uuid;
begin
  if set_llm_key.agent_id is not null then
    select a.llm_api_key_secret_id into secret from app.agents a
    where a.id = set_llm_key.agent_id and a.tenant_id = set_llm_key.tenant_id;
    if not found then
      raise exception 'agent not found in tenant' using errcode = 'P0002';
    end if;
  else
    select t.llm_api_key_secret_id into secret from app.tenants t where t.id = set_llm_key.tenant_id;
    if not found then
      raise exception 'tenant not found' using errcode = 'P0002';
    end if;
  end if;
  if secret is not null then
    perform vault.update_secret(secret, set_llm_key.api_key);
  else
    secret := vault.create_secret(set_llm_key.api_key,
      'konstruct_llm_' || coalesce(set_llm_key.agent_id, set_llm_key.tenant_id)::text, 'LLM API key');
    if set_llm_key.agent_id is not null then
      update app.agents a set llm_api_key_secret_id = secret where a.id = set_llm_key.agent_id;
    else
      update app.tenants t set llm_api_key_secret_id = secret where t.id = set_llm_key.tenant_id;
    end if;
  end if;
  perform app.write_audit(set_llm_key.tenant_id, 'llm_key.set', case when set_llm_key.agent_id is null then 'tenant' else 'agent' end,
    coalesce(set_llm_key.agent_id, set_llm_key.tenant_id)::text, '{}'::jsonb);
end
$$;
comment on function api.set_llm_key(uuid, text, uuid) is 'Stores a tenant''s (or one agent''s) own LLM API key in Vault. service_role (a settings edge function calls it after checking the user is an admin).';
revoke all on function api.set_llm_key(uuid, text, uuid) from public, anon;
grant execute on function api.set_llm_key(uuid, text, uuid) to service_role;

create function api.set_tenant_llm_key(tenant_id uuid, api_key text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  key_secret_id uuid;
  new_key text := nullif(btrim(coalesce(set_tenant_llm_key.api_key, '')), '');
begin
  perform app.require_role(set_tenant_llm_key.tenant_id, 'admin');
  if new_key is not null and (length(new_key) > 1000 or new_key ~ '\s') then
    raise exception 'an API key is one word of at most 1000 characters' using errcode = '22023';
  end if;
  select t.llm_api_key_secret_id into key_secret_id from app.tenants t where t.id = set_tenant_llm_key.tenant_id for update;
  if new_key is null then
    if key_secret_id is not null then
      update app.tenants t set llm_api_key_secret_id = null where t.id = set_tenant_llm_key.tenant_id;
      delete from vault.secrets s where s.id = key_secret_id;
      perform app.write_audit(set_tenant_llm_key.tenant_id, 'llm_key.cleared', 'tenant',
        set_tenant_llm_key.tenant_id::text, '{}'::jsonb);
    end if;
  elsif key_secret_id is not null then
    perform vault.update_secret(key_secret_id, new_key);
    perform app.write_audit(set_tenant_llm_key.tenant_id, 'llm_key.set', 'tenant', set_tenant_llm_key.tenant_id::text,
      '{}'::jsonb);
  else
    key_secret_id := vault.create_secret(new_key, 'konstruct_llm_' || set_tenant_llm_key.tenant_id::text, 'LLM API key');
    update app.tenants t set llm_api_key_secret_id = key_secret_id where t.id = set_tenant_llm_key.tenant_id;
    perform app.write_audit(set_tenant_llm_key.tenant_id, 'llm_key.set', 'tenant', set_tenant_llm_key.tenant_id::text,
      '{}'::jsonb);
  end if;
  return jsonb_build_object('has_own_llm_key', new_key is not null);
end
$$;
comment on function api.set_tenant_llm_key(uuid, text) is 'Sets, replaces or (null or empty) clears the tenant''s own LLM API key, kept in Vault and never returned; the agent worker uses it instead of the platform''s. Audited (llm_key.set / llm_key.cleared). Owners and admins. Security definer only to write Vault, after the role check.';
revoke all on function api.set_tenant_llm_key(uuid, text) from public, anon, authenticated;
grant execute on function api.set_tenant_llm_key(uuid, text) to authenticated;

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
revoke all on function api.record_model_outcome(uuid, boolean, uuid, text, integer) from public, anon, authenticated;
grant execute on function api.record_model_outcome(uuid, boolean, uuid, text, integer) to service_role;

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
revoke all on function api.get_model_health(uuid) from public, anon;
grant execute on function api.get_model_health(uuid) to authenticated;
