-- api.ingest_slack_messages (20261208100000) bounded each lock wait of an event by 1 s and by
-- what was left of the call's 2 s, but never under 100 ms. So a call whose events sat in many
-- locked threads ran past its 2 s: twelve of them waited 1 s + 1 s + 10 × 100 ms, about 3 s in
-- the database alone, which is all Slack gives the whole ack.
--
-- Once the 2 s are spent, a later event may wait 1 ms for a lock: an event nobody holds up is
-- stored as before (it waits for nothing), and one behind a lock fails at once with 55P03, so
-- the call ends near 2 s however many of its threads are locked. Everything else is as in
-- 20261208100000: the thread order, Slack's last delivery waiting without a bound, the wake-up.
create or replace function api.ingest_slack_messages(events jsonb)
returns jsonb
language plpgsql
set search_path = ''
set lock_timeout = '1s'
as $$
declare
  answers jsonb[];
  event record;
  failed_code text;
  failed_message text;
  woken_before text := coalesce(current_setting('konstruct.worker_woken', true), '');
  started timestamptz := clock_timestamp();
  thread text;
  failed_thread text;
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
    thread := (event.value ->> 'team_id') || ' ' || (event.value ->> 'thread_key');
    if thread = failed_thread then
      answers[event.position] := jsonb_build_object('ok', false, 'code', failed_code,
        'message', 'not tried: an earlier message of its thread in this call failed: ' || failed_message);
      continue;
    end if;
    perform set_config('lock_timeout',
      case when jsonb_typeof(event.value -> 'metadata' -> 'slack_retry_num') = 'number'
             and (event.value -> 'metadata' ->> 'slack_retry_num')::numeric >= 3 then '0'
      else least(1000, greatest(1, 2000 - (extract(epoch from clock_timestamp() - started) * 1000)::int))::text || 'ms'
      end, true);
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
      if failed_code in ('55P03', '40P01') then
        failed_thread := thread;
      end if;
    end;
  end loop;
  perform set_config('konstruct.worker_woken', woken_before, true);
  if stored then
    perform set_config('lock_timeout', '1s', true);
    perform app.wake_agent_worker('enqueued:agent_jobs');
  end if;
  return to_jsonb(answers);
end
$$;
comment on function api.ingest_slack_messages(jsonb) is 'slack-events'' group commit: stores up to 12 Slack messages in one transaction, each given as an object of api.ingest_slack_message''s arguments, each in its own subtransaction (stored in team, thread, arrival order). Returns one answer per event, in the order sent, as api.finish_replies does: {"ok": true, "result": api.ingest_slack_message''s answer} or {"ok": false, "code": SQLSTATE, "message": ...} when that event failed and nothing of it was stored. Each lock wait of an event is bounded by 1 s and by what is left of the call''s 2 s; once those 2 s are spent, an event may wait 1 ms (55P03 past it; the later events of its thread then fail unrun with the same code), except on Slack''s last delivery (metadata.slack_retry_num 3). Wakes the agent worker once, after the last message. 22023 when events is not an array or holds more than 12. service_role.';
