-- Ingest and delivery: one inbound message from webhook to reply job, and one reply from
-- record to delivered.
--
-- api.ingest_message stores an inbound message idempotently (steps 1-4: contact,
-- conversation, message; a retried delivery is a duplicate and changes nothing), then
-- app.answer_inbound decides whether and how the agent answers. Every new inbound message
-- counts toward the short-term rate limit; toward the plan only what that limit admitted,
-- and never a test conversation's. The agent answers only a conversation it handles
-- (status open, an active agent assigned), and then:
--   * agents paused by billing → silent;
--   * over the short-term inbound rate limit → held back (app.rate_limited_messages);
--   * the tenant suspended by a platform admin → a polite notice;
--   * over a monthly plan limit → the plan-limit notice (app.billing_refusal);
--   * else one agent_jobs reply job, recorded in app.reply_jobs.
-- Accepted data is never lost: a held-back message is stored and broadcast like any other.
--
-- Rate limit: each new inbound message adds one to two counters of the current fixed
-- window (inbound_rate_limit_window_seconds, 60 by default): its tenant's and its
-- sender's. Over inbound_rate_limit_per_tenant (120) or inbound_rate_limit_per_sender (20)
-- no job is queued; the sender gets one polite system notice per window
-- (app.rate_limit_text, recorded and delivered like the plan-limit notice) and the admins
-- one alert per window (alert.inbound_rate_limited). The counters are rows updated in
-- place (insert ... on conflict do update), so concurrent ingests serialize on them: the
-- count is exact and the notice and the alert are claimed once per window. Windows are
-- fixed, not sliding. Settings (app.settings; a positive integer, or 'off'; a missing or
-- invalid value means the default): inbound_rate_limit_per_tenant,
-- inbound_rate_limit_per_sender, inbound_rate_limit_window_seconds, each also per tenant
-- as '<key>:<tenant uuid>' (the tenant's own value wins), and inbound_rate_limit_text.
--
-- Bursts: the worker answers several quick messages once. A reply job is skipped
-- ('superseded') when a later inbound message of the conversation has a reply job of its
-- own; app.reply_jobs (a row of its own rather than a column on app.messages, whose
-- updates are broadcast) carries each job's conversation and seq, so
-- api.reply_superseded_by is one probe of reply_jobs_conversation_seq_idx.
--
-- The turn: api.get_agent_context reads in one call everything the worker's model call
-- needs (the agent and its tenant's settings, the contact, the latest messages, memories,
-- knowledge passages).
--
-- Delivery: a reply is recorded once (idempotency key) and then delivered. Before it calls
-- a channel API the worker takes a short lease on the message (api.begin_delivery), so two
-- workers that both hold the same job can never both post it; the lease only blocks while
-- the message is pending. What part of a reply was already posted (Slack ts, WhatsApp
-- wamid, the placeholder) is recorded, so a retried worker never posts twice; delivery
-- status only moves forward (app.delivery_rank). Confirmations of tool calls are read back
-- by api.get_pending_confirmation.

create table app.inbound_rate_windows (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  -- 'tenant' (subject = the tenant id) or 'sender' (subject = the contact id).
  scope text not null check (scope in ('tenant', 'sender')),
  subject uuid not null,
  window_start timestamptz not null,
  messages integer not null default 0 check (messages >= 0),
  -- Sender rows: when the sender's notice for this window was recorded.
  notified_at timestamptz,
  -- Tenant rows: when the admins' alert for this window was written.
  alerted_at timestamptz,
  primary key (tenant_id, scope, subject, window_start)
);
create index inbound_rate_windows_tenant_window_idx on app.inbound_rate_windows (tenant_id, window_start);
comment on table app.inbound_rate_windows is 'Short-term inbound rate limit counters: new inbound messages per tenant and per sender (contact) in each fixed window, with when the sender''s notice and the admins'' alert of that window were claimed (once each). Rows older than an hour are removed as new windows open. service_role only; written by api.ingest_message through app.count_inbound.';
alter table app.inbound_rate_windows enable row level security;
alter table app.inbound_rate_windows force row level security;
grant select, insert, update, delete on app.inbound_rate_windows to service_role;

-- The messages the limit held back: stored, never answered, never counted toward the plan
-- (app.tenant_usage counts admitted messages only; app.reconcile_usage_counters recounts
-- from app.messages minus these rows).
create table app.rate_limited_messages (
  message_id uuid primary key references app.messages (id) on delete cascade,
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  -- tenant or sender: which limit held it back.
  rate_limit text not null check (rate_limit in ('tenant', 'sender')),
  window_start timestamptz not null
);
create index rate_limited_messages_tenant_idx on app.rate_limited_messages (tenant_id, window_start);
comment on table app.rate_limited_messages is 'Inbound messages the short-term rate limit held back (stored but not answered, and not counted toward the plan), with the limit and window. service_role only; written by app.answer_inbound.';
alter table app.rate_limited_messages enable row level security;
alter table app.rate_limited_messages force row level security;
grant select, insert, delete on app.rate_limited_messages to service_role;

create table app.reply_jobs (
  message_id uuid primary key references app.messages (id) on delete cascade,
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  job_id bigint not null,
  queued_at timestamptz not null default now(),
  -- The tenant's admitted inbound messages of the month when this one was admitted, itself
  -- included: the worker's plan check counts as of this message (api.enforce_reply_entitlement).
  plan_messages bigint,
  conversation_id uuid not null references app.conversations (id) on delete cascade,
  seq bigint not null
);
create index reply_jobs_tenant_idx on app.reply_jobs (tenant_id);
comment on table app.reply_jobs is 'The inbound messages ingest queued an agent_jobs reply job for (app.answer_inbound), with the job id: a message with a row here is (or was) answered by its own job; one without was stored but not answered (rate limited, billing, a human has it). Read by api.reply_superseded_by. service_role only.';
alter table app.reply_jobs enable row level security;
alter table app.reply_jobs force row level security;
grant select, insert, delete on app.reply_jobs to service_role;
create index reply_jobs_conversation_seq_idx on app.reply_jobs (conversation_id, seq desc);
comment on column app.reply_jobs.conversation_id is 'The message''s conversation (app.reply_jobs_place fills it on insert).';
comment on column app.reply_jobs.seq is 'The message''s app.messages.seq (app.reply_jobs_place fills it on insert).';

create function api.get_agent_context(tenant_id uuid, conversation_id uuid, query_embedding extensions.vector default null,
  message_limit integer default 40, memory_limit integer default 8, knowledge_limit integer default 5)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(get_agent_context.tenant_id, get_agent_context.conversation_id);
  last_inbound text;
  speaker uuid;
  result jsonb;
begin
  -- The person being answered is whoever wrote last (in a Slack thread not always the
  -- one who started it): their contact card and their memories, nobody else's.
  select m.text, coalesce(m.author_contact_id, conv.contact_id) into last_inbound, speaker from app.messages m
  where m.conversation_id = conv.id and m.direction = 'in' order by m.seq desc limit 1;
  speaker := coalesce(speaker, conv.contact_id);

  select jsonb_build_object(
    'tenant', (select jsonb_build_object('id', t.id, 'name', t.name, 'model_settings', t.model_settings,
        'has_own_llm_key', t.llm_api_key_secret_id is not null)
      from app.tenants t where t.id = conv.tenant_id),
    'agent', (select app.agent_json(a) || jsonb_build_object('tokens_used_this_month',
        coalesce((select u.tokens from app.agent_usage u
          where u.agent_id = a.id and u.period_start = app.usage_period(now())), 0))
      from app.agents a where a.id = conv.agent_id),
    'conversation', app.conversation_json(conv.id),
    'connection', app.connection_json(conv.connection_id),
    'contact', (select jsonb_build_object('id', ct.id, 'display_name', ct.display_name, 'email', ct.email,
        'phone', ct.phone, 'metadata', ct.metadata,
        'identities', coalesce((select jsonb_agg(jsonb_build_object('channel', i.channel,
            'external_user_id', i.external_user_id) order by i.created_at)
          from app.contact_identities i where i.contact_id = ct.id), '[]'::jsonb))
      from app.contacts ct where ct.id = speaker),
    'messages', coalesce((select jsonb_agg(jsonb_build_object('id', w.id, 'seq', w.seq, 'direction', w.direction,
        'author_kind', w.author_kind, 'author_contact_id', w.author_contact_id, 'text', w.text,
        'attachments', w.attachments, 'created_at', w.created_at)
        order by w.seq)
      from (select m.* from app.messages m where m.conversation_id = conv.id
            order by m.seq desc limit least(greatest(coalesce(get_agent_context.message_limit, 40), 1), 500)) w),
      '[]'::jsonb),
    'memories', coalesce((select jsonb_agg(jsonb_build_object('id', r.id, 'content', r.content,
        'created_at', r.created_at))
      from (select me.* from app.memories me
            where me.tenant_id = conv.tenant_id and me.contact_id = speaker and me.agent_id = conv.agent_id
            order by case when get_agent_context.query_embedding is null or me.embedding is null then null
                       else me.embedding operator(extensions.<=>) get_agent_context.query_embedding end nulls last,
                     me.created_at desc
            limit least(greatest(coalesce(get_agent_context.memory_limit, 8), 0), 100)) r),
      '[]'::jsonb),
    'knowledge', coalesce((select jsonb_agg(jsonb_build_object('chunk_id', k.chunk_id, 'source_id', k.source_id,
        'source_title', k.source_title, 'content', k.content, 'score', k.score, 'coverage', k.coverage))
      from api.search_knowledge(conv.tenant_id, coalesce(last_inbound, ''), get_agent_context.query_embedding,
        greatest(coalesce(get_agent_context.knowledge_limit, 5), 1)) k
      where coalesce(get_agent_context.knowledge_limit, 5) > 0),
      '[]'::jsonb)
  ) into result;
  return result;
end
$$;
comment on function api.get_agent_context(uuid, uuid, extensions.vector, integer, integer, integer) is 'Everything the agent needs for a turn, all from one tenant: tenant and agent settings (with this month''s tokens), conversation, connection, contact with identities (the author of the last inbound message: in a thread with several people, the one being answered), the last message_limit messages (chronological, each with its author_contact_id), memories of that contact and agent (nearest to query_embedding first, else newest), and knowledge passages for the last inbound message (hybrid search). 42501 if the conversation is another tenant''s. service_role.';
revoke all on function api.get_agent_context(uuid, uuid, extensions.vector, integer, integer, integer) from public, anon;
grant execute on function api.get_agent_context(uuid, uuid, extensions.vector, integer, integer, integer) to service_role;

create function api.record_reply(tenant_id uuid, conversation_id uuid, text text, idempotency_key text,
  agent_id uuid default null, attachments jsonb default '[]'::jsonb, metadata jsonb default '{}'::jsonb,
  author_kind text default 'agent')
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(record_reply.tenant_id, record_reply.conversation_id);
  new_id uuid;
begin
  if record_reply.author_kind not in ('agent', 'system') then
    raise exception 'author_kind must be agent or system' using errcode = '22023';
  end if;
  if coalesce(record_reply.idempotency_key, '') = '' then
    raise exception 'an idempotency key is required' using errcode = '22023';
  end if;
  insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, agent_id, text,
    attachments, idempotency_key, delivery_status, metadata)
  values (conv.tenant_id, conv.id, conv.connection_id, 'out', record_reply.author_kind,
    coalesce(record_reply.agent_id, conv.agent_id), record_reply.text, coalesce(record_reply.attachments, '[]'::jsonb),
    record_reply.idempotency_key, 'pending', coalesce(record_reply.metadata, '{}'::jsonb))
  on conflict on constraint messages_conversation_idempotency_key do nothing
  returning id into new_id;
  if new_id is null then
    select m.id into new_id from app.messages m
    where m.conversation_id = conv.id and m.idempotency_key = record_reply.idempotency_key;
    return jsonb_build_object('message_id', new_id, 'duplicate', true,
      'delivery_status', (select m.delivery_status from app.messages m where m.id = new_id),
      'external_id', (select m.external_id from app.messages m where m.id = new_id));
  end if;
  return jsonb_build_object('message_id', new_id, 'duplicate', false, 'delivery_status', 'pending', 'external_id', null);
