-- What the agent worker needs beyond the service api: delivery leases, reply and
-- confirmation look-ups, delayed jobs, live admin alerts and a configurable safety net.
--
-- Delivery: a reply is recorded once (idempotency key) and then delivered. Before it
-- calls a channel API the worker takes a short lease on the message
-- (api.begin_delivery), so two workers that both hold the same job (a visibility
-- timeout that ran out under a slow model) can never both post it. The lease only
-- blocks while the message is still pending; a recorded failure frees it at once.
--
-- Alerts: an audit entry whose action starts with `alert.` is also broadcast live as
-- `alert` to the tenant's private topic, so the portal shows it the moment it is written
-- and the audit log keeps it for good (append-only).
--
-- Safety net: pg_cron wakes the worker when a job of either queue is visible (a retry
-- whose backoff ran out, a knowledge upload, a delayed memory job, a lost wake-up).
-- The interval is the app.settings key worker_safety_net_schedule ('30 seconds' by
-- default); app.schedule_worker_safety_net() applies it and is safe to run again.

-- Live alerts ------------------------------------------------------------------------------

create function app.broadcast_alert()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.tenant_id is not null and new.action like 'alert.%' then
    perform realtime.send(
      jsonb_build_object('audit_id', new.id, 'tenant_id', new.tenant_id, 'kind', substr(new.action, 7),
        'entity_type', new.entity_type, 'entity_id', new.entity_id, 'details', new.details,
        'created_at', new.created_at),
      'alert',
      'tenant:' || new.tenant_id::text,
      true
    );
  end if;
  return null;
end
$$;
comment on function app.broadcast_alert() is 'After-insert trigger on audit_log: entries whose action starts with alert. (dead-lettered job, escalation, budget exhausted, undeliverable reply) are broadcast as `alert` to tenant:<tenant_id>.';

create trigger audit_log_broadcast_alert after insert on app.audit_log
  for each row execute function app.broadcast_alert();

-- Replies and delivery ------------------------------------------------------------------------

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

create function api.schedule_job(queue_name text, job jsonb, delay_seconds integer default 0)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  job_id bigint;
begin
  perform app.check_queue(schedule_job.queue_name);
  if not exists (select 1 from app.tenants t where t.id::text = schedule_job.job ->> 'tenant_id') then
    raise exception 'a job must carry an existing tenant_id' using errcode = '22023';
  end if;
  select s into job_id
  from pgmq.send(schedule_job.queue_name, schedule_job.job, least(greatest(coalesce(schedule_job.delay_seconds, 0), 0), 86400)) s;
  return job_id;
end
$$;
comment on function api.schedule_job(text, jsonb, integer) is 'Adds a job (with tenant_id) that becomes visible after delay_seconds (at most a day), e.g. distilling memories once a conversation has gone quiet. The safety net wakes the worker for it. service_role.';

-- Safety net -------------------------------------------------------------------------------

create function app.wake_workers_if_pending()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from pgmq.q_agent_jobs q where q.vt <= now())
     or exists (select 1 from pgmq.q_knowledge_jobs q where q.vt <= now()) then
    return app.wake_agent_worker('cron');
  end if;
  return null;
end
$$;
comment on function app.wake_workers_if_pending() is 'The pg_cron safety net: wakes the worker (which drains agent_jobs, then knowledge_jobs) only when a job of either queue is visible.';

create function app.schedule_worker_safety_net(schedule text default null)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  wanted text := coalesce(
    nullif(btrim(schedule_worker_safety_net.schedule), ''),
    (select nullif(btrim(s.value), '') from app.settings s where s.key = 'worker_safety_net_schedule'),
    '30 seconds');
begin
  if not exists (select 1 from pg_namespace where nspname = 'cron') then
    return null;
  end if;
  -- cron.schedule with an existing name replaces that job's schedule and command.
  return cron.schedule('konstruct-agent-worker-safety-net', wanted, 'select app.wake_workers_if_pending()');
end
$$;
comment on function app.schedule_worker_safety_net(text) is 'Schedules (or reschedules) the worker safety net under one cron job name, with the given schedule, else app.settings worker_safety_net_schedule, else every 30 seconds. Idempotent.';

select app.schedule_worker_safety_net();

revoke all on function app.broadcast_alert() from public, anon, authenticated;
revoke all on function app.wake_workers_if_pending() from public, anon, authenticated;
revoke all on function app.schedule_worker_safety_net(text) from public, anon, authenticated;
revoke all on function api.find_reply(uuid, uuid, text), api.begin_delivery(uuid, uuid, integer),
  api.get_pending_confirmation(uuid, uuid), api.schedule_job(text, jsonb, integer)
  from public, anon, authenticated;
grant execute on function app.wake_workers_if_pending() to service_role;
grant execute on function
  api.find_reply(uuid, uuid, text),
  api.begin_delivery(uuid, uuid, integer),
  api.get_pending_confirmation(uuid, uuid),
  api.schedule_job(text, jsonb, integer)
to service_role;
