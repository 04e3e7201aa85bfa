-- Knowledge and memory: a tenant's knowledge base, its ingestion and ranking, and the
-- agents' long-term memory of each contact.
--
-- api.create_knowledge_source accepts text, markdown, html, csv (content), pdf, docx and
-- pptx (content = the file in base64, at most 10 MB; docx and pptx checked to be a zip)
-- and url (uri), checks each kind's input and size, and queues every source on
-- knowledge_jobs: the worker extracts, chunks and embeds it. A source's status is
-- broadcast as knowledge_source_changed (never its content), so the knowledge page follows
-- uploads live; api.view_knowledge_source pages through what a source became, by the
-- chunks' unique key (source_id, chunk_index).
--
-- Knowledge chunks carry a generated tsvector (of their heading and text, in the chunk's
-- text search configuration) and a nullable 1536-dimension embedding with an HNSW index,
-- so search works with full text alone until an embedding model is configured.
--
-- Ranking: BM25 over the chunks' own tsvectors, per tenant. Statement-level triggers on
-- app.knowledge_chunks keep app.knowledge_stats (chunk count and words: the average
-- length), app.knowledge_terms (document frequency of each lexeme) and
-- app.knowledge_postings (one row per chunk and lexeme with its BM25 term-frequency
-- impact, indexed by tenant, lexeme, impact desc). app.rank_knowledge_text reads, for each
-- of the question's terms (at most 32), only its best postings (at most 200 by impact): a
-- common word costs as much as a rare one, however many chunks it occurs in; the best
-- candidates are then scored exactly, with a deterministic tie-break. k1 = 1.2, b = 0.75,
-- idf = ln(1 + (N - df + 0.5) / (df + 0.5)). api.search_knowledge fuses that ranking with
-- the vector ranking by reciprocal rank; both see only the tenant's chunks.
--
-- Memories are per contact and agent, saved by the worker (api.save_memory).

-- Load pgvector's library in this session, so that its settings are known when the function
-- below sets one (on a hosted project postgres is no superuser and may not set an unknown one).
select '[0]'::extensions.vector;