end
$$;
comment on function api.record_reply(uuid, uuid, text, text, uuid, jsonb, jsonb, text) is 'Stores the agent''s (or a system) outbound reply as pending, idempotent by idempotency_key (e.g. ''job:<id>''): a retried worker gets the same message back with duplicate=true and its delivery status, so it never sends twice. service_role.';
revoke all on function api.record_reply(uuid, uuid, text, text, uuid, jsonb, jsonb, text) from public, anon;
grant execute on function api.record_reply(uuid, uuid, text, text, uuid, jsonb, jsonb, text) to service_role;

create function api.set_delivery_status(tenant_id uuid, message_id uuid, status text, external_id text default null,
  error text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  msg app.messages;
begin
  select * into msg from app.messages m where m.id = set_delivery_status.message_id;
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;
  if msg.tenant_id <> set_delivery_status.tenant_id then
    raise exception 'message does not belong to tenant' using errcode = '42501';
  end if;
  if set_delivery_status.status not in ('pending', 'sent', 'delivered', 'read', 'failed', 'undeliverable') then
    raise exception 'unknown delivery status %', set_delivery_status.status using errcode = '22023';
  end if;
  update app.messages m set
    delivery_status = set_delivery_status.status,
    external_id = coalesce(set_delivery_status.external_id, m.external_id),
    delivery_error = set_delivery_status.error
  where m.id = msg.id;
  return jsonb_build_object('message_id', msg.id, 'delivery_status', set_delivery_status.status);
end
$$;
comment on function api.set_delivery_status(uuid, uuid, text, text, text) is 'The sender''s outcome for an outbound message: sent (with the channel''s external id, e.g. Slack ts or WhatsApp wamid), failed or undeliverable (with the reason). service_role.';
revoke all on function api.set_delivery_status(uuid, uuid, text, text, text) from public, anon;
grant execute on function api.set_delivery_status(uuid, uuid, text, text, text) to service_role;

create function app.delivery_rank(status text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select case status when 'received' then 0 when 'pending' then 1 when 'sent' then 2 when 'delivered' then 3
    when 'read' then 4 when 'failed' then 5 when 'undeliverable' then 5 else 0 end
$$;
comment on function app.delivery_rank(text) is 'Order of delivery statuses, so out-of-order status webhooks never move a message backwards.';
revoke all on function app.delivery_rank(text) from public, anon, authenticated;
grant execute on function app.delivery_rank(text) to service_role;

create function api.record_delivery_status(connection_id uuid, external_id text, status text, error text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  msg app.messages;
begin
  if record_delivery_status.status not in ('sent', 'delivered', 'read', 'failed') then
    raise exception 'unknown delivery status %', record_delivery_status.status using errcode = '22023';
  end if;
  select * into msg from app.messages m
  where m.connection_id = record_delivery_status.connection_id and m.external_id = record_delivery_status.external_id;
  if not found then
    return jsonb_build_object('found', false, 'changed', false);
  end if;
  -- Out-of-order webhooks: only move forward (failed only overrides pending/sent).
  if (record_delivery_status.status = 'failed' and msg.delivery_status in ('pending', 'sent'))
     or (record_delivery_status.status <> 'failed'
         and app.delivery_rank(record_delivery_status.status) > app.delivery_rank(msg.delivery_status)
         and msg.delivery_status not in ('failed', 'undeliverable')) then
    update app.messages m set delivery_status = record_delivery_status.status,
      delivery_error = coalesce(record_delivery_status.error, m.delivery_error)
    where m.id = msg.id;
    return jsonb_build_object('found', true, 'changed', true, 'message_id', msg.id, 'tenant_id', msg.tenant_id,
      'delivery_status', record_delivery_status.status);
  end if;
  return jsonb_build_object('found', true, 'changed', false, 'message_id', msg.id, 'tenant_id', msg.tenant_id,
    'delivery_status', msg.delivery_status);
end
$$;
comment on function api.record_delivery_status(uuid, text, text, text) is 'Applies a channel status webhook (WhatsApp sent/delivered/read/failed) to the message with that external id on that connection, never moving it backwards. service_role.';
revoke all on function api.record_delivery_status(uuid, text, text, text) from public, anon;
grant execute on function api.record_delivery_status(uuid, text, text, text) to service_role;

create function api.find_reply(tenant_id uuid, conversation_id uuid, idempotency_key text)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(find_reply.tenant_id, find_reply.conversation_id);
begin
  return (
    select jsonb_build_object('message_id', m.id, 'text', m.text, 'author_kind', m.author_kind,
      'delivery_status', m.delivery_status, 'external_id', m.external_id, 'metadata', m.metadata)
    from app.messages m
    where m.conversation_id = conv.id and m.idempotency_key = find_reply.idempotency_key
  );
end
$$;
comment on function api.find_reply(uuid, uuid, text) is 'The outbound message recorded under an idempotency key in a conversation, or null: a retried worker finds the reply it already wrote instead of calling the model again. 42501 for another tenant''s conversation. service_role.';
revoke all on function api.find_reply(uuid, uuid, text) from public, anon, authenticated;
grant execute on function api.find_reply(uuid, uuid, text) to service_role;

create function api.begin_delivery(tenant_id uuid, message_id uuid, lease_seconds integer default 60)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  msg app.messages;
  conv app.conversations;
  lease_until timestamptz;
  acquired boolean;
begin
  select * into msg from app.messages m where m.id = begin_delivery.message_id for update;
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;
  if msg.tenant_id <> begin_delivery.tenant_id then
    raise exception 'message does not belong to tenant' using errcode = '42501';
  end if;
  if msg.direction <> 'out' then
    raise exception 'only outbound messages are delivered' using errcode = '22023';
  end if;
  select * into conv from app.conversations c where c.id = msg.conversation_id;
  lease_until := nullif(msg.metadata ->> 'delivery_lease_until', '')::timestamptz;
  -- Pending with a live lease: another worker may be sending it right now.
  acquired := msg.delivery_status = 'failed'
    or (msg.delivery_status = 'pending' and (lease_until is null or lease_until < now()));
  if acquired then
    update app.messages m set metadata = m.metadata || jsonb_build_object(
        'delivery_lease_until', now() + make_interval(secs => greatest(coalesce(begin_delivery.lease_seconds, 60), 1)),
        'delivery_attempts', coalesce((m.metadata ->> 'delivery_attempts')::integer, 0) + 1)
    where m.id = msg.id
    returning * into msg;
  end if;
  return jsonb_build_object(
    'acquired', acquired,
    'message', jsonb_build_object('id', msg.id, 'text', msg.text, 'author_kind', msg.author_kind,
      'author_member_id', msg.author_member_id, 'attachments', msg.attachments, 'delivery_status', msg.delivery_status,
      'external_id', msg.external_id, 'metadata', msg.metadata, 'idempotency_key', msg.idempotency_key),
    'conversation', app.conversation_json(conv.id),
    'connection', app.connection_json(conv.connection_id),
    'recipient', (select i.external_user_id from app.contact_identities i
      where i.contact_id = conv.contact_id and i.channel = conv.channel order by i.created_at limit 1)
  );
end
$$;
comment on function api.begin_delivery(uuid, uuid, integer) is 'Takes a delivery lease on a pending (or failed) outbound message and returns what a sender needs: the message, its conversation and connection (no token) and the recipient''s channel user id. acquired=false when the message was already sent or another worker holds a live lease, so a reply is never posted twice. service_role.';
revoke all on function api.begin_delivery(uuid, uuid, integer) from public, anon, authenticated;
grant execute on function api.begin_delivery(uuid, uuid, integer) to service_role;

create function api.get_pending_confirmation(tenant_id uuid, conversation_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(get_pending_confirmation.tenant_id,
    get_pending_confirmation.conversation_id);
begin
  return (
    select jsonb_build_object('tool_call_id', t.id, 'tool_name', t.tool_name, 'arguments', t.arguments,
      'result', t.result, 'agent_id', t.agent_id, 'message_id', t.message_id, 'created_at', t.created_at,
      'proposed_to_contact_id', (select m.author_contact_id from app.messages m where m.id = t.message_id))
    from app.tool_calls t
    where t.conversation_id = conv.id and t.status = 'awaiting_confirmation'
    order by t.created_at desc
    limit 1
  );
end
$$;
comment on function api.get_pending_confirmation(uuid, uuid) is 'The newest side-effecting tool call of a conversation still waiting for the user''s yes or no, with proposed_to_contact_id (the author of the message it answered: only that person''s answer counts), or null. service_role.';
revoke all on function api.get_pending_confirmation(uuid, uuid) from public, anon, authenticated;
grant execute on function api.get_pending_confirmation(uuid, uuid) to service_role;

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
revoke all on function api.get_outbound_delivery(uuid, uuid) from public, anon, authenticated;
grant execute on function api.get_outbound_delivery(uuid, uuid) to service_role;

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
revoke all on function api.record_delivery_progress(uuid, uuid, jsonb) from public, anon, authenticated;
grant execute on function api.record_delivery_progress(uuid, uuid, jsonb) to service_role;

create function app.inbound_rate_setting(tenant_id uuid, key text, fallback integer)
returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  raw text;
begin
  raw := coalesce(
    (select nullif(btrim(s.value), '') from app.settings s where s.key = inbound_rate_setting.key || ':' || inbound_rate_setting.tenant_id::text),
    (select nullif(btrim(s.value), '') from app.settings s where s.key = inbound_rate_setting.key));
  if raw is null then
    return fallback;
  end if;
  if lower(raw) in ('off', 'none', 'unlimited') then
    return null;
  end if;
  if raw !~ '^[0-9]{1,9}$' or raw::integer <= 0 then
    return fallback;
  end if;
  return raw::integer;
end
$$;
comment on function app.inbound_rate_setting(uuid, text, integer) is 'An inbound rate limit setting for a tenant: app.settings ''<key>:<tenant id>'', else ''<key>'', else the fallback; ''off'' (or none, unlimited) = no limit (null); an invalid value = the fallback. Definer: app.settings is closed to signed-in users.';
revoke all on function app.inbound_rate_setting(uuid, text, integer) from public, anon, authenticated;
grant execute on function app.inbound_rate_setting(uuid, text, integer) to service_role;

create function app.rate_limit_text()
returns text
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select nullif(btrim(s.value), '') from app.settings s where s.key = 'inbound_rate_limit_text'),
    'We''re receiving a lot of messages right now — please give us a minute, then send your message again.')
$$;
comment on function app.rate_limit_text() is 'What a chat user reads, once per window, when their tenant or they themselves are over the short-term inbound rate limit (app.settings inbound_rate_limit_text, else a default).';
revoke all on function app.rate_limit_text() from public, anon, authenticated;
grant execute on function app.rate_limit_text() to service_role;

create function app.count_inbound(tenant_id uuid, contact_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  per_tenant integer := app.inbound_rate_setting(count_inbound.tenant_id, 'inbound_rate_limit_per_tenant', 120);
  per_sender integer := app.inbound_rate_setting(count_inbound.tenant_id, 'inbound_rate_limit_per_sender', 20);
  window_seconds integer := app.inbound_rate_setting(count_inbound.tenant_id, 'inbound_rate_limit_window_seconds', 60);
  window_start timestamptz;
  tenant_count integer;
  sender_count integer;
  opened boolean;
  exceeded text;
begin
  window_seconds := coalesce(window_seconds, 60);
  window_start := to_timestamp(floor(extract(epoch from now()) / window_seconds) * window_seconds);

  -- The tenant's row first, then the sender's: always the same order, so no deadlock.
  insert into app.inbound_rate_windows as w (tenant_id, scope, subject, window_start, messages)
  values (count_inbound.tenant_id, 'tenant', count_inbound.tenant_id, window_start, 1)
  on conflict on constraint inbound_rate_windows_pkey do update set messages = w.messages + 1
  returning w.messages, (w.xmax = 0) into tenant_count, opened;
  if count_inbound.contact_id is not null then
    insert into app.inbound_rate_windows as w (tenant_id, scope, subject, window_start, messages)
    values (count_inbound.tenant_id, 'sender', count_inbound.contact_id, window_start, 1)
    on conflict on constraint inbound_rate_windows_pkey do update set messages = w.messages + 1
    returning w.messages into sender_count;
  end if;
  -- Housekeeping once per tenant window: older windows are no longer needed.
  if opened then
    delete from app.inbound_rate_windows w
    where w.tenant_id = count_inbound.tenant_id and w.window_start < now() - interval '1 hour';
  end if;

  if per_tenant is not null and tenant_count > per_tenant then
    exceeded := 'tenant';
  elsif per_sender is not null and sender_count > per_sender then
    exceeded := 'sender';
  end if;
  return jsonb_build_object('limited', exceeded is not null, 'limit', exceeded,
    'tenant_messages', tenant_count, 'tenant_limit', per_tenant,
    'sender_messages', sender_count, 'sender_limit', per_sender,
    'window_start', window_start, 'window_seconds', window_seconds);
end
$$;
comment on function app.count_inbound(uuid, uuid) is 'Counts one new inbound message against its tenant''s and its sender''s (contact''s) window and says whether either is over its limit: {limited, limit: tenant|sender|null, tenant_messages, tenant_limit, sender_messages, sender_limit, window_start, window_seconds}. Definer: the counters are closed to signed-in users.';
revoke all on function app.count_inbound(uuid, uuid) from public, anon, authenticated;
grant execute on function app.count_inbound(uuid, uuid) to service_role;

create function app.claim_rate_limit_effects(tenant_id uuid, contact_id uuid, window_start timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  notify boolean := false;
  alert boolean := false;
begin
  update app.inbound_rate_windows w set notified_at = now()
  where w.tenant_id = claim_rate_limit_effects.tenant_id and w.scope = 'sender'
    and w.subject = claim_rate_limit_effects.contact_id and w.window_start = claim_rate_limit_effects.window_start
    and w.notified_at is null;
  notify := found;
  update app.inbound_rate_windows w set alerted_at = now()
  where w.tenant_id = claim_rate_limit_effects.tenant_id and w.scope = 'tenant'
    and w.subject = claim_rate_limit_effects.tenant_id and w.window_start = claim_rate_limit_effects.window_start
    and w.alerted_at is null;
  alert := found;
  return jsonb_build_object('notify', notify, 'alert', alert);
end
$$;
comment on function app.claim_rate_limit_effects(uuid, uuid, timestamptz) is 'For a rate-limited message the agent would have answered: claims, at most once per window, the sender''s notice and the tenant''s admin alert. Returns {notify, alert}. Definer: the counters are closed to signed-in users.';
revoke all on function app.claim_rate_limit_effects(uuid, uuid, timestamptz) from public, anon, authenticated;
grant execute on function app.claim_rate_limit_effects(uuid, uuid, timestamptz) to service_role;

-- Steps 1-4 store the message; step 5 is app.answer_inbound.
create function api.ingest_message(
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
  conv record;
  new_message_id uuid;
  answer jsonb;
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

  -- 2. The person: one contact per tenant, an identity per channel.
  insert into app.contacts (tenant_id, display_name)
  select conn.tenant_id, ingest_message.user_display_name
  where not exists (
    select 1 from app.contact_identities i
    where i.tenant_id = conn.tenant_id and i.channel = conn.kind and i.external_user_id = ingest_message.external_user_id
  )
  returning id into contact;
  if contact is not null then
    insert into app.contact_identities (tenant_id, contact_id, channel, external_user_id, display_name)
    values (conn.tenant_id, contact, conn.kind, ingest_message.external_user_id, ingest_message.user_display_name)
    on conflict on constraint contact_identities_tenant_id_channel_external_user_id_key do nothing;
    if not found then
      delete from app.contacts c where c.id = contact;
      contact := null;
    end if;
  end if;
  if contact is null then
    select i.contact_id into contact from app.contact_identities i
    where i.tenant_id = conn.tenant_id and i.channel = conn.kind and i.external_user_id = ingest_message.external_user_id;
    if ingest_message.user_display_name is not null then
      update app.contacts c set display_name = ingest_message.user_display_name
      where c.id = contact and c.display_name is null;
    end if;
  end if;

  -- 3. The conversation of this thread (a closed one reopens). A new one is a test when its
  --    web chat visitor is a member's verified test chat (api.begin_test_chat).
  insert into app.conversations (tenant_id, connection_id, channel, thread_key, contact_id, agent_id, channel_context,
    is_test)
  values (conn.tenant_id, conn.id, conn.kind, ingest_message.thread_key, contact, conn.agent_id,
    coalesce(ingest_message.channel_context, '{}'::jsonb),
    conn.kind = 'web_chat' and exists (select 1 from app.test_chat_visitors v
      where v.connection_id = conn.id and v.visitor_id = ingest_message.external_user_id))
  on conflict on constraint conversations_connection_id_thread_key_key do update set
    status = case when app.conversations.status = 'closed' then 'open' else app.conversations.status end,
    agent_id = coalesce(app.conversations.agent_id, excluded.agent_id),
    contact_id = coalesce(app.conversations.contact_id, excluded.contact_id),
    channel_context = app.conversations.channel_context || excluded.channel_context
  returning id, status, agent_id into conv;

  -- 4. The message, idempotent by (connection, external id) even under concurrency.
  insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, author_contact_id, text,
    attachments, external_id, delivery_status, metadata)
  values (conn.tenant_id, conv.id, conn.id, 'in', 'contact', contact, ingest_message.text,
    coalesce(ingest_message.attachments, '[]'::jsonb), ingest_message.external_id, 'received',
    coalesce(ingest_message.metadata, '{}'::jsonb))
  on conflict on constraint messages_connection_external_id_key do nothing
  returning id into new_message_id;
  if new_message_id is null then
    select m.id into new_message_id from app.messages m
    where m.connection_id = conn.id and m.external_id = ingest_message.external_id;
    return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'tenant_id', conn.tenant_id,
      'duplicate', true, 'enqueued', false, 'job_id', null, 'conversation_status', conv.status);
  end if;

  -- 5. Whether and how the agent answers: rate limit, billing, reply job (app.answer_inbound).
  answer := app.answer_inbound(conn.tenant_id, conv.id, conv.status, conv.agent_id, contact, new_message_id);

  return jsonb_build_object('message_id', new_message_id, 'conversation_id', conv.id, 'tenant_id', conn.tenant_id,
    'contact_id', contact, 'duplicate', false, 'enqueued', answer ->> 'job_id' is not null,
    'job_id', (answer ->> 'job_id')::bigint, 'conversation_status', conv.status,
    'billing_refusal', answer ->> 'billing_refusal', 'rate_limited', answer ->> 'rate_limited',
    'notice_message_id', answer ->> 'notice_message_id');
end
$$;
comment on function api.ingest_message(uuid, text, text, text, text, text, jsonb, jsonb, jsonb) is 'Stores an inbound message idempotently by (connection, external_id): upserts the contact and its channel identity, the conversation of thread_key (reopening a closed one), the message; then app.answer_inbound decides the answer: an agent_jobs reply job (waking the worker) only when the conversation is open, has an agent, the agent is active, the tenant and the sender are under the short-term inbound rate limit and the plan allows it. Over the rate limit the message is stored but not answered: one polite notice per sender per window (rate_limited: tenant|sender) and one admin alert per window. Over the plan''s monthly messages or tokens a polite system reply is delivered instead (billing_refusal, notice_message_id) and the admins alerted; while billing pauses the agents nothing is enqueued. A duplicate never counts. Returns {message_id, conversation_id, tenant_id, contact_id, duplicate, enqueued, job_id, conversation_status, billing_refusal, rate_limited, notice_message_id}. A disabled connection is refused (KO005). service_role.';
revoke all on function api.ingest_message(uuid, text, text, text, text, text, jsonb, jsonb, jsonb) from public, anon, authenticated;
grant execute on function api.ingest_message(uuid, text, text, text, text, text, jsonb, jsonb, jsonb) to service_role;

-- Step 5 of api.ingest_message (above): the rate limit and
-- billing checks, the notices and alerts, and the reply job with its app.reply_jobs row.
create function app.answer_inbound(tenant_id uuid, conversation_id uuid, conversation_status text, agent_id uuid,
  contact_id uuid, message_id uuid)
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
  message_at timestamptz;
  test boolean;
  plan_messages bigint;
begin
  -- Every new inbound message counts toward the short-term limits, answered or not.
  rate := app.count_inbound(answer_inbound.tenant_id, answer_inbound.contact_id);

  -- Toward the plan only what the rate limit admitted, and never a test conversation's: one
  -- counter row per tenant and month, added to in this transaction (app.tenant_usage).
  select m.created_at, c.is_test into message_at, test
  from app.messages m join app.conversations c on c.id = m.conversation_id
  where m.id = answer_inbound.message_id;
  if (rate ->> 'limited')::boolean then
    insert into app.rate_limited_messages (message_id, tenant_id, rate_limit, window_start)
    values (answer_inbound.message_id, answer_inbound.tenant_id, rate ->> 'limit', (rate ->> 'window_start')::timestamptz)
    on conflict on constraint rate_limited_messages_pkey do nothing;
  elsif not test then
    insert into app.tenant_usage as u (tenant_id, period_start, messages)
    values (answer_inbound.tenant_id, app.usage_period(message_at), 1)
    on conflict on constraint tenant_usage_pkey do update set messages = u.messages + 1
    returning u.messages into plan_messages;
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
comment on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid) is 'Step 5 of api.ingest_message for a newly stored inbound message: counts it against the short-term rate limits (app.count_inbound); then toward the plan (app.tenant_usage) when the limit admitted it and the conversation is not a test, or records it in app.rate_limited_messages when held back; and decides the answer. Only an open conversation with an active agent is answered: billing paused → nothing (alert.agents_paused once a day); over the rate limit → no job, one polite notice per sender per window and alert.inbound_rate_limited once per window; over a monthly plan limit → the plan-limit notice and alert.plan_limit_reached once a month; else a reply job, recorded in app.reply_jobs (so earlier reply jobs of the conversation defer to it, api.reply_superseded_by). Returns {job_id, billing_refusal, rate_limited: tenant|sender|null, notice_message_id}. service_role (through ingest).';
revoke all on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid) from public, anon, authenticated;
grant execute on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid) to service_role;

