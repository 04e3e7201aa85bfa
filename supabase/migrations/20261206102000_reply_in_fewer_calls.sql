-- A reply in fewer round trips (issue 11): the worker made about 14 api calls per answered
-- message (claim, find_reply, get_agent_context, check_entitlement, get_pending_confirmation,
-- search_knowledge, record_model_outcome, record_usage, record_audit, record_reply,
-- begin_delivery, set_delivery_status, complete_job), each a request through the Data API.
-- These service functions bundle the existing ones, unchanged, so every rule stays where it
-- is:
--
--   api.prepare_reply            what a reply job reads before the model: the reply a retry
--                                already wrote, else the context, the plan's verdict, the
--                                pending confirmation, the newer message that supersedes
--                                this one, and the knowledge for the latest contact message.
--   api.claim_jobs_with_context  api.claim_jobs, with each reply job's prepare_reply beside
--                                it (when asked), so a batch of answers starts with one call
--                                (defined with the wake-ups it begins, 20261206102100).
--   api.finish_reply             after the model: its outcome, usage and audit, the reply,
--                                and the delivery lease, in one transaction; for a channel
--                                where storing the message is delivering it (web chat), also
--                                marks it sent and completes the job.
--   api.settle_delivery          after a channel send: the delivery status and, once the
--                                message is sent, the job completed, in one transaction.
--
-- Each reads and writes only rows of the tenant its arguments name: the functions they call
-- check the conversation, message and job belong to it (42501 otherwise).

create function api.prepare_reply(tenant_id uuid, conversation_id uuid, message_id uuid, reply_key text,
  message_limit integer default 40, memory_limit integer default 8, knowledge_limit integer default 0)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  existing jsonb := api.find_reply(prepare_reply.tenant_id, prepare_reply.conversation_id, prepare_reply.reply_key);
  context jsonb;
  refusal jsonb;
  query text;
begin
  if existing is not null then
    return jsonb_build_object('existing', existing);
  end if;
  -- The worker searches knowledge itself when it embeds the question first (knowledge_limit 0).
  context := api.get_agent_context(prepare_reply.tenant_id, prepare_reply.conversation_id, null,
    prepare_reply.message_limit, prepare_reply.memory_limit, 0);
  refusal := app.billing_refusal(prepare_reply.tenant_id);
  -- The question is the newest contact message of the window, as the worker reads it.
  select w.message ->> 'text' into query
  from jsonb_array_elements(context -> 'messages') with ordinality w(message, position)
  where w.message ->> 'author_kind' = 'contact'
  order by w.position desc
  limit 1;
  return jsonb_build_object(
    'existing', null,
    'context', context,
    'entitlement', jsonb_build_object('allowed', refusal is null, 'reason', refusal ->> 'reason',
      'message', refusal ->> 'message'),
    'pending_confirmation', api.get_pending_confirmation(prepare_reply.tenant_id, prepare_reply.conversation_id),
    'superseded_by', api.reply_superseded_by(prepare_reply.tenant_id, prepare_reply.conversation_id,
      prepare_reply.message_id),
    'knowledge', case when coalesce(prepare_reply.knowledge_limit, 0) > 0 and coalesce(query, '') <> '' then
      jsonb_build_object('query', query, 'hits', coalesce((
        select jsonb_agg(jsonb_build_object('chunk_id', k.chunk_id, 'source_id', k.source_id,
          'source_title', k.source_title, 'content', k.content, 'score', k.score, 'coverage', k.coverage))
        from api.search_knowledge(prepare_reply.tenant_id, query, null, least(prepare_reply.knowledge_limit, 50)) k),
        '[]'::jsonb))
    end);
end
$$;
comment on function api.prepare_reply(uuid, uuid, uuid, text, integer, integer, integer) is 'What a reply job reads before calling the model, in one call: {existing} (api.find_reply of reply_key: a retry only delivers it), else {context (api.get_agent_context without knowledge), entitlement {allowed, reason, message} (app.billing_refusal), pending_confirmation (api.get_pending_confirmation), superseded_by (api.reply_superseded_by), knowledge {query, hits} (api.search_knowledge, full text, for the newest contact message of the window) when knowledge_limit > 0}. 42501 if the conversation is another tenant''s. service_role.';
revoke all on function api.prepare_reply(uuid, uuid, uuid, text, integer, integer, integer) from public, anon, authenticated;
grant execute on function api.prepare_reply(uuid, uuid, uuid, text, integer, integer, integer) to service_role;

