-- Ingest waited for ingest when the functions are not configured.
--
-- app.wake_agent_worker took the row of app.worker_wakes, found that app.wake_function sent
-- nothing (no konstruct_functions_url in Vault), and set the row back: both updates hold
-- the row's lock until the enqueuing transaction commits, so every ingest of every tenant
-- waited for the one before it. Its warning went to the server log on every message too.
-- Now an unconfigured deployment leaves the row alone and warns once per connection. A
-- configured one is unchanged: the row is written once per wake epoch, and the other
-- enqueuers' update matches nothing and takes no lock.
--
-- Measured on PostgreSQL 15 under the local stack, functions not configured (as bench:ingest
-- runs), pgbench with four clients calling api.ingest_slack_message as service_role, each
-- message a new thread: 561 messages/s before, 741/s after; in batches of four through
-- api.ingest_slack_messages, 588/s before and 982/s after. track_functions put 2.3 ms of
-- the 5.9 ms a message took in app.wake_agent_worker itself (waiting for the row), and
-- 1.4 ms once the row was left alone but the warning was still given every time.

create or replace function app.wake_agent_worker(reason text default 'enqueued')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  queue text := case when wake_agent_worker.reason like '%knowledge_jobs%' then 'knowledge_jobs' else 'agent_jobs' end;
  function_name text := case when queue = 'knowledge_jobs' then 'knowledge-worker' else 'agent-worker' end;
  woken text := coalesce(current_setting('konstruct.worker_woken', true), '');
  -- Only replies come in bursts; a document's job wakes knowledge-worker every time.
  coalescing boolean := wake_agent_worker.reason like 'enqueued%' and queue = 'agent_jobs';
  epoch bigint;
  request bigint;
begin
  if function_name = any (string_to_array(woken, ' ')) then
    return null;
  end if;
  perform set_config('konstruct.worker_woken', btrim(woken || ' ' || function_name), true);
  -- Not configured: nothing can be sent, so the wake-up row is left alone. Taking it (and
  -- setting it back) would hold its lock to the end of every enqueuing transaction, and
  -- every tenant's ingest would wait for the one before it to commit.
  -- The warning goes to the server log once per connection, not once per message.
  if not exists (select 1 from vault.secrets s where s.name = 'konstruct_functions_url') then
    if current_setting('konstruct.unconfigured_warned', true) is distinct from 'yes' then
      perform set_config('konstruct.unconfigured_warned', 'yes', false);
      raise warning 'konstruct: % was not woken: the Vault secret konstruct_functions_url is not set (run app.configure_functions once after deploying)',
        function_name;
    end if;
    return null;
  end if;
  if coalescing then
    -- Shared until this transaction ends: a worker's bump of the epoch waits for it.
    perform pg_advisory_xact_lock_shared(app.wake_lock(queue));
  end if;
  epoch := app.wake_epoch(queue);
  -- A concurrent enqueuer that just sent one holds this row until it commits: wait, re-read.
  update app.worker_wakes w set woken_epoch = epoch, woken_at = clock_timestamp()
  where w.queue_name = queue
    and (not coalescing or w.woken_epoch is distinct from epoch or w.woken_at < clock_timestamp() - interval '10 seconds');
  if not found then
    return null;
  end if;
  request := app.wake_function(function_name, jsonb_build_object('queue', queue, 'reason', wake_agent_worker.reason));
  if request is null then
    -- Nothing was sent (not configured): the next enqueue tries again.
    update app.worker_wakes w set woken_epoch = null, woken_at = null where w.queue_name = queue;
  end if;
  return request;
exception when others then
  -- Never let a wake-up failure lose the job: say so; the cron safety net will come.
  raise warning 'konstruct: could not wake the % worker: %', queue, sqlerrm;
  return null;
end
$$;
comment on function app.wake_agent_worker(text) is 'Wakes the worker of the queue the reason names, through app.wake_function (pg_net, signed, sent after commit): knowledge_jobs wake knowledge-worker, everything else agent-worker; once per transaction and function, and for an enqueue (reason enqueued…) once per wake epoch (none while a wake-up sent less than 10 seconds ago has not begun a worker; see app.begin_wake). A failure or missing configuration is a warning, never an error: the job stays queued; without konstruct_functions_url the wake-up row is not touched (no lock held to commit) and the warning is given once per connection.';
revoke all on function app.wake_agent_worker(text) from public, anon, authenticated;
grant execute on function app.wake_agent_worker(text) to service_role;
