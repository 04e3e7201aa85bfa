-- Group commit for Slack's webhook: api.ingest_slack_messages stores several Slack messages
-- in one call and one transaction, each as api.ingest_slack_message would alone.
--
-- slack-events acknowledges every event only after it is stored. Under a burst, a
-- function instance sends the events that arrived while its previous call was in flight
-- together (shared/api/group-commit.ts), so a busy workspace pays one request, one
-- transaction and one worker wake-up for many messages instead of one each.
--
-- - Each event runs in its own subtransaction: an event that fails (a message the
--   database cannot store, a disabled connection) reports its SQLSTATE and message in its
--   own answer, and the others are stored all the same.
-- - Events are stored in the order of (team, thread, arrival), so two calls holding the
--   same conversations lock them in the same order instead of deadlocking; answers come
--   back in the order the events were sent.
-- - At most 20 events a call: every event's subtransaction takes a transaction id, and a
--   transaction that has more than 64 of them makes every session's visibility checks slower
--   on PostgreSQL 15.
create function api.ingest_slack_messages(events jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  answers jsonb[];
  event record;
  failed_code text;
  failed_message text;
begin
  if jsonb_typeof(events) is distinct from 'array' then
    raise exception 'events must be a JSON array' using errcode = '22023';
  end if;
  if jsonb_array_length(events) > 20 then
    raise exception 'at most 20 events in one call, got %', jsonb_array_length(events) using errcode = '22023';
  end if;
  answers := array_fill(null::jsonb, array[jsonb_array_length(events)]);
  for event in
    select e.value, e.ordinality as position
    from jsonb_array_elements(events) with ordinality e
    order by e.value ->> 'team_id', e.value ->> 'thread_key', e.ordinality
  loop
    begin
      if jsonb_typeof(event.value) is distinct from 'object' then
        raise exception 'each event must be a JSON object' using errcode = '22023';
      end if;
      answers[event.position] := jsonb_build_object('result', api.ingest_slack_message(
        event.value ->> 'team_id',
        event.value ->> 'bot_user_id',
        coalesce((event.value ->> 'known_thread_only')::boolean, false),
        event.value ->> 'external_id',
        event.value ->> 'thread_key',
        event.value ->> 'external_user_id',
        event.value ->> 'text',
        coalesce(event.value -> 'channel_context', '{}'::jsonb),
        coalesce(event.value -> 'metadata', '{}'::jsonb)));
    exception when others then
      get stacked diagnostics failed_code = returned_sqlstate, failed_message = message_text;
      answers[event.position] := jsonb_build_object('error',
        jsonb_build_object('code', failed_code, 'message', failed_message));
    end;
  end loop;
  return to_jsonb(answers);
end
$$;
comment on function api.ingest_slack_messages(jsonb) is 'slack-events'' group commit: stores up to 20 Slack messages in one transaction, each given as an object of api.ingest_slack_message''s arguments, each in its own subtransaction (stored in team, thread, arrival order). Returns one answer per event, in the order sent: {"result": api.ingest_slack_message''s answer} or {"error": {"code": SQLSTATE, "message": ...}} when that event failed and nothing of it was stored. 22023 when events is not an array or holds more than 20. service_role.';

revoke all on function api.ingest_slack_messages(jsonb) from public, anon, authenticated;
grant execute on function api.ingest_slack_messages(jsonb) to service_role;
