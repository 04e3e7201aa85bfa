-- Knowledge base, long-term memory and usage metering.
--
-- Knowledge chunks carry a generated tsvector (of their heading and text, in the chunk's
-- text search configuration) and a nullable 1536-dimension embedding with an HNSW index,
-- so search works with full text alone until an embedding model is configured; the BM25
-- statistics over those tsvectors are kept by 20261206050000_knowledge_ranking.sql. Memories are per contact and agent. Usage events
-- meter every model call per agent and tenant (idempotent by a producer key).
--
-- What a tenant (and each agent) used in a billing period is kept as counters, updated in
-- the transaction that records the usage, so limits and budgets are read in one row, never
-- summed from history: app.tenant_usage (admitted inbound messages, tokens, cost) and
-- app.agent_usage (tokens, cost). A period is the calendar month in UTC
-- (app.usage_period). Tokens and cost are counted by a trigger on usage_events (a
-- duplicate record inserts nothing, so it never counts); messages by app.answer_inbound
-- at ingest (20261126008000_reply_jobs.sql), only those the inbound rate limit admitted
-- and never those of a test conversation. Each counter is one row updated with
-- insert ... on conflict do update, so concurrent writers serialize on it and none is
-- lost. app.reconcile_usage_counters (20261206030000_usage_counters.sql) recomputes them
-- from the raw rows; a pgTAP test checks they agree.

create table app.knowledge_sources (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  title text not null check (length(btrim(title)) between 1 and 300),
  kind text not null default 'text' check (kind in ('text', 'markdown', 'html', 'pdf', 'url')),
  uri text,
  content text,
  status text not null default 'pending' check (status in ('pending', 'processing', 'ready', 'failed')),
  error text,
  chunk_count integer not null default 0,
  language regconfig,
  created_by uuid references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id)
);
create index knowledge_sources_tenant_idx on app.knowledge_sources (tenant_id, created_at desc, id desc);
comment on table app.knowledge_sources is 'A document of a tenant''s knowledge base (pasted text, Markdown, HTML, PDF or URL) and its processing status. language: the text search configuration its chunks are indexed with (set by the admin, or detected; simple when Postgres has none for it).';

create table app.knowledge_chunks (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  source_id uuid not null,
  chunk_index integer not null,
  content text not null,
  heading text,
  language regconfig not null default 'english'::regconfig,
  token_count integer,
  fts tsvector generated always as (to_tsvector(language, coalesce(heading || E'\n', '') || content)) stored,
  embedding extensions.vector(1536),
  created_at timestamptz not null default now(),
  unique (source_id, chunk_index),
  foreign key (tenant_id, source_id) references app.knowledge_sources (tenant_id, id) on delete cascade
);
create index knowledge_chunks_tenant_idx on app.knowledge_chunks (tenant_id);
create index knowledge_chunks_embedding_idx on app.knowledge_chunks using hnsw (embedding extensions.vector_cosine_ops);
comment on table app.knowledge_chunks is 'A passage of a knowledge source under its heading (source title and section), with a full-text column in the chunk''s language (heading and text) and an optional embedding (vector(1536), HNSW, cosine).';

create table app.memories (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  contact_id uuid not null,
  agent_id uuid not null,
  content text not null check (length(btrim(content)) between 1 and 2000),
  content_hash text generated always as (md5(lower(btrim(content)))) stored,
  embedding extensions.vector(1536),
  source_conversation_id uuid,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  unique (contact_id, agent_id, content_hash),
  foreign key (tenant_id, contact_id) references app.contacts (tenant_id, id) on delete cascade,
  foreign key (tenant_id, agent_id) references app.agents (tenant_id, id) on delete cascade
);
create index memories_contact_agent_idx on app.memories (tenant_id, contact_id, agent_id, created_at desc);
create index memories_embedding_idx on app.memories using hnsw (embedding extensions.vector_cosine_ops);
comment on table app.memories is 'What an agent remembers about a contact, across channels; deduplicated by content; optional embedding.';

create table app.usage_events (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  agent_id uuid,
  conversation_id uuid,
  connection_id uuid,
  channel text check (channel in ('slack', 'whatsapp', 'web_chat')),
  kind text not null default 'chat' check (kind in ('chat', 'embedding', 'tool', 'message')),
  model text,
  input_tokens bigint not null default 0 check (input_tokens >= 0),
  output_tokens bigint not null default 0 check (output_tokens >= 0),
  cost_usd numeric(14, 6) not null default 0 check (cost_usd >= 0),
  idempotency_key text unique,
  metadata jsonb not null default '{}'::jsonb,
  occurred_at timestamptz not null default now()
);
create index usage_events_tenant_time_idx on app.usage_events (tenant_id, occurred_at);
create index usage_events_agent_time_idx on app.usage_events (agent_id, occurred_at);
comment on table app.usage_events is 'One metered event (a model call, an embedding, ...): tokens and cost per agent, channel and tenant. idempotency_key makes a retried record a no-op.';

-- No `set search_path` (its body names pg_catalog): so the planner inlines it in the hot paths.
create function app.usage_period(at timestamptz)
returns timestamptz
language sql
stable
as $$
  select pg_catalog.date_trunc('month', at, 'UTC')
$$;
comment on function app.usage_period(timestamptz) is 'The billing period (calendar month, UTC) a moment belongs to: its start.';