create table app.knowledge_sources (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  title text not null check (length(btrim(title)) between 1 and 300),
  kind text not null default 'text' check (kind in ('text', 'markdown', 'html', 'pdf', 'url', 'csv', 'docx', 'pptx')),
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
alter table app.knowledge_sources enable row level security;
alter table app.knowledge_sources force row level security;
create policy "members can read their tenant's knowledge sources" on app.knowledge_sources
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can add knowledge sources" on app.knowledge_sources
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can update knowledge sources" on app.knowledge_sources
  for update to authenticated using (app.is_member(tenant_id, 'admin')) with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete knowledge sources" on app.knowledge_sources
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
grant select, insert (id, tenant_id, title, kind, uri, content, status, chunk_count, language, created_by),
  update (title, status, error, chunk_count), delete on app.knowledge_sources to authenticated;
grant select, insert, update, delete on app.knowledge_sources to service_role;
create trigger knowledge_sources_touch_updated_at before update on app.knowledge_sources
  for each row execute function app.touch_updated_at();
create trigger knowledge_sources_audit after insert or delete on app.knowledge_sources
  for each row execute function app.audit_change('knowledge_source', 'id', 'tenant_id');

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
alter table app.knowledge_chunks enable row level security;
alter table app.knowledge_chunks force row level security;
create policy "members can read their tenant's knowledge chunks" on app.knowledge_chunks
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can add knowledge chunks" on app.knowledge_chunks
  for insert to authenticated with check (app.is_member(tenant_id, 'admin'));
create policy "admins can delete knowledge chunks" on app.knowledge_chunks
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
grant select, insert (tenant_id, source_id, chunk_index, content, heading, language, token_count), delete on app.knowledge_chunks to authenticated;
grant select, insert, update, delete on app.knowledge_chunks to service_role;

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
alter table app.memories enable row level security;
alter table app.memories force row level security;
create policy "members can read their tenant's memories" on app.memories
  for select to authenticated using (app.can_read(tenant_id));
create policy "admins can delete memories" on app.memories
  for delete to authenticated using (app.is_member(tenant_id, 'admin'));
grant select, delete on app.memories to authenticated;
grant select, insert, update, delete on app.memories to service_role;

create table app.knowledge_stats (
  tenant_id uuid primary key references app.tenants (id) on delete cascade,
  chunk_count bigint not null default 0,
  total_length bigint not null default 0,
  languages regconfig[] not null default '{}'
);
comment on table app.knowledge_stats is 'Per tenant: how many knowledge chunks and how many words they hold (BM25''s average passage length), and the text search configurations its chunks were indexed with (questions are searched in each). Kept by the knowledge_chunks triggers.';
alter table app.knowledge_stats enable row level security;
alter table app.knowledge_stats force row level security;
create policy "members can read their tenant's knowledge statistics" on app.knowledge_stats
  for select to authenticated using (tenant_id = any ((select app.readable_tenants())::uuid[]));
grant select on app.knowledge_stats to authenticated, service_role;

create table app.knowledge_terms (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  lexeme text not null,
  chunk_count integer not null,
  primary key (tenant_id, lexeme)
);
comment on table app.knowledge_terms is 'Per tenant and lexeme: in how many knowledge chunks it occurs (BM25 document frequency). Kept by the knowledge_chunks triggers.';
alter table app.knowledge_terms enable row level security;
alter table app.knowledge_terms force row level security;
create policy "members can read their tenant's knowledge terms" on app.knowledge_terms
  for select to authenticated using (tenant_id = any ((select app.readable_tenants())::uuid[]));
grant select on app.knowledge_terms to authenticated, service_role;

create table app.knowledge_postings (
  chunk_id uuid not null,
  lexeme text not null,
  tenant_id uuid not null,
  frequency smallint not null,
  chunk_length integer not null,
  impact real not null,
  primary key (chunk_id, lexeme)
);
create index knowledge_postings_impact_idx on app.knowledge_postings (tenant_id, lexeme, impact desc, chunk_id)
  include (frequency, chunk_length);
comment on table app.knowledge_postings is 'Per knowledge chunk and lexeme: the lexeme''s frequency in the chunk, the chunk''s length and the BM25 term-frequency factor at write time (impact), so a term''s best chunks are read first. Kept by the knowledge_chunks triggers.';
alter table app.knowledge_postings enable row level security;
alter table app.knowledge_postings force row level security;
create policy "members can read their tenant's knowledge postings" on app.knowledge_postings
  for select to authenticated using (tenant_id = any ((select app.readable_tenants())::uuid[]));
grant select on app.knowledge_postings to authenticated, service_role;

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
revoke all on function app.chunk_text(text, integer) from public, anon;
grant execute on function app.chunk_text(text, integer) to authenticated, service_role;

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
revoke all on function api.list_knowledge_sources(uuid, timestamptz, uuid, integer) from public, anon;
grant execute on function api.list_knowledge_sources(uuid, timestamptz, uuid, integer) to authenticated;

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
revoke all on function app.enqueue_knowledge_source(uuid) from public, anon;
grant execute on function app.enqueue_knowledge_source(uuid) to authenticated, service_role;

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
revoke all on function api.delete_knowledge_source(uuid) from public, anon;
grant execute on function api.delete_knowledge_source(uuid) to authenticated;

create function api.save_memory(tenant_id uuid, contact_id uuid, agent_id uuid, content text,
  embedding extensions.vector default null, source_conversation_id uuid default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid;
begin
  if not exists (select 1 from app.contacts c where c.id = save_memory.contact_id and c.tenant_id = save_memory.tenant_id)
     or not exists (select 1 from app.agents a where a.id = save_memory.agent_id and a.tenant_id = save_memory.tenant_id) then
    raise exception 'contact or agent does not belong to tenant' using errcode = '42501';
  end if;
  insert into app.memories (tenant_id, contact_id, agent_id, content, embedding, source_conversation_id)
  values (save_memory.tenant_id, save_memory.contact_id, save_memory.agent_id, btrim(save_memory.content),
    save_memory.embedding, save_memory.source_conversation_id)
  on conflict on constraint memories_contact_id_agent_id_content_hash_key do update
    set embedding = coalesce(excluded.embedding, app.memories.embedding)
  returning id into new_id;
  return jsonb_build_object('memory_id', new_id);
end
$$;
comment on function api.save_memory(uuid, uuid, uuid, text, extensions.vector, uuid) is 'Remembers something about a contact for an agent, deduplicated by normalised content (a repeat only fills a missing embedding). service_role.';
revoke all on function api.save_memory(uuid, uuid, uuid, text, extensions.vector, uuid) from public, anon;
grant execute on function api.save_memory(uuid, uuid, uuid, text, extensions.vector, uuid) to service_role;

create function api.get_knowledge_source(tenant_id uuid, source_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', s.id, 'tenant_id', s.tenant_id, 'title', s.title, 'kind', s.kind, 'uri', s.uri,
    'content', s.content, 'status', s.status,
    'chunks', coalesce((select jsonb_agg(jsonb_build_object('id', c.id, 'chunk_index', c.chunk_index, 'content', c.content,
        'has_embedding', c.embedding is not null) order by c.chunk_index)
      from app.knowledge_chunks c where c.source_id = s.id), '[]'::jsonb))
  from app.knowledge_sources s
  where s.id = get_knowledge_source.source_id and s.tenant_id = get_knowledge_source.tenant_id
$$;
comment on function api.get_knowledge_source(uuid, uuid) is 'A knowledge source with its content and chunks (whether each has an embedding), for the knowledge worker; null if not this tenant''s. service_role.';
revoke all on function api.get_knowledge_source(uuid, uuid) from public, anon;
grant execute on function api.get_knowledge_source(uuid, uuid) to service_role;

create function api.replace_knowledge_chunks(tenant_id uuid, source_id uuid, chunks jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  n integer;
  source_title text;
  source_language regconfig;
begin
  select s.title, s.language into source_title, source_language from app.knowledge_sources s
  where s.id = replace_knowledge_chunks.source_id and s.tenant_id = replace_knowledge_chunks.tenant_id;
  if not found then
    raise exception 'knowledge source not found in tenant' using errcode = 'P0002';
  end if;
  if jsonb_typeof(replace_knowledge_chunks.chunks) is distinct from 'array' then
    raise exception 'chunks must be an array of {content, heading?, embedding?, token_count?}' using errcode = '22023';
  end if;
  -- The language set by the admin, else the one detected from the text (simple when none fits).
  if source_language is null then
    source_language := coalesce(app.detect_language((select string_agg(e.value ->> 'content', ' ')
      from (select e.value from jsonb_array_elements(replace_knowledge_chunks.chunks) e limit 5) e)), 'simple'::regconfig);
    update app.knowledge_sources s set language = source_language where s.id = replace_knowledge_chunks.source_id;
  end if;
  delete from app.knowledge_chunks c where c.source_id = replace_knowledge_chunks.source_id;
  -- The heading (source title, then the chunk's section) is searchable with the text.
  insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, heading, language, token_count, embedding)
  select replace_knowledge_chunks.tenant_id, replace_knowledge_chunks.source_id, (e.ordinality - 1)::integer,
    e.value ->> 'content',
    concat_ws(E'\n', source_title, nullif(nullif(left(btrim(e.value ->> 'heading'), 300), ''), source_title)), source_language,
    (e.value ->> 'token_count')::integer,
    case when e.value ? 'embedding' and jsonb_typeof(e.value -> 'embedding') = 'array'
      then (e.value ->> 'embedding')::extensions.vector end
  from jsonb_array_elements(replace_knowledge_chunks.chunks) with ordinality e
  where coalesce(btrim(e.value ->> 'content'), '') <> '';
  get diagnostics n = row_count;
  update app.knowledge_sources s set status = 'ready', error = null, chunk_count = n
  where s.id = replace_knowledge_chunks.source_id;
  return n;
end
$$;
comment on function api.replace_knowledge_chunks(uuid, uuid, jsonb) is 'Replaces the chunks of a source ([{content, heading? (its section title), embedding?: number[1536], token_count?}]; the source title heads every chunk) and marks it ready. service_role.';
revoke all on function api.replace_knowledge_chunks(uuid, uuid, jsonb) from public, anon;
grant execute on function api.replace_knowledge_chunks(uuid, uuid, jsonb) to service_role;

create function api.set_knowledge_source_status(tenant_id uuid, source_id uuid, status text, error text default null)
returns void
language plpgsql
set search_path = ''
as $$
begin
  update app.knowledge_sources s set status = set_knowledge_source_status.status, error = set_knowledge_source_status.error
  where s.id = set_knowledge_source_status.source_id and s.tenant_id = set_knowledge_source_status.tenant_id;
  if not found then
    raise exception 'knowledge source not found in tenant' using errcode = 'P0002';
  end if;
end
$$;
comment on function api.set_knowledge_source_status(uuid, uuid, text, text) is 'Marks a knowledge source processing, ready or failed (with the error shown to admins). service_role.';
revoke all on function api.set_knowledge_source_status(uuid, uuid, text, text) from public, anon;
grant execute on function api.set_knowledge_source_status(uuid, uuid, text, text) to service_role;

create function api.reprocess_knowledge_source(source_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  source_tenant uuid;
begin
  select s.tenant_id into source_tenant from app.knowledge_sources s where s.id = reprocess_knowledge_source.source_id;
  if not found then
    raise exception 'knowledge source not found' using errcode = 'P0002';
  end if;
  perform app.require_role(source_tenant, 'admin');
  update app.knowledge_sources s set status = case when s.status = 'ready' and s.kind in ('text', 'markdown')
      then 'ready' else 'pending' end, error = null
  where s.id = reprocess_knowledge_source.source_id;
  perform app.enqueue_knowledge_source(reprocess_knowledge_source.source_id);
  return (select jsonb_build_object('id', s.id, 'status', s.status, 'chunk_count', s.chunk_count)
    from app.knowledge_sources s where s.id = reprocess_knowledge_source.source_id);
end
$$;
comment on function api.reprocess_knowledge_source(uuid) is 'Queues a knowledge source again (after a failure, to refetch a URL, or to add embeddings once a model is configured). Owners and admins.';
revoke all on function api.reprocess_knowledge_source(uuid) from public, anon, authenticated;
grant execute on function api.reprocess_knowledge_source(uuid) to authenticated;

create function api.search_knowledge(tenant_id uuid, query_text text, query_embedding extensions.vector default null,
  match_count integer default 5)
returns table (chunk_id uuid, source_id uuid, source_title text, content text, score double precision,
  fts_rank integer, vector_rank integer, coverage double precision)
language plpgsql
-- Iterative index scans (pgvector 0.8): when most of the shared HNSW index belongs to
-- other tenants, the scan goes on past the first ef_search neighbours until enough of
-- this tenant's chunks are found. Set here, so it holds for this call only.
set hnsw.iterative_scan = 'relaxed_order'
set search_path = ''
as $$
declare
  k integer := least(greatest(coalesce(search_knowledge.match_count, 5), 1), 50);
  -- A tenant this small (2,000 chunks; the session setting konstruct.exact_vector_limit
  -- may lower it, as the tests do) is ranked by an exact scan of its own chunks (a few
  -- milliseconds), so its nearest chunks are found however crowded the shared index is.
  -- The question is read in its own language first, then in each language of the
  -- tenant's knowledge (a short question may not tell its language).
  configs regconfig[] := (
    select array_agg(l.cfg order by l.first_at) from (
      select c.cfg, min(c.at) as first_at
      from unnest(array[app.detect_language(search_knowledge.query_text)]
        || coalesce((select s.languages from app.knowledge_stats s where s.tenant_id = search_knowledge.tenant_id), '{}'))
        with ordinality c(cfg, at)
      where c.cfg is not null
      group by c.cfg) l);
  exact_vectors boolean := coalesce((select s.chunk_count <= coalesce(
      nullif(current_setting('konstruct.exact_vector_limit', true), '')::integer, 2000)
    from app.knowledge_stats s where s.tenant_id = search_knowledge.tenant_id), true);
begin
  if not pg_catalog.pg_has_role(current_user, 'service_role', 'usage') then
    perform app.require_read(search_knowledge.tenant_id, 'knowledge search');
  end if;
  -- Reciprocal rank fusion (k = 60) of BM25 (app.rank_knowledge_text) and a vector
  -- ranking; both see only this tenant's chunks. Without an embedding, BM25 alone.
  return query
    with full_text as (
      select r.chunk_id as id, r.rank_ix, r.coverage
      from app.rank_knowledge_text(search_knowledge.tenant_id, search_knowledge.query_text, configs, k * 4) r
    ),
    nearest as materialized (
      select c.id, c.embedding operator(extensions.<=>) search_knowledge.query_embedding as distance
      from app.knowledge_chunks c
      where c.tenant_id = search_knowledge.tenant_id and search_knowledge.query_embedding is not null
        and c.embedding is not null and not exact_vectors
      order by c.embedding operator(extensions.<=>) search_knowledge.query_embedding
      limit k * 4
    ),
    nearest_exact as materialized (
      select c.id, c.embedding operator(extensions.<=>) search_knowledge.query_embedding as distance
      from app.knowledge_chunks c
      where c.tenant_id = search_knowledge.tenant_id and search_knowledge.query_embedding is not null
        and c.embedding is not null and exact_vectors
      -- "+ 0" keeps the planner off the shared HNSW index: an exact scan of this tenant's chunks.
      order by (c.embedding operator(extensions.<=>) search_knowledge.query_embedding) + 0, c.id
      limit k * 4
    ),
    semantic as (
      select v.id, (row_number() over (order by v.distance, v.id))::integer as rank_ix
      from (select * from nearest union all select * from nearest_exact) v
    ),
    fused as (
      select coalesce(f.id, s.id) as id,
        coalesce(1.0 / (60 + f.rank_ix), 0.0) + coalesce(1.0 / (60 + s.rank_ix), 0.0) as fused_score,
        f.rank_ix as f_rank, s.rank_ix as s_rank, f.coverage
      from full_text f full outer join semantic s on s.id = f.id
    )
    select c.id, c.source_id, c.title, c.content, best.fused_score::double precision, best.f_rank, best.s_rank,
      coalesce(best.coverage, 0)::double precision
    from (select * from fused
          order by fused.fused_score desc, coalesce(fused.f_rank, 2147483647), coalesce(fused.s_rank, 2147483647), fused.id
          limit k) best
    -- Primary-key lookups of the k best only ("offset 0" keeps them nested loops).
    cross join lateral (select c.id, c.source_id, src.title, c.content
                        from app.knowledge_chunks c join app.knowledge_sources src on src.id = c.source_id
                        where c.id = best.id and c.tenant_id = search_knowledge.tenant_id offset 0) c
    order by best.fused_score desc, coalesce(best.f_rank, 2147483647), coalesce(best.s_rank, 2147483647), best.id;
end
$$;
comment on function api.search_knowledge(uuid, text, extensions.vector, integer) is 'Hybrid knowledge search: BM25 over the tenant''s chunks (heading and text; app.rank_knowledge_text) and, when query_embedding is given, cosine vector similarity (an exact scan for a tenant of at most 2,000 chunks, else the HNSW index with iterative scans), fused by reciprocal rank (k=60); ties go to the better full-text rank. coverage: the share of the question''s words (weighted by idf) the chunk holds. Filters by tenant inside both rankings, so another tenant''s chunk is never a candidate. Members of the tenant and service_role.';
revoke all on function api.search_knowledge(uuid, text, extensions.vector, integer) from public, anon;
grant execute on function api.search_knowledge(uuid, text, extensions.vector, integer) to authenticated;
grant execute on function api.search_knowledge(uuid, text, extensions.vector, integer) to service_role;

create function app.broadcast_knowledge_source()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  source app.knowledge_sources := case when tg_op = 'DELETE' then old else new end;
begin
  -- Content edits and bare touches say nothing the knowledge page shows.
  if tg_op = 'UPDATE' and new.status is not distinct from old.status and new.error is not distinct from old.error
     and new.chunk_count is not distinct from old.chunk_count and new.title is not distinct from old.title
     and new.uri is not distinct from old.uri then
    return null;
  end if;
  perform realtime.send(
    jsonb_build_object(
      'id', source.id, 'tenant_id', source.tenant_id, 'title', source.title, 'kind', source.kind, 'uri', source.uri,
      'status', source.status, 'error', source.error, 'chunk_count', source.chunk_count,
      'created_at', source.created_at, 'updated_at', source.updated_at, 'operation', lower(tg_op)
    ),
    'knowledge_source_changed',
    'tenant:' || source.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_knowledge_source() is 'After-row trigger on knowledge sources: broadcasts knowledge_source_changed (status, error, passages; never the content) to tenant:<tenant_id>, with operation insert, update or delete.';
revoke all on function app.broadcast_knowledge_source() from public, anon, authenticated;
create trigger knowledge_sources_broadcast after insert or update or delete on app.knowledge_sources
  for each row execute function app.broadcast_knowledge_source();

-- Languages: a text's language is the text search configuration that finds the most stop
-- words in it ("the", "el", "der" …), when one clearly does; null when none does (too
-- short, or a language Postgres has no configuration for: then 'simple').
create function app.detect_language(content text)
returns regconfig
language sql
stable
parallel safe
set search_path = ''
as $$
  with sample as (select lower(left(coalesce(detect_language.content, ''), 3000)) as t),
  word_count as (
    select count(*) as n from sample, regexp_split_to_table(sample.t, '[^[:alpha:]'']+') w where w <> ''
  ),
  scores as (
    select c.cfg, (select n from word_count) - (select coalesce(sum(coalesce(array_length(v.positions, 1), 1)), 0)
      from sample, unnest(to_tsvector(c.cfg, sample.t)) v) as stop_words
    from unnest(array['english', 'spanish', 'portuguese', 'french', 'german', 'italian', 'dutch']::regconfig[]) c(cfg)
  ),
  ranked as (select s.cfg, s.stop_words, row_number() over (order by s.stop_words desc, s.cfg::text) as r from scores s)
  select best.cfg from ranked best, ranked second
  where best.r = 1 and second.r = 2 and best.stop_words >= 1 and best.stop_words > second.stop_words
$$;
comment on function app.detect_language(text) is 'The text search configuration (english, spanish, portuguese, french, german, italian, dutch) that finds the most stop words in a text''s first 3,000 characters, or null when none clearly does.';
revoke all on function app.detect_language(text) from public, anon;
grant execute on function app.detect_language(text) to authenticated, service_role;

create function app.index_knowledge_chunks()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  gone_ids uuid[];
  gone_tenants uuid[];
  gone_fts tsvector[];
  gone_words integer[];
  added_ids uuid[];
  added_tenants uuid[];
  added_fts tsvector[];
  added_words integer[];
  added_languages regconfig[];
begin
  -- A chunk's length is its number of words (lexeme occurrences), as BM25 counts it.
  if tg_op = 'INSERT' then
    select array_agg(n.id), array_agg(n.tenant_id), array_agg(n.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(n.fts) w)::integer),
      array_agg(n.language)
    into added_ids, added_tenants, added_fts, added_words, added_languages
    from new_chunks n;
  elsif tg_op = 'DELETE' then
    select array_agg(o.id), array_agg(o.tenant_id), array_agg(o.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(o.fts) w)::integer)
    into gone_ids, gone_tenants, gone_fts, gone_words
    from old_chunks o;
  else
    -- Only rows whose words changed (an embedding update changes none).
    select array_agg(o.id), array_agg(o.tenant_id), array_agg(o.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(o.fts) w)::integer),
      array_agg(n.id), array_agg(n.tenant_id), array_agg(n.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(n.fts) w)::integer),
      array_agg(n.language)
    into gone_ids, gone_tenants, gone_fts, gone_words, added_ids, added_tenants, added_fts, added_words, added_languages
    from old_chunks o join new_chunks n on n.id = o.id
    where o.fts is distinct from n.fts or o.tenant_id is distinct from n.tenant_id;
  end if;

  if gone_ids is not null then
    delete from app.knowledge_postings p where p.chunk_id = any (gone_ids);
    -- Locks in one order (tenant, lexeme), so concurrent writers of a tenant never deadlock.
    perform 1 from app.knowledge_terms t
    where (t.tenant_id, t.lexeme) in (select g.tenant_id, l.lexeme
        from unnest(gone_tenants, gone_fts) g(tenant_id, fts), unnest(tsvector_to_array(g.fts)) l(lexeme))
    order by t.tenant_id, t.lexeme for update;
    update app.knowledge_terms t set chunk_count = t.chunk_count - d.chunks
    from (select g.tenant_id, l.lexeme, count(*)::integer as chunks
          from unnest(gone_tenants, gone_fts) g(tenant_id, fts), unnest(tsvector_to_array(g.fts)) l(lexeme)
          group by g.tenant_id, l.lexeme) d
    where t.tenant_id = d.tenant_id and t.lexeme = d.lexeme;
    delete from app.knowledge_terms t
    where t.chunk_count <= 0 and (t.tenant_id, t.lexeme) in (select g.tenant_id, l.lexeme
        from unnest(gone_tenants, gone_fts) g(tenant_id, fts), unnest(tsvector_to_array(g.fts)) l(lexeme));
    update app.knowledge_stats s set chunk_count = s.chunk_count - d.chunks, total_length = s.total_length - d.words
    from (select g.tenant_id, count(*) as chunks, sum(g.words) as words
          from unnest(gone_tenants, gone_words) g(tenant_id, words) group by g.tenant_id) d
    where s.tenant_id = d.tenant_id;
  end if;

  if added_ids is not null then
    insert into app.knowledge_stats as s (tenant_id, chunk_count, total_length, languages)
    select a.tenant_id, count(*), sum(a.words), array_agg(distinct a.language)
    from unnest(added_tenants, added_words, added_languages) a(tenant_id, words, language)
    group by a.tenant_id order by a.tenant_id
    on conflict (tenant_id) do update
      set chunk_count = s.chunk_count + excluded.chunk_count, total_length = s.total_length + excluded.total_length,
        languages = array(select distinct l from unnest(s.languages || excluded.languages) l order by l);
    insert into app.knowledge_terms as t (tenant_id, lexeme, chunk_count)
    select a.tenant_id, l.lexeme, count(*)::integer
    from unnest(added_tenants, added_fts) a(tenant_id, fts), unnest(tsvector_to_array(a.fts)) l(lexeme)
    group by a.tenant_id, l.lexeme order by a.tenant_id, l.lexeme
    on conflict (tenant_id, lexeme) do update set chunk_count = t.chunk_count + excluded.chunk_count;
    insert into app.knowledge_postings (chunk_id, lexeme, tenant_id, frequency, chunk_length, impact)
    select a.id, w.lexeme, a.tenant_id, f.frequency, a.words,
      (f.frequency / (f.frequency + 1.2 * (0.25 + 0.75 * a.words / greatest(s.total_length::real / greatest(s.chunk_count, 1), 1))))::real
    from unnest(added_ids, added_tenants, added_fts, added_words) a(id, tenant_id, fts, words)
    join app.knowledge_stats s on s.tenant_id = a.tenant_id
    cross join lateral unnest(a.fts) w
    cross join lateral (select coalesce(array_length(w.positions, 1), 1)::smallint as frequency) f;
  end if;
  return null;
end
$$;
comment on function app.index_knowledge_chunks() is 'Statement-level trigger on app.knowledge_chunks: keeps the tenant''s BM25 statistics (knowledge_stats, knowledge_terms) and postings in step with inserted, deleted and re-worded chunks, in the same transaction.';
revoke all on function app.index_knowledge_chunks() from public, anon;
create trigger knowledge_chunks_index_insert after insert on app.knowledge_chunks
  referencing new table as new_chunks for each statement execute function app.index_knowledge_chunks();
create trigger knowledge_chunks_index_update after update on app.knowledge_chunks
  referencing old table as old_chunks new table as new_chunks for each statement execute function app.index_knowledge_chunks();
create trigger knowledge_chunks_index_delete after delete on app.knowledge_chunks
  referencing old table as old_chunks for each statement execute function app.index_knowledge_chunks();

create function app.rank_knowledge_text(tenant_id uuid, query_text text, configs regconfig[] default array['english']::regconfig[],
  max_results integer default 20)
returns table (chunk_id uuid, score double precision, rank_ix integer, coverage double precision)
language plpgsql
stable
rows 40
set search_path = ''
as $$
declare
  n double precision;
  avg_length double precision;
  lexemes text[];
  idfs double precision[];
  question_idf double precision;
begin
  select s.chunk_count, s.total_length::double precision / s.chunk_count into n, avg_length
  from app.knowledge_stats s
  where s.tenant_id = rank_knowledge_text.tenant_id and s.chunk_count > 0;
  if not found then
    return;
  end if;
  -- The question's lexemes in each configuration (at most 32, in the order they are written;
  -- tsquery syntax is just text here): those that occur in this tenant's knowledge, with
  -- their idf, and for coverage the idf of the known ones and of the first configuration's
  -- unknown ones (a word the knowledge never uses weighs most).
  select array_agg(q.lexeme order by q.first_at, q.lexeme) filter (where q.known),
    array_agg(q.idf order by q.first_at, q.lexeme) filter (where q.known),
    sum(q.idf) filter (where q.known or q.primary_config)
  into lexemes, idfs, question_idf
  from (
    select w.lexeme, w.first_at, t.lexeme is not null as known, w.primary_config,
      ln(1 + (n - coalesce(t.chunk_count, 0) + 0.5) / (coalesce(t.chunk_count, 0) + 0.5)) as idf
    from (select v.lexeme, min(p.at) as first_at, bool_or(c.ordinality = 1) as primary_config
          from unnest(rank_knowledge_text.configs) with ordinality c(cfg, ordinality)
          cross join lateral unnest(to_tsvector(c.cfg, left(coalesce(rank_knowledge_text.query_text, ''), 4000))) v
          cross join lateral unnest(coalesce(v.positions, array[1]::smallint[])) p(at)
          group by v.lexeme) w
    left join app.knowledge_terms t on t.tenant_id = rank_knowledge_text.tenant_id and t.lexeme = w.lexeme
    order by w.first_at, w.lexeme
    limit 32
  ) q;
  if lexemes is null then
    return;
  end if;
  return query
  with gathered as (
    -- Each term's best postings only (by impact), so a common word costs what a rare one does.
    select p.chunk_id,
      sum(t.idf * p.frequency * 2.2 / (p.frequency + 1.2 * (0.25 + 0.75 * p.chunk_length / avg_length))) as partial
    from unnest(lexemes, idfs) t(lexeme, idf)
    cross join lateral (
      select p.chunk_id, p.frequency, p.chunk_length from app.knowledge_postings p
      where p.tenant_id = rank_knowledge_text.tenant_id and p.lexeme = t.lexeme
      order by p.impact desc, p.chunk_id
      limit 200
    ) p
    group by p.chunk_id
    order by partial desc, p.chunk_id
    limit rank_knowledge_text.max_results + 20
  ),
  scored as (
    -- Exact BM25 of those candidates: every question term, also those whose list was cut.
    select g.chunk_id, e.score, e.matched_idf / question_idf as coverage
    from gathered g
    cross join lateral (
      select sum(t.idf * p.frequency * 2.2 / (p.frequency + 1.2 * (0.25 + 0.75 * p.chunk_length / avg_length))) as score,
        sum(t.idf) as matched_idf
      from unnest(lexemes, idfs) t(lexeme, idf)
      join app.knowledge_postings p on p.chunk_id = g.chunk_id and p.lexeme = t.lexeme
    ) e
  )
  select r.chunk_id, r.score, r.rank_ix::integer, r.coverage
  from (select s.chunk_id, s.score, s.coverage,
          row_number() over (order by s.score desc, c.chunk_index, c.created_at, c.id) as rank_ix
        from scored s
        -- One primary-key lookup per candidate ("offset 0" keeps it a nested loop).
        cross join lateral (select c.chunk_index, c.created_at, c.id from app.knowledge_chunks c
                            where c.id = s.chunk_id offset 0) c) r
  where r.rank_ix <= rank_knowledge_text.max_results
  order by r.rank_ix;
