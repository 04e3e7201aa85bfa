-- What the channel edge functions (slack-events, slack-oauth, slack-interactions,
-- whatsapp-webhook, web-chat) and the outbound delivery code need beyond the service api.
--
-- * Slack install state: the nonce of every "Add to Slack" state is stored when the
--   install starts and consumed once by the callback (single use, bound to the tenant
--   and the admin who started it, short-lived).
-- * Conversations by thread: a Slack thread reply is for the agent only when the agent
--   already speaks in that thread; web chat history is read by (connection, visitor).
-- * Outbound delivery progress: what part of a reply was already posted (Slack ts,
--   WhatsApp wamid, the "thinking" placeholder), so a retried worker never posts twice.
-- * "Talk to a human" buttons: escalate the conversation of the clicked thread. (Confirm /
--   cancel buttons need nothing here: the click is ingested as the user's answer,
--   `confirm:<tool_call_id>`, which the agent worker reads as it reads a typed "yes".)
-- * Web chat realtime: replies are broadcast on `webchat:<visitor_id>`. A visitor is an
--   anonymous Supabase user (the widget's signInAnonymously()) and its visitor id is its
--   user id, so only that anonymous user may receive them.
-- Every api function here is granted to service_role only.

-- Slack install state ------------------------------------------------------------------------

create table app.slack_oauth_states (
  nonce text primary key check (length(nonce) between 16 and 200),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index slack_oauth_states_tenant_id_idx on app.slack_oauth_states (tenant_id);
create index slack_oauth_states_expires_at_idx on app.slack_oauth_states (expires_at);
comment on table app.slack_oauth_states is 'The nonce of each Slack "Add to Slack" OAuth state: who (tenant, admin) started the install, until when it is valid, and when the callback used it (single use). Service role only.';

alter table app.slack_oauth_states enable row level security;
alter table app.slack_oauth_states force row level security;
-- No policy for authenticated: the portal never reads install states.
grant select, insert, update, delete on app.slack_oauth_states to service_role;

create function api.begin_slack_install(tenant_id uuid, user_id uuid, nonce text, expires_at timestamptz)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
  if not exists (
    select 1 from app.memberships m
    where m.tenant_id = begin_slack_install.tenant_id and m.user_id = begin_slack_install.user_id
      and app.role_rank(m.role) >= app.role_rank('admin')
  ) then
    raise exception 'only an owner or admin of the tenant can install Slack' using errcode = '42501';
  end if;
  if begin_slack_install.expires_at <= now() or begin_slack_install.expires_at > now() + interval '1 hour' then
    raise exception 'an install state must expire within the hour' using errcode = '22023';
  end if;
  -- Old states are useless; keep the table small.
  delete from app.slack_oauth_states s where s.expires_at < now() - interval '1 day';
  insert into app.slack_oauth_states (nonce, tenant_id, user_id, expires_at)
  values (begin_slack_install.nonce, begin_slack_install.tenant_id, begin_slack_install.user_id,
    begin_slack_install.expires_at);
  return jsonb_build_object('nonce', begin_slack_install.nonce, 'tenant_id', begin_slack_install.tenant_id,
    'expires_at', begin_slack_install.expires_at);
end
$$;
comment on function api.begin_slack_install(uuid, uuid, text, timestamptz) is 'Records the nonce of a signed Slack install state for a tenant and the admin who started it (42501 unless the user is an owner or admin; must expire within the hour). service_role.';

create function api.consume_slack_install(nonce text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  state app.slack_oauth_states;
begin
  select * into state from app.slack_oauth_states s where s.nonce = consume_slack_install.nonce for update;
  if not found then
    raise exception 'unknown install state' using errcode = 'P0002';
  end if;
  if state.used_at is not null then
    raise exception 'install state already used' using errcode = 'KO006';
  end if;
  if state.expires_at <= now() then
    raise exception 'install state expired' using errcode = 'KO006';
  end if;
  update app.slack_oauth_states s set used_at = now() where s.nonce = state.nonce;
  -- The admin may have lost the role since the install started.
  if not exists (
    select 1 from app.memberships m
    where m.tenant_id = state.tenant_id and m.user_id = state.user_id and app.role_rank(m.role) >= app.role_rank('admin')
  ) then
    raise exception 'the user who started the install is no longer an admin of the tenant' using errcode = '42501';
  end if;
  return jsonb_build_object('tenant_id', state.tenant_id, 'user_id', state.user_id);
end
$$;
comment on function api.consume_slack_install(text) is 'Uses a Slack install state once: returns {tenant_id, user_id}; unknown P0002, used or expired KO006, the starter no longer admin 42501 (the state is spent either way). service_role.';

-- Conversations by thread -------------------------------------------------------------------

create function api.find_conversation(connection_id uuid, thread_key text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('conversation_id', c.id, 'tenant_id', c.tenant_id, 'status', c.status,
    'agent_id', c.agent_id, 'channel_context', c.channel_context)
  from app.conversations c
  where c.connection_id = find_conversation.connection_id and c.thread_key = find_conversation.thread_key
$$;
comment on function api.find_conversation(uuid, text) is 'The conversation of a thread on a connection (e.g. a Slack thread the agent already speaks in), or null. service_role.';

create function api.web_chat_history(connection_id uuid, visitor_id text, after_seq bigint default null,
  page_size integer default 50)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'conversation_id', c.id,
    'status', c.status,
    'messages', coalesce((
      select jsonb_agg(jsonb_build_object('id', m.id, 'seq', m.seq, 'direction', m.direction,
          'author_kind', m.author_kind, 'text', m.text, 'created_at', m.created_at) order by m.seq)
      from (
        select * from app.messages m
        where m.conversation_id = c.id and m.seq > coalesce(web_chat_history.after_seq, 0)
          and m.delivery_status <> 'undeliverable'
        order by m.seq desc
        limit least(greatest(coalesce(web_chat_history.page_size, 50), 1), 200)
      ) m), '[]'::jsonb))
  from app.conversations c
  join app.channel_connections cc on cc.id = c.connection_id and cc.kind = 'web_chat'
  where c.connection_id = web_chat_history.connection_id and c.thread_key = web_chat_history.visitor_id
$$;
comment on function api.web_chat_history(uuid, text, bigint, integer) is 'The latest messages (oldest first, at most 200, after after_seq) of one web chat visitor''s conversation, with only what the widget shows: no internal ids, metadata or delivery errors; null when the visitor has not written yet. service_role.';

-- Outbound delivery progress ------------------------------------------------------------------

create function api.get_outbound_delivery(tenant_id uuid, message_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  msg app.messages;
  conv app.conversations;
begin
  select * into msg from app.messages m where m.id = get_outbound_delivery.message_id;
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;
  if msg.tenant_id <> get_outbound_delivery.tenant_id then
    raise exception 'message does not belong to tenant' using errcode = '42501';
  end if;
  select * into conv from app.conversations c where c.id = msg.conversation_id;
  return jsonb_build_object('message_id', msg.id, 'conversation_id', msg.conversation_id,
    'connection_id', msg.connection_id, 'direction', msg.direction, 'text', msg.text,
    'delivery_status', msg.delivery_status, 'external_id', msg.external_id,
    'delivery', coalesce(msg.metadata -> 'delivery', '{}'::jsonb),
    'channel', conv.channel, 'thread_key', conv.thread_key, 'channel_context', conv.channel_context,
    'last_inbound_at', conv.last_inbound_at,
    'connection_settings', (select cc.settings from app.channel_connections cc where cc.id = msg.connection_id));
end
$$;
comment on function api.get_outbound_delivery(uuid, uuid) is 'What a sender needs to deliver (or resume delivering) a message: its text, delivery status, external id, recorded progress (metadata.delivery), the conversation''s channel context and last inbound time (WhatsApp 24-hour window), the connection''s settings. 42501 for another tenant''s message. service_role.';

create function api.record_delivery_progress(tenant_id uuid, message_id uuid, progress jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  msg app.messages;
  merged jsonb;
begin
  if jsonb_typeof(record_delivery_progress.progress) is distinct from 'object' then
    raise exception 'progress must be an object' using errcode = '22023';
  end if;
  select * into msg from app.messages m where m.id = record_delivery_progress.message_id for update;
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;
  if msg.tenant_id <> record_delivery_progress.tenant_id then
    raise exception 'message does not belong to tenant' using errcode = '42501';
  end if;
  merged := coalesce(msg.metadata -> 'delivery', '{}'::jsonb) || record_delivery_progress.progress;
  update app.messages m set metadata = m.metadata || jsonb_build_object('delivery', merged) where m.id = msg.id;
  return merged;
end
$$;
comment on function api.record_delivery_progress(uuid, uuid, jsonb) is 'Merges keys into a message''s metadata.delivery (e.g. the Slack ts of each posted part, the thinking placeholder, the WhatsApp wamid of each part) right after each channel call, so a retried delivery resumes instead of posting again. service_role.';

-- Talk to a human -----------------------------------------------------------------------------------------

create function api.escalate_channel_thread(connection_id uuid, thread_key text, reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations;
begin
  select * into conv from app.conversations c
  where c.connection_id = escalate_channel_thread.connection_id and c.thread_key = escalate_channel_thread.thread_key;
  if not found then
    return null;
  end if;
  return api.escalate_conversation(conv.tenant_id, conv.id, escalate_channel_thread.reason);
end
$$;
comment on function api.escalate_channel_thread(uuid, text, text) is 'Hands the conversation of a thread on a connection to the humans ("talk to a human" button): see escalate_conversation; null when the thread has no conversation. service_role.';

-- Web chat realtime -------------------------------------------------------------------------------

create function app.broadcast_web_chat_message()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  visitor text;
begin
  if tg_op = 'UPDATE' and new.text is not distinct from old.text
     and new.delivery_status is not distinct from old.delivery_status then
    return null;
  end if;
  select c.thread_key into visitor from app.conversations c where c.id = new.conversation_id and c.channel = 'web_chat';
  if visitor is null or new.delivery_status = 'undeliverable' then
    return null;
  end if;
  -- Only what the widget shows: never metadata, agent or member ids, or delivery errors.
  perform realtime.send(
    jsonb_build_object('id', new.id, 'seq', new.seq, 'direction', new.direction, 'author_kind', new.author_kind,
      'text', new.text, 'created_at', new.created_at),
    case tg_op when 'INSERT' then 'message_created' else 'message_updated' end,
    'webchat:' || visitor,
    true
  );
  return null;
end
$$;
comment on function app.broadcast_web_chat_message() is 'After-row trigger on messages: broadcasts web chat messages (what the widget shows) to the private topic webchat:<visitor_id> of the visitor''s conversation.';
create trigger messages_broadcast_web_chat after insert or update on app.messages
  for each row execute function app.broadcast_web_chat_message();

-- A visitor is an anonymous user (is_anonymous in its session) whose id names its topic:
-- it reads webchat:<its own id> and nothing else; the publishable key alone, signed-in
-- members and other visitors read nothing there.
create policy "web chat visitors can receive their own conversation's broadcasts" on realtime.messages
  for select to authenticated
  using (
    (select auth.jwt() ->> 'is_anonymous') = 'true'
    and (select realtime.topic()) = 'webchat:' || (select auth.uid())::text
  );

-- Grants -------------------------------------------------------------------------------------------

revoke all on function api.begin_slack_install(uuid, uuid, text, timestamptz), api.consume_slack_install(text),
  api.find_conversation(uuid, text), api.web_chat_history(uuid, text, bigint, integer),
  api.get_outbound_delivery(uuid, uuid), api.record_delivery_progress(uuid, uuid, jsonb),
  api.escalate_channel_thread(uuid, text, text)
  from public, anon, authenticated;
revoke all on function app.broadcast_web_chat_message() from public, anon, authenticated;
grant execute on function api.begin_slack_install(uuid, uuid, text, timestamptz), api.consume_slack_install(text),
  api.find_conversation(uuid, text), api.web_chat_history(uuid, text, bigint, integer),
  api.get_outbound_delivery(uuid, uuid), api.record_delivery_progress(uuid, uuid, jsonb),
  api.escalate_channel_thread(uuid, text, text)
  to service_role;
