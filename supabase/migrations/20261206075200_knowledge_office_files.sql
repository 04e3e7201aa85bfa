-- Spreadsheets and office files as knowledge: api.create_knowledge_source also takes csv
-- (content: the text, its first row naming the columns), docx and pptx (content: the file in
-- base64, at most 10 MB, checked to be a zip so an old .doc/.ppt or a password-protected
-- file is refused before anything is stored). The worker reads them (shared/agent/
-- csv-passages.ts, docx-text.ts, pptx-text.ts) and cuts them into passages like the others.

alter table app.knowledge_sources drop constraint knowledge_sources_kind_check;
alter table app.knowledge_sources add constraint knowledge_sources_kind_check
  check (kind in ('text', 'markdown', 'html', 'pdf', 'url', 'csv', 'docx', 'pptx'));

create or replace function api.create_knowledge_source(tenant_id uuid, title text, content text default null,
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
