-- Portal follow-ups: tool calls in the conversation view, live knowledge source status,
-- and the tenant's own LLM key from the settings page.
--
-- 1. api.list_tool_calls(conversation_id): the tool calls of a conversation for any member
--    (read-only, like api.list_messages: P0002 for an unknown or invisible conversation,
--    42501 for a non-member, platform admins audited).
-- 2. knowledge_source_changed: an after-row trigger on app.knowledge_sources broadcasts a
--    source's status (never its content) to tenant:<tenant_id>, so the knowledge page
--    follows uploads live instead of polling. Same RLS on realtime.messages as the other
--    tenant events: only members (and platform admins) receive it.
-- 3. api.set_tenant_llm_key(tenant_id, api_key): api.set_llm_key is service_role only and
--    has no way to clear a key; owners and admins set, replace or clear (null or empty)
--    the tenant's own key from the portal. Write-only: nothing returns the key.

-- 1. Tool calls ---------------------------------------------------------------------------------

create function api.list_tool_calls(conversation_id uuid)
returns table (id uuid, message_id uuid, agent_id uuid, tool_name text, arguments jsonb, status text, result jsonb,
  error text, created_at timestamptz, completed_at timestamptz)
language plpgsql
stable
set search_path = ''
as $$
declare
  conversation_tenant uuid;
begin
  select c.tenant_id into conversation_tenant from app.conversations c where c.id = list_tool_calls.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_read(conversation_tenant, 'tool_calls');
  return query
    select p.id, p.message_id, p.agent_id, p.tool_name, p.arguments, p.status, p.result, p.error, p.created_at,
      p.completed_at
    from (
      select t.* from app.tool_calls t
      where t.conversation_id = list_tool_calls.conversation_id
      order by t.created_at desc, t.id desc
      limit 500
    ) p
    order by p.created_at, p.id;
end
$$;
comment on function api.list_tool_calls(uuid) is 'The tool calls of a conversation (the newest 500, oldest first): tool name, arguments, status (requested, awaiting_confirmation, confirmed, cancelled, succeeded, failed, refused), result, error, the message it answered and when. Read-only. Any member; platform admins (audited).';

-- 2. knowledge_source_changed --------------------------------------------------------------------

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

create trigger knowledge_sources_broadcast after insert or update or delete on app.knowledge_sources
  for each row execute function app.broadcast_knowledge_source();

-- 3. The tenant's own LLM key --------------------------------------------------------------------

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

-- Grants -----------------------------------------------------------------------------------------

revoke all on function app.broadcast_knowledge_source() from public, anon, authenticated;
revoke all on function api.list_tool_calls(uuid), api.set_tenant_llm_key(uuid, text) from public, anon, authenticated;
grant execute on function api.list_tool_calls(uuid), api.set_tenant_llm_key(uuid, text) to authenticated;
