-- api.ingest_slack_messages (20261208090000) had no bound on how long its events wait for
-- locks. Slack gives up on an ack after 3 s and delivers again; one event stuck behind a lock
-- (an admin's long transaction on its conversation, a call of another instance holding its
-- thread) held every other event of the call, other tenants' included, and the calls queued
-- behind it, for as long as the lock lasted.
--
-- - The events of a call share 2 s of lock waits: each event may wait for what is left of
--   them, and at least 100 ms. An event that waits longer fails alone with 55P03 (its
--   caller answers 503 and Slack delivers it again; ingest dedupes the redelivery), and
--   the others are stored.
-- - A deadlock (deadlock_timeout, 1 s by default, comes first) is left as it was: the event
--   PostgreSQL picks fails with 40P01 and is delivered again. Trying it once more in the
--   same call would not help: the locks it waits for are held by earlier events of the other
--   call, which keeps them until that call commits.
-- - The caller's lock_timeout is set back after the loop.
create or replace function api.ingest_slack_messages(events jsonb)
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
  lock_timeout_before text := current_setting('lock_timeout');
  started timestamptz := clock_timestamp();
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
    -- What is left of the call's 2 s of lock waits, and at least 100 ms for each event.
    perform set_config('lock_timeout',
      greatest(100, 2000 - (extract(epoch from clock_timestamp() - started) * 1000)::int)::text || 'ms', true);
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
  perform set_config('lock_timeout', lock_timeout_before, true);
  if stored then
    perform app.wake_agent_worker('enqueued:agent_jobs');
  end if;
  return to_jsonb(answers);
end
$$;
comment on function api.ingest_slack_messages(jsonb) is 'slack-events'' group commit: stores up to 12 Slack messages in one transaction, each given as an object of api.ingest_slack_message''s arguments, each in its own subtransaction (stored in team, thread, arrival order). Returns one answer per event, in the order sent, as api.finish_replies does: {"ok": true, "result": api.ingest_slack_message''s answer} or {"ok": false, "code": SQLSTATE, "message": ...} when that event failed and nothing of it was stored. The events share 2 s of lock waits (at least 100 ms each; an event that waits longer fails alone with 55P03). Wakes the agent worker once, after the last message. 22023 when events is not an array or holds more than 12. service_role.';
