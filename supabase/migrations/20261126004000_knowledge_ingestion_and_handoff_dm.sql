-- Knowledge ingestion, full-text recall and the hand-off Slack DM.
--
-- 1. Wake-ups: app.enqueue_job sends a job to agent_jobs or knowledge_jobs and every
--    enqueue wakes the worker through app.wake_agent_worker (once per transaction), so an
--    upload does not wait for the pg_cron safety net; the body names the queue, and the
--    worker drains that queue first.
-- 2. Uploads: api.create_knowledge_source accepts text, markdown, html (content), pdf
--    (content = the file in base64) and url (uri), checks each kind's input and size, and
--    queues every source on knowledge_jobs (the worker extracts, chunks and embeds it).
-- 3. Recall: api.search_knowledge fuses BM25 over the question's words (any of them; see
--    20261206050000_knowledge_ranking.sql) with the vector ranking by reciprocal rank;
--    both rankings see only the tenant's chunks before ranking.
-- 4. Hand-off DM: a Slack connection's settings may name Slack users to notify
--    (handoff_notify_user_ids); api.set_handoff_notifications sets them (admins) and
--    api.list_handoff_slack_targets gives the worker the active Slack connections that
--    have some (service_role). The bot token stays in Vault (api.get_channel_token).

-- 1. Wake-ups ----------------------------------------------------------------------------------

create function app.wake_agent_worker(reason text default 'enqueued')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- 'enqueued:knowledge_jobs' wakes the worker for that queue first.
  queue text := case when wake_agent_worker.reason like '%knowledge_jobs%' then 'knowledge_jobs' else 'agent_jobs' end;
begin
  -- Once per transaction is enough: the worker drains both queues.
  if coalesce(current_setting('konstruct.worker_woken', true), '') = 'yes' then
    return null;
  end if;
  perform set_config('konstruct.worker_woken', 'yes', true);
  return app.wake_function('agent-worker', jsonb_build_object('queue', queue, 'reason', wake_agent_worker.reason));
exception when others then
  -- Never let a wake-up failure lose the job: say so; the cron safety net will come.
  raise warning 'konstruct: could not wake the agent worker: %', sqlerrm;
  return null;
end
$$;
comment on function app.wake_agent_worker(text) is 'Wakes agent-worker through app.wake_function (pg_net, signed, sent after commit), once per transaction, naming the queue to drain first (knowledge_jobs when the reason mentions it). A failure or missing configuration is a warning, never an error: the job stays queued.';

create function app.enqueue_job(queue_name text, job jsonb)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  job_id bigint;
begin
  if queue_name not in ('agent_jobs', 'knowledge_jobs') then
    raise exception 'unknown queue %', queue_name using errcode = '22023';
  end if;
  if job ->> 'tenant_id' is null then
    raise exception 'a job must carry its tenant_id' using errcode = '22023';
  end if;
  select s into job_id from pgmq.send(queue_name, job) s;
  perform app.wake_agent_worker('enqueued:' || queue_name);
  return job_id;
end
$$;
comment on function app.enqueue_job(text, jsonb) is 'Sends a job (which must carry tenant_id) to agent_jobs or knowledge_jobs and wakes the worker for that queue. Internal: called by api functions after their own permission checks.';

-- 2. Uploads -------------------------------------------------------------------------------------

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
  pdf bytea;
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
  if source_kind not in ('text', 'markdown', 'html', 'pdf', 'url') then
    raise exception 'kind must be text, markdown, html, pdf or url' using errcode = '22023';
  end if;
  if source_kind in ('text', 'markdown', 'html') then
    if coalesce(btrim(body), '') = '' then
      raise exception '% knowledge needs content', source_kind using errcode = '22023';
    end if;
    if length(body) > 2000000 then
      raise exception 'content is longer than 2,000,000 characters; split it into several sources' using errcode = '22023';
    end if;
  elsif source_kind = 'pdf' then
    -- The file itself, base64-encoded (whitespace and a data: URL prefix are tolerated).
    body := regexp_replace(regexp_replace(coalesce(body, ''), '^data:[^,]*,', ''), '\s+', '', 'g');
    if body = '' then
      raise exception 'a pdf source needs the file as base64 content' using errcode = '22023';
    end if;
    if length(body) > 14000000 then
      raise exception 'the PDF is larger than 10 MB' using errcode = '22023';
    end if;
    begin
      pdf := decode(body, 'base64');
    exception when others then
      raise exception 'pdf content is not valid base64' using errcode = '22023';
    end;
    if position('\x255044462d'::bytea in substr(pdf, 1, 1024)) = 0 then
      raise exception 'the file is not a PDF' using errcode = '22023';
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
comment on function api.create_knowledge_source(uuid, text, text, text, text, text) is 'Adds a knowledge source: kind text or markdown (content; chunked at once, searchable by full text immediately), html (content), pdf (content = the file in base64, at most 10 MB; text-based PDFs only) or url (uri, fetched by the worker through the guarded HTTP client). language: a text search configuration (english, spanish, …, simple) to index it with; detected from the text when omitted (simple when no configuration fits). Every source is queued on knowledge_jobs, which wakes the worker to extract, chunk and embed it; failures show on the source (status failed, error). 22023 for a bad kind or input. Owners and admins.';

create or replace function api.reprocess_knowledge_source(source_id uuid)
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

-- 3. Recall --------------------------------------------------------------------------------------

-- Load pgvector's library in this session, so that its settings are known when the function
-- below sets one (on a hosted project postgres is no superuser and may not set an unknown one).
select '[0]'::extensions.vector;

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

-- 4. Hand-off DM ---------------------------------------------------------------------------------

create or replace function api.set_handoff_notifications(channel_id uuid, slack_user_ids text[])
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

create or replace function api.list_handoff_slack_targets(tenant_id uuid)
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

-- Grants -----------------------------------------------------------------------------------------

revoke all on function app.wake_agent_worker(text), app.enqueue_job(text, jsonb) from public, anon, authenticated;
grant execute on function app.wake_agent_worker(text), app.enqueue_job(text, jsonb) to service_role;

revoke all on function api.create_knowledge_source(uuid, text, text, text, text, text),
  api.search_knowledge(uuid, text, extensions.vector, integer) from public, anon;
grant execute on function api.create_knowledge_source(uuid, text, text, text, text, text),
  api.search_knowledge(uuid, text, extensions.vector, integer) to authenticated;
grant execute on function api.search_knowledge(uuid, text, extensions.vector, integer) to service_role;

revoke all on function api.reprocess_knowledge_source(uuid), api.set_handoff_notifications(uuid, text[]),
  api.list_handoff_slack_targets(uuid) from public, anon, authenticated;
grant execute on function api.reprocess_knowledge_source(uuid), api.set_handoff_notifications(uuid, text[])
  to authenticated;
grant execute on function api.list_handoff_slack_targets(uuid) to service_role;
