-- bench:sql volume: history written set-based (generate_series), not through the api, as
-- the superuser of the throwaway cluster with triggers off (session_replication_role =
-- replica), so a million messages take seconds, not hours. Then whatever keeps derived
-- state (conversation recency, usage counters) is brought in line with the raw rows.
-- Knowledge chunks are the exception: they are inserted with their triggers on, which
-- index them for full text and count them per tenant (app.knowledge_stats) as the api
-- does; without that, a search finds no text and takes every tenant for a small one.
-- psql variables: :tenant :agent :connection, :conversations, :messages, :usage_events,
-- :audit_rows, :small_tenants, :small_chunks, :big_chunks.
--
-- The demo tenant gets :conversations web chat threads ('bench-<i>', contact 'user-<i>'),
-- :messages messages this month (alternately a round of inbound messages and a round of
-- replies across the threads, spread over the month so far), :usage_events model calls
-- and :audit_rows audit entries; :big_chunks knowledge chunks with embeddings. Another
-- :small_tenants tenants get :small_chunks chunks each.

-- The threads the empty run's ingest created make way for the filled ones.
delete from app.conversations where connection_id = :'connection';
delete from app.contacts where tenant_id = :'tenant';

set session_replication_role = replica;
set maintenance_work_mem = '1GB';
set max_parallel_maintenance_workers = 0;

select date_trunc('month', now()) as month_start,
  greatest(extract(epoch from now() - date_trunc('month', now())) - 60, 60) as span_seconds \gset

create temp table threads as
select i, gen_random_uuid() as contact_id, gen_random_uuid() as conversation_id
from generate_series(1, :conversations) i;

insert into app.contacts (id, tenant_id, display_name, created_at)
select contact_id, :'tenant', 'Customer ' || i, :'month_start'::timestamptz from threads;
insert into app.contact_identities (tenant_id, contact_id, channel, external_user_id, display_name, created_at)
select :'tenant', contact_id, 'web_chat', 'user-' || i, 'Customer ' || i, :'month_start'::timestamptz from threads;

-- Message k (0-based) goes to thread k % conversations + 1 at month_start + k/messages of the span.
insert into app.conversations (id, tenant_id, connection_id, channel, thread_key, contact_id, agent_id, status,
  last_message_at, last_inbound_at, last_message_preview, created_at)
select conversation_id, :'tenant', :'connection', 'web_chat', 'bench-' || i, contact_id, :'agent', 'open',
  :'month_start'::timestamptz + make_interval(secs => (:messages - :conversations + i - 1)::double precision / :messages * :span_seconds),
  :'month_start'::timestamptz + make_interval(secs => (:messages - :conversations + i - 1)::double precision / :messages * :span_seconds),
  'Thanks, that helps.', :'month_start'::timestamptz
from threads;

insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, agent_id, text,
  external_id, idempotency_key, delivery_status, created_at, updated_at)
select :'tenant', t.conversation_id, :'connection', d.direction,
  case d.direction when 'in' then 'contact' else 'agent' end,
  case d.direction when 'out' then :'agent'::uuid end,
  case d.direction when 'in' then 'Where is my parcel? Order ' || k else 'Your parcel left our store today.' end,
  case d.direction when 'in' then 'fill-' || k end,
  case d.direction when 'out' then 'fill:' || k end,
  case d.direction when 'in' then 'received' else 'delivered' end,
  :'month_start'::timestamptz + make_interval(secs => k::double precision / :messages * :span_seconds),
  :'month_start'::timestamptz + make_interval(secs => k::double precision / :messages * :span_seconds)
from generate_series(0, :messages - 1) k
join threads t on t.i = k % :conversations + 1
cross join lateral (select case when (k / :conversations) % 2 = 0 then 'in' else 'out' end as direction) d
order by k;

insert into app.usage_events (tenant_id, agent_id, conversation_id, connection_id, channel, kind, model,
  input_tokens, output_tokens, cost_usd, idempotency_key, occurred_at)
select :'tenant', :'agent', t.conversation_id, :'connection', 'web_chat', 'chat', 'bench-model', 900, 120, 0.0004,
  'fill:usage:' || k, :'month_start'::timestamptz + make_interval(secs => k::double precision / :usage_events * :span_seconds)
from generate_series(0, :usage_events - 1) k
join threads t on t.i = k % :conversations + 1;

insert into app.audit_log (tenant_id, actor_kind, action, entity_type, entity_id, details, created_at)
select :'tenant', 'system', 'conversation.closed', 'conversation', t.conversation_id::text, '{}'::jsonb,
  :'month_start'::timestamptz + make_interval(secs => k::double precision / :audit_rows * :span_seconds)
from generate_series(0, :audit_rows - 1) k
join threads t on t.i = k % :conversations + 1;

-- Knowledge: vector indexes are built once after the rows are in (much faster than row by row).
create temp table vector_indexes as
select indexname, indexdef from pg_indexes
where schemaname = 'app' and tablename = 'knowledge_chunks' and indexdef ilike '%using hnsw%';
select coalesce(string_agg(format('drop index app.%I', indexname), '; '), 'select 1') as drops from vector_indexes \gset
:drops;

insert into bench.tenants (i, id) select i, gen_random_uuid() from generate_series(1, :small_tenants) i;
insert into app.tenants (id, name, slug) select id, 'Bench tenant ' || i, 'bench-tenant-' || i from bench.tenants;
insert into app.knowledge_sources (id, tenant_id, title, kind, status, chunk_count)
select id, id, 'Help centre', 'text', 'ready', :small_chunks from bench.tenants;
set session_replication_role = origin;
insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, embedding)
select t.id, t.id, c, bench.words(40, c + t.i * 1000), bench.embedding(c + t.i * 1000)
from bench.tenants t, generate_series(1, :small_chunks) c;
set session_replication_role = replica;

insert into app.knowledge_sources (id, tenant_id, title, kind, status, chunk_count)
select ('50000000-0000-4000-8000-' || lpad(s::text, 12, '0'))::uuid, :'tenant', 'Manual part ' || s, 'text', 'ready', 1000
from generate_series(1, ceil(:big_chunks / 1000.0)::integer) s;
set session_replication_role = origin;
insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, embedding)
select :'tenant', ('50000000-0000-4000-8000-' || lpad((c / 1000 + 1)::text, 12, '0'))::uuid, c % 1000,
  bench.words(40, c), bench.embedding(c)
from generate_series(0, :big_chunks - 1) c;
set session_replication_role = replica;

-- With the whole graph in memory (200,000 × 1,536 dimensions is about 1.3 GB) and both cores,
-- as pgvector's documentation advises for a build; with the default 64 MB it is built on disk,
-- several times slower.
set maintenance_work_mem = '3GB';
set max_parallel_maintenance_workers = 1;
select coalesce(string_agg(indexdef, '; '), 'select 1') as creates from vector_indexes \gset
:creates;
reset maintenance_work_mem;
reset max_parallel_maintenance_workers;

set session_replication_role = origin;

-- Derived state from the raw rows: whatever the schema keeps as counters.
select to_regproc('app.reconcile_usage_counters') is not null as has_counters \gset
\if :has_counters
  select app.reconcile_usage_counters();
\endif

truncate bench.conversations;
insert into bench.conversations (i, id)
select row_number() over (order by c.thread_key), c.id from app.conversations c where c.connection_id = :'connection';

vacuum analyze;
-- The fill's pages are written out now, not by the checkpointer while the calls are measured.
checkpoint;
