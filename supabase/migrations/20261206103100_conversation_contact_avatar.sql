-- The conversation view's contact panel shows the person's avatar beside their name:
-- app.conversation_json (api.get_conversation and the worker's reads) carries the
-- contact's avatar_url as contact_avatar_url. Same definition otherwise.

-- PL/pgSQL: PostgreSQL 15 and 17 plan a SQL function with `set search_path` on every call.
create or replace function app.conversation_json(conversation_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
  return (
    select jsonb_build_object(
      'id', c.id, 'tenant_id', c.tenant_id, 'connection_id', c.connection_id, 'channel', c.channel,
      'thread_key', c.thread_key, 'contact_id', c.contact_id, 'contact_name', ct.display_name,
      'contact_avatar_url', ct.avatar_url,
      'agent_id', c.agent_id, 'status', c.status, 'assigned_member_id', c.assigned_member_id,
      'escalation_reason', c.escalation_reason, 'last_message_at', c.last_message_at,
      'last_inbound_at', c.last_inbound_at, 'last_message_preview', c.last_message_preview,
      'channel_context', c.channel_context, 'model_failure', c.model_failure, 'is_test', c.is_test,
      'created_at', c.created_at, 'updated_at', c.updated_at)
    from app.conversations c
    left join app.contacts ct on ct.id = c.contact_id
    where c.id = conversation_json.conversation_id);
end
$$;
comment on function app.conversation_json(uuid) is 'A conversation as JSON for the api, with the contact''s display name and avatar (contact_avatar_url).';
