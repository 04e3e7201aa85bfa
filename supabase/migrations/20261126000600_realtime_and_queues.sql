-- Realtime broadcast to members, the job queues, and waking the agent worker.
--
-- Realtime: private topics `tenant:<tenant_id>`; RLS on realtime.messages lets only
-- members (and platform admins) receive them. Triggers on messages and conversations
-- broadcast message_created / message_updated / conversation_changed.
--
-- Queues (pgmq): agent_jobs (answer an inbound message, deliver a member's reply) and
-- knowledge_jobs (chunk and embed a knowledge source). After a job is enqueued
-- (app.enqueue_job), app.wake_agent_worker() posts to agent-worker through pg_net (sent
-- after commit), once per transaction, signed with the worker secret from Vault (see
-- app.wake_function in 20261126000900_configure_functions.sql); both are defined in
-- 20261126004000_knowledge_ingestion_and_handoff_dm.sql. A pg_cron job is the safety net
-- (20261126001500_agent_worker.sql): it wakes the worker only if a job is waiting.

-- Realtime authorization -----------------------------------------------------------------

create function app.tenant_id_from_topic(topic text)
returns uuid
language sql
immutable
set search_path = ''
as $$
  select case
    when topic ~ '^tenant:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
      then substr(topic, 8)::uuid
  end
$$;
comment on function app.tenant_id_from_topic(text) is 'The tenant id of a topic `tenant:<uuid>`, or null for any other (or malformed) topic; never raises.';

create policy "members can receive their tenant's broadcasts" on realtime.messages
  for select to authenticated
  using (
    realtime.messages.topic = (select realtime.topic())
    and (select realtime.topic()) like 'tenant:%'
    and coalesce(app.can_read(app.tenant_id_from_topic((select realtime.topic()))), false)
  );

create function app.broadcast_message()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.delivery_status is not distinct from old.delivery_status
     and new.text is not distinct from old.text and new.external_id is not distinct from old.external_id then
    return null;
  end if;
  perform realtime.send(
    jsonb_build_object(
      'id', new.id, 'seq', new.seq, 'tenant_id', new.tenant_id, 'conversation_id', new.conversation_id,
      'connection_id', new.connection_id, 'direction', new.direction, 'author_kind', new.author_kind,
      'author_member_id', new.author_member_id, 'agent_id', new.agent_id, 'text', new.text,
      'attachments', new.attachments, 'delivery_status', new.delivery_status, 'created_at', new.created_at
    ),
    case tg_op when 'INSERT' then 'message_created' else 'message_updated' end,
    'tenant:' || new.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_message() is 'After-row trigger on messages: broadcasts message_created / message_updated (delivery status, text) to tenant:<tenant_id>.';

create function app.broadcast_conversation()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform realtime.send(
    jsonb_build_object(
      'id', new.id, 'tenant_id', new.tenant_id, 'connection_id', new.connection_id, 'channel', new.channel,
      'contact_id', new.contact_id,
      'contact_name', (select c.display_name from app.contacts c where c.id = new.contact_id),
      'agent_id', new.agent_id, 'status', new.status, 'assigned_member_id', new.assigned_member_id,
      'escalation_reason', new.escalation_reason, 'last_message_at', new.last_message_at,
      'last_message_preview', new.last_message_preview, 'model_failure', new.model_failure,
      'is_test', new.is_test, 'created_at', new.created_at, 'operation', lower(tg_op)
    ),
    'conversation_changed',
    'tenant:' || new.tenant_id::text,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_conversation() is 'After-row trigger on conversations: broadcasts conversation_changed (status, assignment, last message) to tenant:<tenant_id>.';

create trigger messages_broadcast after insert or update on app.messages
  for each row execute function app.broadcast_message();
create trigger conversations_broadcast after insert or update on app.conversations
  for each row execute function app.broadcast_conversation();

-- Queues -------------------------------------------------------------------------------

select pgmq.create('agent_jobs');
select pgmq.create('knowledge_jobs');
grant usage on schema pgmq to service_role;
grant select, insert, update, delete on pgmq.q_agent_jobs, pgmq.a_agent_jobs, pgmq.q_knowledge_jobs, pgmq.a_knowledge_jobs
  to service_role;

revoke all on function app.tenant_id_from_topic(text) from public, anon;
revoke all on function app.broadcast_message() from public, anon, authenticated;
revoke all on function app.broadcast_conversation() from public, anon, authenticated;
grant execute on function app.tenant_id_from_topic(text) to authenticated, service_role;
