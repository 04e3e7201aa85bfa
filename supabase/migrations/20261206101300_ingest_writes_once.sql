-- api.ingest_message writes a new conversation once, and looks up nothing it already knows.
--
-- Profiled (pg_stat_user_tables per ingest on a native PostgreSQL 15): every inbound message
-- that opened a conversation inserted it, then its message's trigger (app.bump_conversation)
-- updated it at once with the message as its last: a second row version with entries in all
-- nine indexes of app.conversations (the update changes indexed columns, so never HOT) and a
-- second conversation_changed broadcast. That is every Slack mention in a new thread and
-- every first message of a WhatsApp customer or web chat visitor.
--
-- api.ingest_message now takes the message's seq (from its identity sequence) and time before
-- it inserts a new conversation, inserts the conversation with that message as its last, and
-- then the message with that seq and time (overriding system value). While it inserts that
-- message it names the conversation in the transaction-local setting
-- konstruct.conversation_written, and the messages_bump_conversation trigger fires only for
-- a message whose conversation is not named there (a WHEN condition: app.bump_conversation
-- itself is unchanged). Only a message with text takes this path: its preview is its text
-- under every definition of app.bump_conversation; one with attachments only is bumped as
-- before. In an existing conversation the seq and time are taken after the conversation is
-- locked, as the insert's own default did, so a thread's messages keep their order.
--
-- Profiled on a native PostgreSQL 15 (pg_stat_statements with track = all, track_functions,
-- bench:sql's ingest_message script): app.answer_inbound read the message it was handed
-- back, joined to its conversation, for two values ingest had just written or read (the
-- message's created_at, the conversation's is_test); one of the larger statements per
-- message. ingest now reads is_test with the conversation it locks and knows the message's
-- time (it sets it, above), and hands both to app.answer_inbound, which gains the two
-- parameters (the old signature is dropped: ingest was its only caller) and counts an
-- admitted message in a slot of its month (app.add_tenant_usage, 20261206101000).
--
-- It reads the sender's identity once when they wrote before. Profiled the same way: a message from
-- someone who wrote before (most messages: a customer's second message, every message in a
-- busy Slack channel) ran the contact insert, whose NOT EXISTS read the identity and inserted
-- nothing, then read the identity again for its contact. Now the identity is read first, and
-- only someone new gets the insert of a contact and an identity; a concurrent delivery that
-- stored the same person first is handled as before (the identity insert does nothing, the
-- new contact is deleted, theirs is read). The display name fills a contact's empty one as
-- before.

drop function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid);

create function app.answer_inbound(tenant_id uuid, conversation_id uuid, conversation_status text, agent_id uuid,
  contact_id uuid, message_id uuid, message_at timestamptz, test boolean)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  job_id bigint;
  refusal jsonb;
  notice jsonb;
  rate jsonb;
  claimed jsonb;
  reply_job bigint;
  plan_messages bigint;
