-- Typing indicators, both ways, where the channel has one.
--
-- Web chat: the visitor and the team see each other typing through Realtime broadcast on a
-- private topic per conversation, typing:<conversation id>. Nothing is stored: the clients
-- send the events themselves, and RLS on realtime.messages decides who may join (select)
-- and who may send (insert) on that topic:
-- - a visitor (an anonymous user) only on the topic of its own web chat conversation (a
--   web chat conversation whose thread_key is the visitor's user id);
-- - a member on the conversations of its tenants: every member (and a platform admin)
--   receives, owners and admins (who may reply) send.
-- Slack gives a bot no typing indicator outside assistant threads, so Slack has none.
--
-- WhatsApp: the Cloud API shows "typing…" to the customer when the business marks their
-- message read with a typing_indicator (it lasts up to 25 seconds or until the reply).
-- api.signal_typing queues that, at most once per conversation every 20 seconds, as a
-- whatsapp_typing job for the agent worker, which holds the token; the browser never does.

create function app.conversation_id_from_typing_topic(topic text)
returns uuid
language sql
immutable
set search_path = ''
as $$
  select case
    when topic ~ '^typing:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
      then substr(topic, 8)::uuid
  end
$$;
comment on function app.conversation_id_from_typing_topic(text) is 'The conversation id of a topic `typing:<uuid>`, or null for any other (or malformed) topic; never raises.';
revoke all on function app.conversation_id_from_typing_topic(text) from public, anon;
grant execute on function app.conversation_id_from_typing_topic(text) to authenticated, service_role;

create function app.may_use_typing_topic(topic text, sending boolean)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((
    select case
      when (select auth.jwt() ->> 'is_anonymous') = 'true'
        then c.channel = 'web_chat' and c.thread_key = (select auth.uid())::text
      when sending then app.is_member(c.tenant_id, 'admin')
      else app.can_read(c.tenant_id)
    end
    from app.conversations c
    where c.id = app.conversation_id_from_typing_topic(may_use_typing_topic.topic)
  ), false)
$$;
comment on function app.may_use_typing_topic(text, boolean) is 'Whether the signed-in user may receive (sending false) or send typing events on typing:<conversation id>: the visitor of that web chat conversation, or a member of its tenant (owners and admins to send). Definer so the Realtime policies need no read access to conversations; one primary-key lookup.';
revoke all on function app.may_use_typing_topic(text, boolean) from public, anon;
grant execute on function app.may_use_typing_topic(text, boolean) to authenticated, service_role;

create policy "conversation parties can receive typing" on realtime.messages
  for select to authenticated
  using (
    realtime.messages.topic = (select realtime.topic())
    and realtime.messages.extension = 'broadcast'
    and (select realtime.topic()) like 'typing:%'
    and (select app.may_use_typing_topic((select realtime.topic()), false))
  );

create policy "conversation parties can send typing" on realtime.messages
  for insert to authenticated
  with check (
    realtime.messages.topic = (select realtime.topic())
    and realtime.messages.extension = 'broadcast'
    and (select realtime.topic()) like 'typing:%'
    and (select app.may_use_typing_topic((select realtime.topic()), true))
  );

-- WhatsApp: when each conversation's typing indicator was last queued (the throttle).
create table app.typing_signals (
  conversation_id uuid primary key,
  tenant_id uuid not null,
  signalled_at timestamptz not null,
  foreign key (tenant_id, conversation_id) references app.conversations (tenant_id, id) on delete cascade
);
create index typing_signals_tenant_idx on app.typing_signals (tenant_id);
comment on table app.typing_signals is 'When a WhatsApp typing indicator was last queued for a conversation: one row per conversation, so api.signal_typing queues at most one every 20 seconds however many members type. Written by app.enqueue_whatsapp_typing only.';
alter table app.typing_signals enable row level security;
alter table app.typing_signals force row level security;
grant select, insert, update, delete on app.typing_signals to service_role;

create function app.enqueue_whatsapp_typing(conversation_id uuid)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  conv app.conversations;
  conn app.channel_connections;
  inbound app.messages;
  signalled timestamptz;
begin
  select * into conv from app.conversations c where c.id = enqueue_whatsapp_typing.conversation_id;
  if not found or not app.is_member(conv.tenant_id, 'admin') then
    raise exception 'permission denied' using errcode = '42501';
  end if;
  if conv.channel <> 'whatsapp' then
    return 'channel_has_no_typing';
  end if;
  if conv.status = 'closed' then
    return 'closed';
  end if;
  -- WhatsApp only lets a business answer (and show typing) within 24 hours of the customer's message.
  if conv.last_inbound_at is null or conv.last_inbound_at < now() - interval '24 hours' then
    return 'outside_window';
  end if;
  select * into inbound from app.messages m where m.seq = conv.last_inbound_seq and m.conversation_id = conv.id;
  if not found or inbound.external_id is null then
    return 'no_inbound_message';
  end if;
  select * into conn from app.channel_connections cc where cc.id = conv.connection_id;
  if conn.status <> 'active' or conn.whatsapp_phone_number_id is null then
    return 'channel_inactive';
  end if;
  insert into app.typing_signals as t (conversation_id, tenant_id, signalled_at)
  values (conv.id, conv.tenant_id, now())
  on conflict on constraint typing_signals_pkey do update set signalled_at = excluded.signalled_at
    where t.signalled_at <= excluded.signalled_at - interval '20 seconds'
  returning t.signalled_at into signalled;
  if signalled is null then
    return 'throttled';
  end if;
  perform app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'whatsapp_typing', 'tenant_id', conv.tenant_id,
    'conversation_id', conv.id, 'connection_id', conn.id, 'phone_number_id', conn.whatsapp_phone_number_id,
    'message_external_id', inbound.external_id, 'signalled_at', signalled));
  return 'queued';
end
$$;
comment on function app.enqueue_whatsapp_typing(uuid) is 'Queues a whatsapp_typing job for the conversation''s newest customer message, at most once every 20 seconds per conversation; answers why not otherwise (channel_has_no_typing, closed, outside_window, no_inbound_message, channel_inactive, throttled). Owners and admins. Security definer because only service_role may use pgmq.';
revoke all on function app.enqueue_whatsapp_typing(uuid) from public, anon;
grant execute on function app.enqueue_whatsapp_typing(uuid) to authenticated, service_role;

create function api.signal_typing(conversation_id uuid)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv record;
  outcome text;
begin
  select c.id, c.tenant_id into conv from app.conversations c where c.id = signal_typing.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  perform app.require_role(conv.tenant_id, 'admin');
  outcome := app.enqueue_whatsapp_typing(conv.id);
  return jsonb_build_object('queued', outcome = 'queued', 'outcome', outcome);
end
$$;
comment on function api.signal_typing(uuid) is 'A member is typing a reply: on WhatsApp, queues the customer''s typing indicator (marking their last message read), at most once every 20 seconds per conversation; other channels answer queued false (web chat typing goes over Realtime, Slack has none). Owners and admins.';
revoke all on function api.signal_typing(uuid) from public, anon;
grant execute on function api.signal_typing(uuid) to authenticated;