-- The writer (app.answer_inbound) names the message; its conversation and seq come from it.
create function app.reply_jobs_place()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  select m.conversation_id, m.seq into new.conversation_id, new.seq from app.messages m where m.id = new.message_id;
  return new;
end
$$;
comment on function app.reply_jobs_place() is 'Before insert on app.reply_jobs: copies the message''s conversation_id and seq (one primary-key read).';
revoke all on function app.reply_jobs_place() from public, anon, authenticated;
create trigger reply_jobs_place before insert on app.reply_jobs
for each row execute function app.reply_jobs_place();

create function api.reply_superseded_by(tenant_id uuid, conversation_id uuid, message_id uuid)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(reply_superseded_by.tenant_id, reply_superseded_by.conversation_id);
  after_seq bigint;
  newer uuid;
begin
  select m.seq into after_seq from app.messages m
  where m.id = reply_superseded_by.message_id and m.conversation_id = conv.id;
  if after_seq is null then
    return null;
  end if;
  select r.message_id into newer from app.reply_jobs r
  where r.conversation_id = conv.id and r.seq > after_seq
  order by r.seq desc limit 1;
  return newer;
end
$$;
comment on function api.reply_superseded_by(uuid, uuid, uuid) is 'For the agent worker''s reply job of an inbound message: the newest later inbound message of the conversation that ingest queued a reply job for (app.reply_jobs), whose answer will cover this one too; null when there is none — a later message stored without a job (rate limited, billing, a human has it) never supersedes. 42501 if the conversation is another tenant''s. service_role.';
revoke all on function api.reply_superseded_by(uuid, uuid, uuid) from public, anon, authenticated;
grant execute on function api.reply_superseded_by(uuid, uuid, uuid) to service_role;