begin
  -- Every new inbound message counts toward the short-term limits, answered or not.
  rate := app.count_inbound(answer_inbound.tenant_id, answer_inbound.contact_id);

  -- Toward the plan only what the rate limit admitted, and never a test conversation's: the
  -- tenant's month, added to in this transaction (app.add_tenant_usage).
  if (rate ->> 'limited')::boolean then
    insert into app.rate_limited_messages (message_id, tenant_id, rate_limit, window_start)
    values (answer_inbound.message_id, answer_inbound.tenant_id, rate ->> 'limit', (rate ->> 'window_start')::timestamptz)
    on conflict on constraint rate_limited_messages_pkey do nothing;
  elsif not answer_inbound.test then
    plan_messages := app.add_tenant_usage(answer_inbound.tenant_id, app.usage_period(answer_inbound.message_at), 1);
  end if;

  -- The agent answers only conversations it handles, only while it is active, only under
  -- the short-term rate limit, and only as far as the tenant's plan allows (billing).
  if answer_inbound.conversation_status = 'open' and answer_inbound.agent_id is not null
     and exists (select 1 from app.agents a where a.id = answer_inbound.agent_id and a.status = 'active') then
    refusal := app.billing_refusal(answer_inbound.tenant_id);
    if refusal ->> 'reason' = 'paused' then
      perform app.alert_once(answer_inbound.tenant_id, 'agents_paused', now() - interval '1 day',
        jsonb_build_object('reason', refusal ->> 'pause_reason', 'conversation_id', answer_inbound.conversation_id));
    elsif (rate ->> 'limited')::boolean then
      claimed := app.claim_rate_limit_effects(answer_inbound.tenant_id, answer_inbound.contact_id,
        (rate ->> 'window_start')::timestamptz);
      if (claimed ->> 'notify')::boolean then
        notice := api.record_reply(answer_inbound.tenant_id, answer_inbound.conversation_id, app.rate_limit_text(),
          'rate_limit:' || answer_inbound.contact_id::text || ':' || extract(epoch from (rate ->> 'window_start')::timestamptz)::bigint::text,
          answer_inbound.agent_id, '[]'::jsonb,
          jsonb_build_object('mode', 'rate_limit', 'limit', rate ->> 'limit', 'in_reply_to', answer_inbound.message_id,
            'window_start', rate -> 'window_start'),
          'system');
        perform app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'deliver', 'tenant_id', answer_inbound.tenant_id,
          'conversation_id', answer_inbound.conversation_id, 'message_id', notice ->> 'message_id'));
      end if;
      if (claimed ->> 'alert')::boolean then
        perform app.alert_once(answer_inbound.tenant_id, 'inbound_rate_limited', (rate ->> 'window_start')::timestamptz,
          jsonb_build_object('limit', rate ->> 'limit', 'window_start', rate -> 'window_start',
            'window_seconds', rate -> 'window_seconds', 'tenant_messages', rate -> 'tenant_messages',
            'tenant_limit', rate -> 'tenant_limit', 'sender_messages', rate -> 'sender_messages',
            'sender_limit', rate -> 'sender_limit', 'contact_id', answer_inbound.contact_id,
            'conversation_id', answer_inbound.conversation_id));
      end if;
    elsif refusal ->> 'reason' = 'suspended' then
      -- The tenant is suspended (its admins were told then): a polite notice, no alert.
      notice := api.record_reply(answer_inbound.tenant_id, answer_inbound.conversation_id, refusal ->> 'message',
        'suspended:' || answer_inbound.message_id::text, answer_inbound.agent_id, '[]'::jsonb,
        jsonb_build_object('mode', 'suspended', 'in_reply_to', answer_inbound.message_id), 'system');
      perform app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'deliver', 'tenant_id', answer_inbound.tenant_id,
        'conversation_id', answer_inbound.conversation_id, 'message_id', notice ->> 'message_id'));
    elsif refusal is null then
      job_id := app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'reply', 'tenant_id', answer_inbound.tenant_id,
        'conversation_id', answer_inbound.conversation_id, 'message_id', answer_inbound.message_id,
        'agent_id', answer_inbound.agent_id));
      -- This message will be answered: earlier reply jobs of the conversation may defer to it.
      reply_job := job_id;
      insert into app.reply_jobs (message_id, tenant_id, job_id, plan_messages)
      values (answer_inbound.message_id, answer_inbound.tenant_id, reply_job, plan_messages)
      on conflict on constraint reply_jobs_pkey do nothing;
    else
      notice := api.record_reply(answer_inbound.tenant_id, answer_inbound.conversation_id, refusal ->> 'message',
        'plan_limit:' || answer_inbound.message_id::text, answer_inbound.agent_id, '[]'::jsonb,
        jsonb_build_object('mode', 'plan_limit', 'limit', refusal ->> 'reason', 'in_reply_to', answer_inbound.message_id),
        'system');
      perform app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'deliver', 'tenant_id', answer_inbound.tenant_id,
        'conversation_id', answer_inbound.conversation_id, 'message_id', notice ->> 'message_id'));
      perform app.alert_once(answer_inbound.tenant_id, 'plan_limit_reached', date_trunc('month', now()),
        jsonb_build_object('limit', refusal ->> 'reason', 'used', refusal -> 'used', 'allowed', refusal -> 'limit',
          'plan_key', refusal ->> 'plan_key'));
    end if;
  end if;

  return jsonb_build_object('job_id', job_id, 'billing_refusal', refusal ->> 'reason',
    'rate_limited', case when (rate ->> 'limited')::boolean then rate ->> 'limit' end,
    'notice_message_id', notice ->> 'message_id');
end
$$;
comment on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid, timestamptz, boolean) is 'Step 5 of api.ingest_message for a newly stored inbound message (message_at: its created_at; test: its conversation is a test chat): counts it against the short-term rate limits (app.count_inbound); then toward the plan (app.add_tenant_usage) when the limit admitted it and the conversation is not a test, or records it in app.rate_limited_messages when held back; and decides the answer. Only an open conversation with an active agent is answered: billing paused → nothing (alert.agents_paused once a day); over the rate limit → no job, one polite notice per sender per window and alert.inbound_rate_limited once per window; over a monthly plan limit → the plan-limit notice and alert.plan_limit_reached once a month; else a reply job, recorded in app.reply_jobs (so earlier reply jobs of the conversation defer to it, api.reply_superseded_by). Returns {job_id, billing_refusal, rate_limited: tenant|sender|null, notice_message_id}. service_role (through ingest).';
revoke all on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid, timestamptz, boolean) from public, anon, authenticated;
grant execute on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid, timestamptz, boolean) to service_role;


grant usage on sequence app.messages_seq_seq to service_role;

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

drop trigger messages_bump_conversation on app.messages;
create trigger messages_bump_conversation after insert on app.messages
  for each row
  when (new.conversation_id::text is distinct from current_setting('konstruct.conversation_written', true))
  execute function app.bump_conversation();