create table app.tenant_usage (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  period_start timestamptz not null,
  -- Inbound messages admitted by the rate limit, test conversations excluded.
  messages bigint not null default 0 check (messages >= 0),
  tokens bigint not null default 0 check (tokens >= 0),
  cost_usd numeric(16, 6) not null default 0 check (cost_usd >= 0),
  primary key (tenant_id, period_start)
);
comment on table app.tenant_usage is 'A tenant''s usage per billing period (UTC month) as counters kept in the same transaction as the event: admitted inbound messages (app.answer_inbound; not those held back by the rate limit, not test conversations), model tokens and cost (trigger on usage_events). What plan limits are checked against. Members read it; written by the database only.';

create table app.agent_usage (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  -- No foreign key: usage outlives a deleted agent, like usage_events.
  agent_id uuid not null,
  period_start timestamptz not null,
  tokens bigint not null default 0 check (tokens >= 0),
  cost_usd numeric(16, 6) not null default 0 check (cost_usd >= 0),
  primary key (agent_id, period_start)
);
create index agent_usage_tenant_idx on app.agent_usage (tenant_id, period_start);
comment on table app.agent_usage is 'An agent''s model tokens and cost per billing period (UTC month), counted by a trigger on usage_events in the same transaction: what its monthly_token_budget is checked against. Members read it; written by the database only.';

create function app.count_usage_event()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  period timestamptz := app.usage_period(new.occurred_at);
begin
  -- The tenant's row first, then the agent's: always the same order, so no deadlock.
  insert into app.tenant_usage as u (tenant_id, period_start, tokens, cost_usd)
  values (new.tenant_id, period, new.input_tokens + new.output_tokens, new.cost_usd)
  on conflict on constraint tenant_usage_pkey do update
    set tokens = u.tokens + excluded.tokens, cost_usd = u.cost_usd + excluded.cost_usd;
  if new.agent_id is not null then
    insert into app.agent_usage as u (tenant_id, agent_id, period_start, tokens, cost_usd)
    values (new.tenant_id, new.agent_id, period, new.input_tokens + new.output_tokens, new.cost_usd)
    on conflict on constraint agent_usage_pkey do update
      set tokens = u.tokens + excluded.tokens, cost_usd = u.cost_usd + excluded.cost_usd;
  end if;
  return null;
end
$$;
comment on function app.count_usage_event() is 'After-insert trigger on usage_events: adds the event''s tokens and cost to its tenant''s and agent''s counters of its period (app.tenant_usage, app.agent_usage). A duplicate record (same idempotency_key) inserts no row, so it never counts twice.';

create trigger usage_events_count after insert on app.usage_events
  for each row execute function app.count_usage_event();

create trigger knowledge_sources_touch_updated_at before update on app.knowledge_sources
  for each row execute function app.touch_updated_at();
create trigger knowledge_sources_audit after insert or delete on app.knowledge_sources
  for each row execute function app.audit_change('knowledge_source', 'id', 'tenant_id');

alter table app.knowledge_sources enable row level security;
alter table app.knowledge_sources force row level security;
alter table app.knowledge_chunks enable row level security;
alter table app.knowledge_chunks force row level security;
alter table app.memories enable row level security;
alter table app.memories force row level security;
alter table app.usage_events enable row level security;
alter table app.usage_events force row level security;
alter table app.tenant_usage enable row level security;
alter table app.tenant_usage force row level security;
alter table app.agent_usage enable row level security;
alter table app.agent_usage force row level security;

create policy "members can read their tenant's knowledge sources" on app.knowledge_sources
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can add knowledge sources" on app.knowledge_sources
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can update knowledge sources" on app.knowledge_sources
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete knowledge sources" on app.knowledge_sources
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
create policy "members can read their tenant's knowledge chunks" on app.knowledge_chunks
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can add knowledge chunks" on app.knowledge_chunks
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete knowledge chunks" on app.knowledge_chunks
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
create policy "members can read their tenant's memories" on app.memories
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can delete memories" on app.memories
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
create policy "members can read their tenant's usage" on app.usage_events
  for select to authenticated using (app.can_read(tenant_id));
create policy "members can read their tenant's usage counters" on app.tenant_usage
  for select to authenticated using (app.can_read(tenant_id));
create policy "members can read their tenant's agents' usage counters" on app.agent_usage
  for select to authenticated using (app.can_read(tenant_id));

grant select, insert (id, tenant_id, title, kind, uri, content, status, chunk_count, language, created_by),
  update (title, status, error, chunk_count), delete on app.knowledge_sources to authenticated;
grant select, insert (tenant_id, source_id, chunk_index, content, heading, language, token_count), delete on app.knowledge_chunks to authenticated;
grant select, delete on app.memories to authenticated;
grant select on app.usage_events to authenticated;
grant select, insert, update, delete on app.knowledge_sources, app.knowledge_chunks, app.memories to service_role;
grant select, insert on app.usage_events to service_role;
grant select on app.tenant_usage, app.agent_usage to authenticated;
grant select, insert, update, delete on app.tenant_usage, app.agent_usage to service_role;

revoke all on function app.count_usage_event() from public, anon, authenticated;
revoke all on function app.usage_period(timestamptz) from public, anon;
grant execute on function app.usage_period(timestamptz) to authenticated, service_role;
