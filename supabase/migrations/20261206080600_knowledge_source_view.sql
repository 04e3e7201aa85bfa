-- The portal's source view (issue 15, item 6): an admin or operator reads what a knowledge
-- source became, its passages in order under their section, a page at a time.
--   * keyset paging on (source_id, chunk_index), the chunks' unique key: each page is one
--     index range of one source, whatever the size of the tenant's knowledge;
--   * the source is looked up as the caller (RLS), so another tenant's source is not found
--     (P0002), the same answer as for a source that does not exist; a member of the tenant
--     reads it, a platform admin too (audited by app.require_read);
--   * the source's stored content (up to 10 MB of a PDF in base64) is never read here.

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
