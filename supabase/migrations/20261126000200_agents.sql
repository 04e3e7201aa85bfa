-- Agents (the AI employees) and the templates that produce a working one in one call.
--
-- An agent has a persona (name, role, tone, instructions), model settings (provider
-- base URL, model, temperature), enabled tools with their settings, escalation rules,
-- a monthly token budget and a status. Templates are data, readable by every
-- signed-in user; api.deploy_agent_template copies one into a tenant.

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

create trigger agents_touch_updated_at before update on app.agents
  for each row execute function app.touch_updated_at();
create trigger agents_audit after insert or update or delete on app.agents
  for each row execute function app.audit_change('agent', 'id', 'tenant_id');

alter table app.agent_templates enable row level security;
alter table app.agent_templates force row level security;
alter table app.agents enable row level security;
alter table app.agents force row level security;

create policy "signed-in users can read agent templates" on app.agent_templates
  for select to authenticated using (true);

create policy "members can read their tenant's agents" on app.agents
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can create agents" on app.agents
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can update agents" on app.agents
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete agents" on app.agents
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));

grant select on app.agent_templates to authenticated;
grant select, delete on app.agents to authenticated;
grant insert (tenant_id, template_key, name, role, persona, tone, instructions, model_settings, tools, escalation_rules,
  monthly_token_budget, status, created_by),
  update (name, role, persona, tone, instructions, model_settings, tools, escalation_rules, monthly_token_budget, status)
  on app.agents to authenticated;
grant select, insert, update, delete on app.agent_templates, app.agents to service_role;

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
