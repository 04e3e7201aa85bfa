-- A delivery that gives up records the admins' alert and the message's final status in one
-- transaction: api.settle_delivery takes the alert with the status.
--
-- The worker recorded the alert (api.record_audit), then marked the message undeliverable
-- (api.settle_delivery), in two calls so that whoever saw the status found the alert too.
-- When the second call failed, the job was retried, the channel refused again, and the
-- alert was recorded a second time. In one call both are stored or neither is, so a retry
-- records the alert once, and the status is never seen without it.
drop function api.settle_delivery(uuid, uuid, text, text, text, text, bigint);

create function api.settle_delivery(tenant_id uuid, message_id uuid, status text, external_id text default null,
  error text default null, queue_name text default null, job_id bigint default null, alert jsonb default null)
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
       or coalesce(settle_delivery.alert ->> 'action', '') not like 'alert.%'
       or jsonb_typeof(coalesce(settle_delivery.alert -> 'details', '{}'::jsonb)) is distinct from 'object' then
      raise exception 'alert must be an object with an action starting with alert. and object details'
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
comment on function api.settle_delivery(uuid, uuid, text, text, text, text, bigint, jsonb) is 'A sender''s outcome and its job''s end in one transaction: api.set_delivery_status, the alert when given ({action: ''alert.…'', entity_type, entity_id, details}, as api.record_audit), then, when the message was sent and a job is named, api.complete_job. Returns {message_id, delivery_status, completed}. 22023 for a malformed alert. service_role.';
revoke all on function api.settle_delivery(uuid, uuid, text, text, text, text, bigint, jsonb) from public, anon, authenticated;
grant execute on function api.settle_delivery(uuid, uuid, text, text, text, text, bigint, jsonb) to service_role;
