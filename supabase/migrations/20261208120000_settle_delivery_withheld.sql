-- An answer withheld because a member took over records its audit entry in the same
-- transaction as its undeliverable status, as a delivery that gives up records its alert
-- (20261208110000).
--
-- The worker wrote agent.reply_withheld (api.record_audit), then the status
-- (api.settle_delivery), in two calls. When the second failed, the job was retried, found
-- the conversation still taken over, and wrote the audit entry a second time. The entry
-- that explains the status now goes with it: settle_delivery's alert argument also takes
-- the action agent.reply_withheld. Same signature, so callers are unchanged.
create or replace function api.settle_delivery(tenant_id uuid, message_id uuid, status text,
  external_id text default null, error text default null, queue_name text default null, job_id bigint default null,
  alert jsonb default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  completed boolean := false;
begin
  perform api.set_delivery_status(settle_delivery.tenant_id, settle_delivery.message_id, settle_delivery.status,
    settle_delivery.external_id, settle_delivery.error);
  -- After the status: api.set_delivery_status has refused another tenant's message by now.
  if settle_delivery.alert is not null then
    if jsonb_typeof(settle_delivery.alert) is distinct from 'object'
       or not (coalesce(settle_delivery.alert ->> 'action', '') like 'alert.%'
               or coalesce(settle_delivery.alert ->> 'action', '') = 'agent.reply_withheld')
       or jsonb_typeof(coalesce(settle_delivery.alert -> 'details', '{}'::jsonb)) is distinct from 'object' then
      raise exception 'alert must be an object with object details and an action starting with alert. (or agent.reply_withheld)'
        using errcode = '22023';
    end if;
    perform api.record_audit(settle_delivery.tenant_id, settle_delivery.alert ->> 'action',
      settle_delivery.alert ->> 'entity_type', settle_delivery.alert ->> 'entity_id',
      coalesce(settle_delivery.alert -> 'details', '{}'::jsonb));
  end if;
  -- A failed send is retried by the job: only a message sent completes it.
  if settle_delivery.job_id is not null and settle_delivery.status = 'sent' then
    completed := api.complete_job(settle_delivery.queue_name, settle_delivery.job_id, settle_delivery.tenant_id);
  end if;
  return jsonb_build_object('message_id', settle_delivery.message_id, 'delivery_status', settle_delivery.status,
    'completed', completed);
end
$$;
comment on function api.settle_delivery(uuid, uuid, text, text, text, text, bigint, jsonb) is 'A sender''s outcome and its job''s end in one transaction: api.set_delivery_status, the audit entry that explains it when given ({action: ''alert.…'' or ''agent.reply_withheld'', entity_type, entity_id, details}, as api.record_audit), then, when the message was sent and a job is named, api.complete_job. Returns {message_id, delivery_status, completed}. 22023 for a malformed entry. service_role.';
