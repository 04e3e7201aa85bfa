-- Which inbound messages ingest queued a reply job for, so the worker's "several quick
-- messages get one answer" rule only defers to a newer message that is itself answered.
--
-- The worker answers a burst once: a reply job is skipped ('superseded') when a newer
-- inbound message of the conversation will be answered by its own job. Before this, any
-- newer inbound message superseded it, including one that ingest gave no job (over the
-- inbound rate limit, billing paused or over plan, a human handling it): then nobody
-- answered the admitted message. app.answer_inbound (step 5 of api.ingest_message, defined
-- here) records each reply job it queues in app.reply_jobs (a row of its own rather than a
-- column on app.messages, whose updates are broadcast), and api.reply_superseded_by says
-- whether a newer answered message exists.

create table app.reply_jobs (
  message_id uuid primary key references app.messages (id) on delete cascade,
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  job_id bigint not null,
  queued_at timestamptz not null default now(),
  -- The tenant's admitted inbound messages of the month when this one was admitted, itself
  -- included: the worker's plan check counts as of this message (api.enforce_reply_entitlement).
  plan_messages bigint
);
create index reply_jobs_tenant_idx on app.reply_jobs (tenant_id);
comment on table app.reply_jobs is 'The inbound messages ingest queued an agent_jobs reply job for (app.answer_inbound), with the job id: a message with a row here is (or was) answered by its own job; one without was stored but not answered (rate limited, billing, a human has it). Read by api.reply_superseded_by. service_role only.';

alter table app.reply_jobs enable row level security;
alter table app.reply_jobs force row level security;
grant select, insert, delete on app.reply_jobs to service_role;

-- Reply jobs already waiting when this migration runs.
insert into app.reply_jobs (message_id, tenant_id, job_id, queued_at)
select m.id, m.tenant_id, q.msg_id, q.enqueued_at
from pgmq.q_agent_jobs q
join app.messages m on m.id::text = q.message ->> 'message_id' and m.direction = 'in'
where q.message ->> 'kind' = 'reply'
on conflict (message_id) do nothing;

-- Answering ------------------------------------------------------------------------------------
-- Step 5 of api.ingest_message (20261126007500_inbound_rate_limit.sql): the rate limit and
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

-- Superseding ----------------------------------------------------------------------------------

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
  select m.id into newer
  from app.messages m join app.reply_jobs r on r.message_id = m.id
  where m.conversation_id = conv.id and m.direction = 'in' and m.seq > after_seq
  order by m.seq desc limit 1;
  return newer;
end
$$;
comment on function api.reply_superseded_by(uuid, uuid, uuid) is 'For the agent worker''s reply job of an inbound message: the newest later inbound message of the conversation that ingest queued a reply job for (app.reply_jobs), whose answer will cover this one too; null when there is none — a later message stored without a job (rate limited, billing, a human has it) never supersedes. 42501 if the conversation is another tenant''s. service_role.';

revoke all on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid) from public, anon, authenticated;
revoke all on function api.reply_superseded_by(uuid, uuid, uuid) from public, anon, authenticated;
grant execute on function app.answer_inbound(uuid, uuid, text, uuid, uuid, uuid) to service_role;
grant execute on function api.reply_superseded_by(uuid, uuid, uuid) to service_role;
