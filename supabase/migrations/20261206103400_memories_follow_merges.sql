-- What an agent remembers follows a merged contact.
--
-- The agent worker reads a conversation's contact, asks the model what to remember and
-- then saves it (api.save_memory): seconds in which an admin may merge that contact into
-- another (api.merge_contacts). The memory would then land on the merged contact, which no
-- page shows. api.save_memory now stores it on the contact it was merged into. Same checks
-- and answer otherwise.

create or replace function api.save_memory(tenant_id uuid, contact_id uuid, agent_id uuid, content text,
  embedding extensions.vector default null, source_conversation_id uuid default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid;
  owner_contact uuid;
begin
  select coalesce(c.merged_into, c.id) into owner_contact from app.contacts c
  where c.id = save_memory.contact_id and c.tenant_id = save_memory.tenant_id;
  if owner_contact is null
     or not exists (select 1 from app.agents a where a.id = save_memory.agent_id and a.tenant_id = save_memory.tenant_id) then
    raise exception 'contact or agent does not belong to tenant' using errcode = '42501';
  end if;
  insert into app.memories (tenant_id, contact_id, agent_id, content, embedding, source_conversation_id)
  values (save_memory.tenant_id, owner_contact, save_memory.agent_id, btrim(save_memory.content),
    save_memory.embedding, save_memory.source_conversation_id)
  on conflict on constraint memories_contact_id_agent_id_content_hash_key do update
    set embedding = coalesce(excluded.embedding, app.memories.embedding)
  returning id into new_id;
  return jsonb_build_object('memory_id', new_id);
end
$$;