end
$$;
comment on function app.rank_knowledge_text(uuid, text, regconfig[], integer) is 'BM25 ranking (k1 1.2, b 0.75) of a tenant''s knowledge chunks for a question, read in each of the given text search configurations (the first is the question''s own): each question term (in the question''s order, at most 32) contributes its 200 best postings by impact, and the best candidates are scored exactly with the tenant''s current statistics. Ties: earlier passage of a source first. coverage: the share of the question''s idf (words the knowledge never uses weigh most) that the chunk holds, 0..1, what the offline answer decides on. Used by api.search_knowledge.';
revoke all on function app.rank_knowledge_text(uuid, text, regconfig[], integer) from public, anon;
grant execute on function app.rank_knowledge_text(uuid, text, regconfig[], integer) to authenticated, service_role;

create function api.create_knowledge_source(tenant_id uuid, title text, content text default null,
  kind text default 'text', uri text default null, language text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  new_source_id uuid := gen_random_uuid();
  source_kind text := lower(coalesce(btrim(create_knowledge_source.kind), 'text'));
  body text := create_knowledge_source.content;
  file bytea;
  chunks integer := 0;
  source_language regconfig;
begin
  perform app.require_role(create_knowledge_source.tenant_id, 'admin');
  -- The admin may name the language (a text search configuration: english, spanish, …,
  -- or simple); otherwise it is detected from the text (here, or by the worker).
  if nullif(btrim(create_knowledge_source.language), '') is not null then
    select c.oid::regconfig into source_language from pg_catalog.pg_ts_config c
    where c.cfgname = lower(btrim(create_knowledge_source.language));
    if source_language is null then
      raise exception 'unknown language %; use one of %', create_knowledge_source.language,
        (select string_agg(c.cfgname, ', ' order by c.cfgname) from pg_catalog.pg_ts_config c) using errcode = '22023';
    end if;
  end if;
  if coalesce(btrim(create_knowledge_source.title), '') = '' then
    raise exception 'a knowledge source needs a title' using errcode = '22023';
  end if;
  if source_kind not in ('text', 'markdown', 'html', 'csv', 'pdf', 'docx', 'pptx', 'url') then
    raise exception 'kind must be text, markdown, html, csv, pdf, docx, pptx or url' using errcode = '22023';
  end if;
  if source_kind in ('text', 'markdown', 'html', 'csv') then
    if coalesce(btrim(body), '') = '' then
      raise exception '% knowledge needs content', source_kind using errcode = '22023';
    end if;
    if length(body) > 2000000 then
      raise exception 'content is longer than 2,000,000 characters; split it into several sources' using errcode = '22023';
    end if;
  elsif source_kind in ('pdf', 'docx', 'pptx') then
    -- The file itself, base64-encoded (whitespace and a data: URL prefix are tolerated).
    body := regexp_replace(regexp_replace(coalesce(body, ''), '^data:[^,]*,', ''), '\s+', '', 'g');
    if body = '' then
      raise exception 'a % source needs the file as base64 content', source_kind using errcode = '22023';
    end if;
    if length(body) > 14000000 then
      raise exception 'the % is larger than 10 MB',
        case source_kind when 'pdf' then 'PDF' when 'docx' then 'Word document' else 'PowerPoint file' end
        using errcode = '22023';
    end if;
    begin
      file := decode(body, 'base64');
    exception when others then
      raise exception '% content is not valid base64', source_kind using errcode = '22023';
    end;
    if source_kind = 'pdf' and position('\x255044462d'::bytea in substr(file, 1, 1024)) = 0 then
      raise exception 'the file is not a PDF' using errcode = '22023';
    end if;
    -- Word and PowerPoint files are zips; a password-protected or old binary one is not.
    if source_kind in ('docx', 'pptx') and substr(file, 1, 4) <> '\x504b0304'::bytea then
      raise exception 'the file is not a .% file (a password-protected or old .doc/.ppt file cannot be read)',
        source_kind using errcode = '22023';
    end if;
  elsif source_kind = 'url' then
    if coalesce(create_knowledge_source.uri, '') !~* '^https?://[^/\s]+' or length(create_knowledge_source.uri) > 2048 then
      raise exception 'a url source needs an http(s) uri' using errcode = '22023';
    end if;
  end if;
  if source_kind in ('text', 'markdown') and source_language is null then
    source_language := coalesce(app.detect_language(body), 'simple'::regconfig);
  end if;
  insert into app.knowledge_sources (id, tenant_id, title, kind, uri, content, status, language, created_by)
  values (new_source_id, create_knowledge_source.tenant_id, btrim(create_knowledge_source.title),
    source_kind, case when source_kind = 'url' then btrim(create_knowledge_source.uri) else create_knowledge_source.uri end,
    body, 'pending', source_language, (select auth.uid()));
  -- Pasted text is searchable at once (full text); the knowledge worker adds embeddings.
  if source_kind in ('text', 'markdown') then
    insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, heading, language)
    select create_knowledge_source.tenant_id, new_source_id, c.chunk_index, c.chunk, btrim(create_knowledge_source.title),
      source_language
    from app.chunk_text(body) c;
    get diagnostics chunks = row_count;
    update app.knowledge_sources s set status = 'ready', chunk_count = chunks where s.id = new_source_id;
  end if;
  perform app.enqueue_knowledge_source(new_source_id);
  return (select jsonb_build_object('id', s.id, 'tenant_id', s.tenant_id, 'title', s.title, 'kind', s.kind, 'uri', s.uri,
    'status', s.status, 'chunk_count', s.chunk_count, 'created_at', s.created_at)
    from app.knowledge_sources s where s.id = new_source_id);
