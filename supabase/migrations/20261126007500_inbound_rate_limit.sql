-- A short-term inbound rate limit per tenant and per sender, for every channel, held in
-- the database at ingest so it holds across function instances.
--
-- Each new inbound message (a retried delivery is a duplicate and never counts) adds one
-- to two counters of the current fixed window (inbound_rate_limit_window_seconds, 60 by
-- default): its tenant's and its sender's (the contact, one per person per tenant). Over
-- inbound_rate_limit_per_tenant (120 by default) or inbound_rate_limit_per_sender (20 by
-- default) in a window, the message is still stored and broadcast like any other (accepted
-- data is never lost), but no agent job is queued: no model call. Instead
--   * the sender gets one polite system notice per window (app.rate_limit_text), recorded
--     and delivered exactly like the plan-limit notice (api.record_reply + a `deliver`
--     job), whichever limit tripped and however many messages follow;
--   * the admins get one alert per window (alert.inbound_rate_limited, via app.alert_once).
-- The counters are rows updated in place (insert ... on conflict do update), so two
-- function instances ingesting at once serialize on them: the count is exact and the
-- notice and the alert are claimed exactly once per window. Windows are fixed, not
-- sliding: at a window boundary a sender can get up to twice the limit through.
--
-- Settings (app.settings; a positive integer, or 'off' for no limit; a missing or invalid
-- value means the default): inbound_rate_limit_per_tenant, inbound_rate_limit_per_sender,
-- inbound_rate_limit_window_seconds, each also per tenant as '<key>:<tenant uuid>' (a
-- tenant's own value wins), and inbound_rate_limit_text to change the notice.
--
-- Order at ingest, for a message the agent would answer: agents paused by billing →
-- silent, as before; over the rate limit → the notice above; over a monthly plan limit →
-- the plan-limit notice, as before; else the reply job. The worker's own entitlement check
-- (api.check_entitlement) is unchanged: a message admitted at ingest keeps its answer.
--
-- api.ingest_message is defined here: steps 1-4 store the message; step 5 (whether and
-- how the agent answers) is app.answer_inbound (in 20261126008000_reply_jobs.sql), so an
-- admission rule changes that function, not ingest.

-- Counters -------------------------------------------------------------------------------------

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

-- Settings -------------------------------------------------------------------------------------

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

-- Counting -------------------------------------------------------------------------------------

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

-- Ingest ---------------------------------------------------------------------------------------
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

revoke all on function app.inbound_rate_setting(uuid, text, integer), app.rate_limit_text(),
  app.count_inbound(uuid, uuid), app.claim_rate_limit_effects(uuid, uuid, timestamptz)
  from public, anon, authenticated;
revoke all on function api.ingest_message(uuid, text, text, text, text, text, jsonb, jsonb, jsonb) from public, anon, authenticated;
grant execute on function app.inbound_rate_setting(uuid, text, integer), app.rate_limit_text(),
  app.count_inbound(uuid, uuid), app.claim_rate_limit_effects(uuid, uuid, timestamptz)
  to service_role;
grant execute on function api.ingest_message(uuid, text, text, text, text, text, jsonb, jsonb, jsonb) to service_role;
