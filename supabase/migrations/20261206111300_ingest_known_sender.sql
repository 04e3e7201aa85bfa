-- api.ingest_message reads the sender's identity once when they wrote before.
--
-- Profiled on a native PostgreSQL 15 (pg_stat_statements with track = all): a message from
-- someone who wrote before (most messages: a customer's second message, every message in a
-- busy Slack channel) ran the contact insert, whose NOT EXISTS read the identity and inserted
-- nothing, then read the identity again for its contact. Now the identity is read first, and
-- only someone new gets the insert of a contact and an identity; a concurrent delivery that
-- stored the same person first is handled as before (the identity insert does nothing, the
-- new contact is deleted, theirs is read). The display name fills a contact's empty one as
-- before. Everything else is 20261206101300_ingest_writes_once's definition.

create or replace function api.ingest_message(
  connection_id uuid,
  external_id text,
  thread_key text,
  external_user_id text,
  text text default null,
  user_display_name text default null,
  attachments jsonb default '[]'::jsonb,
  channel_context jsonb default '{}'::jsonb,
  metadata jsonb default '{}'::jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conn record;
  existing record;
  contact uuid;
  -- The sender's identity was stored before this message (or by a concurrent delivery).
  known boolean := false;
  conv record;
  new_message_id uuid;
  message_at timestamptz;
  message_seq bigint;
  preview text := left(coalesce(ingest_message.text, '[attachment]'), 200);
  -- A new conversation inserted here with this message (with text) as its last.
  fresh boolean := false;
  answer jsonb;
  thread_context jsonb;
begin
  if coalesce(ingest_message.external_id, '') = '' or coalesce(ingest_message.thread_key, '') = ''
     or coalesce(ingest_message.external_user_id, '') = '' then
    raise exception 'external_id, thread_key and external_user_id are required' using errcode = '22023';
  end if;
  select c.id, c.tenant_id, c.kind, c.status, c.agent_id into conn
  from app.channel_connections c where c.id = ingest_message.connection_id;
  if not found then
    raise exception 'connection not found' using errcode = 'P0002';
  end if;
  if conn.status <> 'active' then
    raise exception 'connection is disabled' using errcode = 'KO005';
  end if;

  -- 1. A retried delivery of a message already stored is a no-op.
  select m.id, m.conversation_id into existing
  from app.messages m where m.connection_id = conn.id and m.external_id = ingest_message.external_id;
  if found then
    return jsonb_build_object('message_id', existing.id, 'conversation_id', existing.conversation_id,
      'tenant_id', conn.tenant_id, 'duplicate', true, 'enqueued', false, 'job_id', null,
      'conversation_status', (select c.status from app.conversations c where c.id = existing.conversation_id));
  end if;

  -- 2. The person: one contact per tenant, an identity per channel. Someone who wrote before
  --    (most messages) is found by one read of their identity; a new one gets a contact and
  --    an identity, unless a concurrent delivery from them created theirs first.
  select i.contact_id into contact from app.contact_identities i
  where i.tenant_id = conn.tenant_id and i.channel = conn.kind and i.external_user_id = ingest_message.external_user_id;
  if not found then
    insert into app.contacts (tenant_id, display_name)
    values (conn.tenant_id, ingest_message.user_display_name)
    returning id into contact;
    insert into app.contact_identities (tenant_id, contact_id, channel, external_user_id, display_name)
    values (conn.tenant_id, contact, conn.kind, ingest_message.external_user_id, ingest_message.user_display_name)
    on conflict on constraint contact_identities_tenant_id_channel_external_user_id_key do nothing;
    if not found then
      delete from app.contacts c where c.id = contact;
      select i.contact_id into contact from app.contact_identities i
      where i.tenant_id = conn.tenant_id and i.channel = conn.kind and i.external_user_id = ingest_message.external_user_id;
      known := true;
    end if;
  else
    known := true;
  end if;
  if known and ingest_message.user_display_name is not null then
    update app.contacts c set display_name = ingest_message.user_display_name
    where c.id = contact and c.display_name is null;
  end if;

  -- 3. The conversation of this thread, locked as the message's own update of it would lock
  --    it (app.bump_conversation), so a concurrent close is seen. Written here only when it
  --    is new or something changes (a closed one reopens, a missing agent or contact, new
  --    channel context): the common case writes it once, in app.bump_conversation. A new
  --    one is inserted with this message as its last (its time and seq taken here), and the
  --    message's trigger does not write it a second time (konstruct.conversation_written).
  --    A new one is a test when its web chat visitor is a member's verified test chat.
  thread_context := coalesce(ingest_message.channel_context, '{}'::jsonb);
  select c.id, c.status, c.agent_id, c.contact_id, c.channel_context, c.is_test into conv
  from app.conversations c
  where c.connection_id = conn.id and c.thread_key = ingest_message.thread_key
  for no key update;
  if not found then
    message_seq := nextval('app.messages_seq_seq'::regclass);
    message_at := clock_timestamp();
    insert into app.conversations as c (tenant_id, connection_id, channel, thread_key, contact_id, agent_id,
      channel_context, is_test, last_message_at, last_inbound_at, last_message_preview, last_inbound_seq)
    values (conn.tenant_id, conn.id, conn.kind, ingest_message.thread_key, contact, conn.agent_id, thread_context,
      conn.kind = 'web_chat' and exists (select 1 from app.test_chat_visitors v
        where v.connection_id = conn.id and v.visitor_id = ingest_message.external_user_id),
      message_at, message_at, preview, message_seq)
    on conflict on constraint conversations_connection_id_thread_key_key do nothing
    returning c.id, c.status, c.agent_id, c.contact_id, c.channel_context, c.is_test into conv;
    fresh := found and coalesce(ingest_message.text, '') <> '';
    if not found then
      -- Another delivery of this thread created it first.
      select c.id, c.status, c.agent_id, c.contact_id, c.channel_context, c.is_test into conv
      from app.conversations c
      where c.connection_id = conn.id and c.thread_key = ingest_message.thread_key
      for no key update;
    end if;
  end if;
  if conv.status = 'closed' or (conv.agent_id is null and conn.agent_id is not null)
     or (conv.contact_id is null and contact is not null) or not conv.channel_context @> thread_context then
    update app.conversations c set
      status = case when c.status = 'closed' then 'open' else c.status end,
      agent_id = coalesce(c.agent_id, conn.agent_id),
      contact_id = coalesce(c.contact_id, contact),
      channel_context = c.channel_context || thread_context
    where c.id = conv.id
    returning c.id, c.status, c.agent_id, c.contact_id, c.channel_context, c.is_test into conv;
  end if;

  -- 4. The message, idempotent by (connection, external id) even under concurrency; its seq
  --    and time taken after its conversation is locked (or with the new one), so a thread's
  --    messages keep the order in which they were stored.
  if message_seq is null then
    message_seq := nextval('app.messages_seq_seq'::regclass);
    message_at := clock_timestamp();
  end if;
  if fresh then
    perform set_config('konstruct.conversation_written', conv.id::text, true);
  end if;
  insert into app.messages (seq, created_at, tenant_id, conversation_id, connection_id, direction, author_kind,
    author_contact_id, text, attachments, external_id, delivery_status, metadata)
  overriding system value
  values (message_seq, message_at, conn.tenant_id, conv.id, conn.id, 'in', 'contact', contact, ingest_message.text,
    coalesce(ingest_message.attachments, '[]'::jsonb), ingest_message.external_id, 'received',
    coalesce(ingest_message.metadata, '{}'::jsonb))
  on conflict on constraint messages_connection_external_id_key do nothing
  returning id into new_message_id;
  if fresh then
    -- Any later message of this transaction (a notice, another ingest) is bumped as usual.
    perform set_config('konstruct.conversation_written', '', true);
  end if;
  if new_message_id is null then
    select m.id into new_message_id from app.messages m
    where m.connection_id = conn.id and m.external_id = ingest_message.external_id;
    return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'tenant_id', conn.tenant_id,
      'duplicate', true, 'enqueued', false, 'job_id', null, 'conversation_status', conv.status);
  end if;

  -- 5. Whether and how the agent answers: rate limit, billing, reply job (app.answer_inbound).
  answer := app.answer_inbound(conn.tenant_id, conv.id, conv.status, conv.agent_id, contact, new_message_id,
    message_at, conv.is_test);

  return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'tenant_id', conn.tenant_id,
    'contact_id', contact, 'duplicate', false, 'enqueued', answer ->> 'job_id' is not null,
    'job_id', (answer ->> 'job_id')::bigint, 'conversation_status', conv.status,
    'billing_refusal', answer ->> 'billing_refusal', 'rate_limited', answer ->> 'rate_limited',
    'notice_message_id', answer ->> 'notice_message_id');
end
$$;
