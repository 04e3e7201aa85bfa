-- Group commit for Slack's webhook: api.ingest_slack_messages stores several Slack messages
-- in one call and one transaction, each as api.ingest_slack_message would alone.
--
-- slack-events acknowledges every event only after it is stored. Under a burst, a
-- function instance sends the events that arrived while its previous call was in flight
-- together (shared/api/group-calls.ts), so a busy workspace pays one request, one
-- transaction and one worker wake-up for many messages instead of one each.
--
-- - Each event runs in its own subtransaction: an event that fails (a message the
--   database cannot store, a disabled connection) reports its SQLSTATE and message in its
--   own answer, and the others are stored all the same.
-- - Events are stored in the order of (team, thread, arrival), so two calls holding the
--   same conversations lock them in the same order; answers come back in the order the
--   events were sent. Two calls can still deadlock on other rows (two new users of one
--   workspace, each in both calls): PostgreSQL then fails one event with 40P01, its caller
--   answers Slack 503, and Slack delivers it again.
-- - The worker is woken once, after the last event, not at the first enqueue: the wake-up
--   row (app.worker_wakes) is then taken last, after every conversation, and held for the
--   shortest time.
-- - At most 12 events a call: each event takes about three subtransaction ids (its own
--   block and those of its realtime broadcasts), and a transaction with more than 64 makes
--   every session's visibility checks slower on PostgreSQL 15.
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
  woken_before text := coalesce(current_setting('konstruct.worker_woken', true), '');
  stored boolean := false;
begin
  if jsonb_typeof(events) is distinct from 'array' then
    raise exception 'events must be a JSON array' using errcode = '22023';
  end if;
  if jsonb_array_length(events) > 12 then
    raise exception 'at most 12 events in one call, got %', jsonb_array_length(events) using errcode = '22023';
  end if;
  -- No event wakes the worker on its own (see app.wake_agent_worker): once, after the loop.
  perform set_config('konstruct.worker_woken', btrim(woken_before || ' agent-worker'), true);
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
      answers[event.position] := jsonb_build_object('ok', true, 'result', api.ingest_slack_message(
        event.value ->> 'team_id',
        event.value ->> 'bot_user_id',
        coalesce((event.value ->> 'known_thread_only')::boolean, false),
        event.value ->> 'external_id',
        event.value ->> 'thread_key',
        event.value ->> 'external_user_id',
        event.value ->> 'text',
        coalesce(event.value -> 'channel_context', '{}'::jsonb),
        coalesce(event.value -> 'metadata', '{}'::jsonb)));
      stored := stored or coalesce(answers[event.position] -> 'result' ->> 'outcome' = 'ingested', false);
    exception when others then
      get stacked diagnostics failed_code = returned_sqlstate, failed_message = message_text;
      answers[event.position] := jsonb_build_object('ok', false, 'code', failed_code, 'message', failed_message);
    end;
  end loop;
  perform set_config('konstruct.worker_woken', woken_before, true);
  if stored then
    perform app.wake_agent_worker('enqueued:agent_jobs');
  end if;
  return to_jsonb(answers);
end
$$;
comment on function api.ingest_slack_messages(jsonb) is 'slack-events'' group commit: stores up to 12 Slack messages in one transaction, each given as an object of api.ingest_slack_message''s arguments, each in its own subtransaction (stored in team, thread, arrival order). Returns one answer per event, in the order sent, as api.finish_replies does: {"ok": true, "result": api.ingest_slack_message''s answer} or {"ok": false, "code": SQLSTATE, "message": ...} when that event failed and nothing of it was stored. Wakes the agent worker once, after the last message. 22023 when events is not an array or holds more than 12. service_role.';

revoke all on function api.ingest_slack_messages(jsonb) from public, anon, authenticated;
grant execute on function api.ingest_slack_messages(jsonb) to service_role;
