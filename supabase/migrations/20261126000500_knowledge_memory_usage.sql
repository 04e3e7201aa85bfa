-- Knowledge base, long-term memory and usage metering.
--
-- Knowledge chunks carry a generated tsvector (of their heading and text, in the chunk's
-- text search configuration) and a nullable 1536-dimension embedding with an HNSW index,
-- so search works with full text alone until an embedding model is configured; the BM25
-- statistics over those tsvectors are kept by 20261206050000_knowledge_ranking.sql. Memories are per contact and agent. Usage events
-- meter every model call per agent and tenant (idempotent by a producer key).

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

grant select, insert (id, tenant_id, title, kind, uri, content, status, chunk_count, language, created_by),
  update (title, status, error, chunk_count), delete on app.knowledge_sources to authenticated;
grant select, insert (tenant_id, source_id, chunk_index, content, heading, language, token_count), delete on app.knowledge_chunks to authenticated;
grant select, delete on app.memories to authenticated;
grant select on app.usage_events to authenticated;
grant select, insert, update, delete on app.knowledge_sources, app.knowledge_chunks, app.memories to service_role;
grant select, insert on app.usage_events to service_role;
