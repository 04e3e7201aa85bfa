-- The agent worker enforces the plan too.
--
-- api.ingest_message decides whether a message may be answered when it arrives; a reply
-- job can wait in the queue while the tenant goes over its monthly tokens or its agents
-- are paused (past_due beyond grace, canceled, unpaid). The worker asks
-- api.check_entitlement right before its model call; when that refuses,
-- api.enforce_reply_entitlement does here what ingest would have done, so both paths
-- behave alike and the text lives in one place (app.plan_limit_text):
--   * suspended by a platform admin: the polite suspended notice, as ingest sends it;
--   * paused: silence in the channel, the admins alerted (alert.agents_paused, once a day);
--   * over the monthly tokens or messages: the polite system notice recorded under the
--     job's reply key (a retried job finds it instead of a second one) and the admins
--     alerted (alert.plan_limit_reached, once a month).
-- Messages are counted as of the message being answered: it was admitted at ingest, and
-- later messages in other conversations must not take its answer away. That count is the
-- one ingest recorded with the reply job (app.reply_jobs.plan_messages): nothing is
-- counted from history here.

create function api.enforce_reply_entitlement(tenant_id uuid, conversation_id uuid, message_id uuid,
  idempotency_key text, agent_id uuid default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(enforce_reply_entitlement.tenant_id,
    enforce_reply_entitlement.conversation_id);
  inbound app.messages;
  state jsonb;
  usage jsonb;
  reason text;
  used bigint;
  allowed bigint;
  notice jsonb;
  refusal jsonb;
begin
  if coalesce(enforce_reply_entitlement.idempotency_key, '') = '' then
    raise exception 'an idempotency key is required' using errcode = '22023';
  end if;
  select * into inbound from app.messages m
  where m.id = enforce_reply_entitlement.message_id and m.conversation_id = conv.id and m.direction = 'in';
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;

  -- Suspended by a platform admin after the job was queued: the notice ingest sends a
  -- suspended tenant's customers (app.billing_refusal's text), recorded once under the job's
  -- reply key for the worker to deliver; no alert (the admins were told when it happened).
  refusal := app.billing_refusal(conv.tenant_id);
  if refusal ->> 'reason' = 'suspended' then
    notice := api.record_reply(conv.tenant_id, conv.id, refusal ->> 'message', enforce_reply_entitlement.idempotency_key,
      coalesce(enforce_reply_entitlement.agent_id, conv.agent_id), '[]'::jsonb,
      jsonb_build_object('mode', 'suspended', 'in_reply_to', inbound.id), 'system');
    return jsonb_build_object('allowed', false, 'reason', 'suspended', 'pause_reason', null,
      'message', refusal ->> 'message', 'notice_message_id', notice ->> 'message_id',
      'duplicate', coalesce((notice ->> 'duplicate')::boolean, false));
  end if;

  state := app.billing_state(conv.tenant_id);
  if (state ->> 'paused')::boolean then
    perform app.alert_once(conv.tenant_id, 'agents_paused', now() - interval '1 day',
      jsonb_build_object('reason', state ->> 'pause_reason', 'conversation_id', conv.id));
    return jsonb_build_object('allowed', false, 'reason', 'paused', 'pause_reason', state ->> 'pause_reason',
      'message', null, 'notice_message_id', null);
  end if;

  if state ->> 'monthly_messages' is not null then
    -- As of this message: the count ingest recorded when it admitted it (app.reply_jobs); a
    -- job queued before that was recorded is held to this month's count.
    select r.plan_messages into used from app.reply_jobs r where r.message_id = inbound.id;
    if used is null or app.usage_period(inbound.created_at) <> app.usage_period(now()) then
      used := (app.billing_usage(conv.tenant_id) ->> 'messages')::bigint;
    end if;
    allowed := (state ->> 'monthly_messages')::bigint;
    if used > allowed then
      reason := 'monthly_messages';
    end if;
  end if;
  if reason is null and state ->> 'monthly_tokens' is not null then
    usage := app.billing_usage(conv.tenant_id);
    used := (usage ->> 'tokens')::bigint;
    allowed := (state ->> 'monthly_tokens')::bigint;
    if used >= allowed then
      reason := 'monthly_tokens';
    end if;
  end if;
  if reason is null then
    return jsonb_build_object('allowed', true, 'reason', null, 'pause_reason', null, 'message', null,
      'notice_message_id', null);
  end if;

  notice := api.record_reply(conv.tenant_id, conv.id, app.plan_limit_text(), enforce_reply_entitlement.idempotency_key,
    coalesce(enforce_reply_entitlement.agent_id, conv.agent_id), '[]'::jsonb,
    jsonb_build_object('mode', 'plan_limit', 'limit', reason, 'in_reply_to', inbound.id),
    'system');
  perform app.alert_once(conv.tenant_id, 'plan_limit_reached', date_trunc('month', now()),
    jsonb_build_object('limit', reason, 'used', used, 'allowed', allowed, 'plan_key', state ->> 'plan_key'));
  return jsonb_build_object('allowed', false, 'reason', reason, 'pause_reason', null, 'used', used, 'limit', allowed,
    'message', app.plan_limit_text(), 'notice_message_id', notice ->> 'message_id',
    'duplicate', coalesce((notice ->> 'duplicate')::boolean, false));
end
$$;
comment on function api.enforce_reply_entitlement(uuid, uuid, uuid, text, uuid) is 'For the agent worker when api.check_entitlement refused a queued reply: decides for this message (suspended, messages counted as of it, this month''s tokens, paused) and does what api.ingest_message does on refusal. Suspended by a platform admin: the polite suspended notice (app.billing_refusal) recorded once under idempotency_key for the worker to deliver, no alert. Paused: alert.agents_paused once a day, nothing recorded. Over a monthly limit: the polite system notice (app.plan_limit_text) recorded once under idempotency_key for the worker to deliver, alert.plan_limit_reached once a month. Returns {allowed, reason: suspended|paused|monthly_messages|monthly_tokens, pause_reason, used, limit, message, notice_message_id, duplicate}. service_role.';

revoke all on function api.enforce_reply_entitlement(uuid, uuid, uuid, text, uuid) from public, anon, authenticated;
grant execute on function api.enforce_reply_entitlement(uuid, uuid, uuid, text, uuid) to service_role;