end
$$;
comment on function api.create_knowledge_source(uuid, text, text, text, text, text) is 'Adds a knowledge source: kind text or markdown (content; chunked at once, searchable by full text immediately), html or csv (content; a CSV''s first row names its columns), pdf, docx or pptx (content = the file in base64, at most 10 MB; text-based PDFs only) or url (uri, fetched by the worker through the guarded HTTP client). language: a text search configuration (english, spanish, …, simple) to index it with; detected from the text when omitted (simple when no configuration fits). Every source is queued on knowledge_jobs, which wakes the worker to extract, chunk and embed it; failures show on the source (status failed, error). 22023 for a bad kind or input. Owners and admins.';
revoke all on function api.create_knowledge_source(uuid, text, text, text, text, text) from public, anon;
grant execute on function api.create_knowledge_source(uuid, text, text, text, text, text) to authenticated;

create function api.view_knowledge_source(source_id uuid, after_index integer default null,
  page_size integer default 50)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  source record;
  size integer := least(greatest(coalesce(view_knowledge_source.page_size, 50), 1), 200);
  passages jsonb;
  next_after integer;
begin
  select s.id, s.tenant_id, s.title, s.kind, s.uri, s.status, s.error, s.chunk_count, s.created_at, s.updated_at
  into source
  from app.knowledge_sources s
  where s.id = view_knowledge_source.source_id;
  if not found then
    raise exception 'knowledge source not found' using errcode = 'P0002';
  end if;
  perform app.require_read(source.tenant_id, 'knowledge');
  -- One row past the page says whether another page follows.
  select coalesce(jsonb_agg(jsonb_build_object('chunk_index', p.chunk_index, 'heading', p.heading,
      'content', p.content, 'token_count', p.token_count) order by p.chunk_index), '[]'::jsonb)
  into passages
  from (
    select c.chunk_index, c.heading, c.content, c.token_count
    from app.knowledge_chunks c
    where c.source_id = source.id
      and c.chunk_index > coalesce(view_knowledge_source.after_index, -1)
    order by c.chunk_index
    limit size + 1
  ) p;
  if jsonb_array_length(passages) > size then
    passages := passages - size;
    next_after := (passages -> (size - 1) ->> 'chunk_index')::integer;
  end if;
  return jsonb_build_object(
    'source', jsonb_build_object('id', source.id, 'tenant_id', source.tenant_id, 'title', source.title,
      'kind', source.kind, 'uri', source.uri, 'status', source.status, 'error', source.error,
      'chunk_count', source.chunk_count, 'created_at', source.created_at, 'updated_at', source.updated_at),
    'passages', passages,
    'next_after', next_after);
end
$$;
comment on function api.view_knowledge_source(uuid, integer, integer) is 'A knowledge source (title, kind, uri, status, error, chunk_count) with a page of its passages in order: chunk_index, heading (the section), content, token_count. Keyset paging: pass next_after as after_index for the next page (null on the last). page_size 1-200 (default 50). P0002 when the source does not exist or belongs to another tenant. Any member; platform admins (audited).';
revoke all on function api.view_knowledge_source(uuid, integer, integer) from public, anon;
grant execute on function api.view_knowledge_source(uuid, integer, integer) to authenticated;
