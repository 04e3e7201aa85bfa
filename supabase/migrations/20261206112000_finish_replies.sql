-- Several replies finished in one call (issue 11, pipeline throughput): the worker runs the
-- replies of a claimed batch side by side, and each ended with its own api.finish_reply, a
-- request through the Data API and a transaction of its own (about one in every two of the
-- pipeline's calls in a burst). api.finish_replies takes the replies that are ready at the
-- same moment and finishes each exactly as api.finish_reply does, in one transaction.
--
-- Each reply runs in a subtransaction of its own: one that fails (another tenant's
-- conversation or job, a deleted conversation, a bad argument) records nothing and is
-- reported with its SQLSTATE, while the others are kept. Its job then retries as it would
-- after a failed finish_reply; what a reply writes is keyed (the reply's idempotency key,
-- each usage record's), so a retry never counts or writes anything twice.
--
-- The replies are finished in the order of their agent and conversation (the answer keeps the
-- order they came in), so two batches that share agents take the agent's usage row and the
-- conversations' rows in the same order and never wait for each other in a circle.

create function api.finish_replies(replies jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  item record;
  finished jsonb;
  outcomes jsonb[];
  failure_code text;
  failure_message text;
begin
  if jsonb_typeof(finish_replies.replies) is distinct from 'array' then
    raise exception 'replies must be an array of finish_reply arguments' using errcode = '22023';
  end if;
  if jsonb_array_length(finish_replies.replies) > 50 then
    raise exception 'at most 50 replies in one call' using errcode = '22023';
  end if;
  outcomes := array_fill(null::jsonb, array[jsonb_array_length(finish_replies.replies)]);
  for item in
    select r.value, r.position::integer as position
    from jsonb_array_elements(finish_replies.replies) with ordinality r(value, position)
    order by r.value #>> '{reply,agent_id}', r.value ->> 'conversation_id', r.position
  loop
    begin
      if jsonb_typeof(item.value) is distinct from 'object' then
        raise exception 'each reply must be an object of finish_reply arguments' using errcode = '22023';
      end if;
      finished := api.finish_reply((item.value ->> 'tenant_id')::uuid, (item.value ->> 'conversation_id')::uuid,
        item.value -> 'reply', coalesce(item.value -> 'usage', '[]'::jsonb), coalesce(item.value -> 'audit', '[]'::jsonb),
        coalesce((item.value ->> 'model_ok')::boolean, false), coalesce((item.value ->> 'lease_seconds')::integer, 60),
        coalesce((item.value ->> 'sent_on_record')::boolean, false), item.value ->> 'queue_name',
        (item.value ->> 'job_id')::bigint);
      outcomes[item.position] := jsonb_build_object('ok', true, 'finished', finished);
    exception when others then
      get stacked diagnostics failure_code = returned_sqlstate, failure_message = message_text;
      outcomes[item.position] := jsonb_build_object('ok', false, 'code', failure_code, 'message', failure_message);
    end;
  end loop;
  return to_jsonb(outcomes);
end
$$;
comment on function api.finish_replies(jsonb) is 'Several replies finished in one transaction: replies is an array (at most 50) of api.finish_reply''s arguments as objects {tenant_id, conversation_id, reply, usage, audit, model_ok, lease_seconds, sent_on_record, queue_name, job_id}; each is finished exactly as api.finish_reply does, in a subtransaction of its own, in the order of its agent and conversation. Returns one outcome per reply, in the order given: {ok: true, finished: <finish_reply''s result>} or {ok: false, code: <SQLSTATE>, message}; a failed reply (another tenant''s conversation or job: 42501) records nothing and leaves the others. service_role.';
revoke all on function api.finish_replies(jsonb) from public, anon, authenticated;
grant execute on function api.finish_replies(jsonb) to service_role;