create function api.finish_reply(tenant_id uuid, conversation_id uuid, reply jsonb, usage jsonb default '[]'::jsonb,
  audit jsonb default '[]'::jsonb, model_ok boolean default false, lease_seconds integer default 60,
  sent_on_record boolean default false, queue_name text default null, job_id bigint default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  call jsonb;
  recorded jsonb;
  lease jsonb;
  settled boolean := false;
  completed boolean := false;
begin
  if jsonb_typeof(finish_reply.reply) is distinct from 'object' then
    raise exception 'reply must be an object {text, idempotency_key, agent_id, metadata, author_kind}' using errcode = '22023';
  end if;
  if finish_reply.model_ok then
    perform api.record_model_outcome(finish_reply.tenant_id, true, finish_reply.conversation_id);
  end if;
  for call in select u.value from jsonb_array_elements(coalesce(finish_reply.usage, '[]'::jsonb)) u loop
    perform api.record_usage(finish_reply.tenant_id, call ->> 'model', (call ->> 'input_tokens')::bigint,
      (call ->> 'output_tokens')::bigint, coalesce((call ->> 'cost_usd')::numeric, 0), (call ->> 'agent_id')::uuid,
      finish_reply.conversation_id, coalesce(call ->> 'kind', 'chat'), call ->> 'idempotency_key',
      coalesce(call -> 'metadata', '{}'::jsonb));
  end loop;
  for call in select a.value from jsonb_array_elements(coalesce(finish_reply.audit, '[]'::jsonb)) a loop
    perform api.record_audit(finish_reply.tenant_id, call ->> 'action', call ->> 'entity_type', call ->> 'entity_id',
      coalesce(call -> 'details', '{}'::jsonb));
  end loop;
  recorded := api.record_reply(finish_reply.tenant_id, finish_reply.conversation_id, finish_reply.reply ->> 'text',
    finish_reply.reply ->> 'idempotency_key', (finish_reply.reply ->> 'agent_id')::uuid, '[]'::jsonb,
    coalesce(finish_reply.reply -> 'metadata', '{}'::jsonb), coalesce(finish_reply.reply ->> 'author_kind', 'agent'));
  lease := api.begin_delivery(finish_reply.tenant_id, (recorded ->> 'message_id')::uuid, finish_reply.lease_seconds);
  -- Stored is delivered (web chat: the insert broadcast it) when the sender would send it:
  -- the lease is ours, the connection is active, and no member took the conversation over.
  if finish_reply.sent_on_record and (lease ->> 'acquired')::boolean
     and lease #>> '{connection,status}' = 'active'
     and not (lease #>> '{conversation,status}' = 'human' and lease #>> '{message,author_kind}' <> 'member') then
    perform api.set_delivery_status(finish_reply.tenant_id, (recorded ->> 'message_id')::uuid, 'sent', null, null);
    settled := true;
    if finish_reply.job_id is not null then
      completed := api.complete_job(finish_reply.queue_name, finish_reply.job_id, finish_reply.tenant_id);
    end if;
  end if;
  return jsonb_build_object('reply', recorded, 'lease', lease, 'settled', settled, 'completed', completed);
end
$$;
comment on function api.finish_reply(uuid, uuid, jsonb, jsonb, jsonb, boolean, integer, boolean, text, bigint) is 'After a reply job''s model turn, in one transaction: api.record_model_outcome (ok) when model_ok, api.record_usage for each of usage [{model, input_tokens, output_tokens, cost_usd, agent_id, kind, idempotency_key, metadata}], api.record_audit for each of audit [{action, entity_type, entity_id, details}], api.record_reply of reply {text, idempotency_key, agent_id, metadata, author_kind}, and api.begin_delivery (lease_seconds). With sent_on_record (a channel where storing is delivering) and a deliverable message, also marks it sent and completes the job (queue_name, job_id). Returns {reply, lease, settled, completed}. service_role.';
revoke all on function api.finish_reply(uuid, uuid, jsonb, jsonb, jsonb, boolean, integer, boolean, text, bigint) from public, anon, authenticated;
grant execute on function api.finish_reply(uuid, uuid, jsonb, jsonb, jsonb, boolean, integer, boolean, text, bigint) to service_role;

create function api.settle_delivery(tenant_id uuid, message_id uuid, status text, external_id text default null,
  error text default null, queue_name text default null, job_id bigint default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  completed boolean := false;
begin
  perform api.set_delivery_status(settle_delivery.tenant_id, settle_delivery.message_id, settle_delivery.status,
    settle_delivery.external_id, settle_delivery.error);
  -- A failed send is retried by the job: only a message sent completes it.
  if settle_delivery.job_id is not null and settle_delivery.status = 'sent' then
    completed := api.complete_job(settle_delivery.queue_name, settle_delivery.job_id, settle_delivery.tenant_id);
  end if;
  return jsonb_build_object('message_id', settle_delivery.message_id, 'delivery_status', settle_delivery.status,
    'completed', completed);
end
$$;
comment on function api.settle_delivery(uuid, uuid, text, text, text, text, bigint) is 'A sender''s outcome and its job''s end in one transaction: api.set_delivery_status, then, when the message was sent and a job is named, api.complete_job. Returns {message_id, delivery_status, completed}. service_role.';
revoke all on function api.settle_delivery(uuid, uuid, text, text, text, text, bigint) from public, anon, authenticated;
grant execute on function api.settle_delivery(uuid, uuid, text, text, text, text, bigint) to service_role;

-- Reply jobs now start together (their context comes with the claim), so two refused in the
-- same moment both reach app.alert_once: its check and its insert are made one step per
-- tenant and kind, so the admins get the one alert it promises.
create or replace function app.alert_once(tenant_id uuid, kind text, since timestamptz, details jsonb default '{}'::jsonb)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_advisory_xact_lock(hashtext('konstruct.alert:' || alert_once.tenant_id::text || ':' || alert_once.kind));
  if exists (select 1 from app.audit_log l where l.tenant_id = alert_once.tenant_id
             and l.action = 'alert.' || alert_once.kind and l.created_at >= alert_once.since) then
    return false;
  end if;
  perform app.write_audit(alert_once.tenant_id, 'alert.' || alert_once.kind, 'billing', alert_once.tenant_id::text,
    coalesce(alert_once.details, '{}'::jsonb));
  return true;
end
$$;
comment on function app.alert_once(uuid, text, timestamptz, jsonb) is 'Writes the portal alert alert.<kind> for a tenant unless one was written since `since` (e.g. once a month per limit), so a busy channel does not flood the admins; concurrent callers for one tenant and kind take turns (advisory lock), so only one writes it.';
revoke all on function app.alert_once(uuid, text, timestamptz, jsonb) from public, anon, authenticated;
grant execute on function app.alert_once(uuid, text, timestamptz, jsonb) to service_role;
