-- Documents are read apart from the replies (issue 14): knowledge_jobs wake
-- functions/knowledge-worker, agent_jobs wake functions/agent-worker. Supabase gives each
-- function its own isolate and memory, so a hostile upload (a decompression bomb) can at
-- worst take the knowledge worker down, while customers keep being answered.
--
-- app.wake_agent_worker keeps its name and signature (app.enqueue_job and the safety net
-- call it): the reason names the queue ('enqueued:knowledge_jobs', 'cron:agent_jobs'), and
-- that picks the function. Each function is woken once per transaction; the setting
-- konstruct.worker_woken lists those already woken (reset it to '' to wake them again).

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
begin
  if function_name = any (string_to_array(woken, ' ')) then
    return null;
  end if;
  perform set_config('konstruct.worker_woken', btrim(woken || ' ' || function_name), true);
  return app.wake_function(function_name, jsonb_build_object('queue', queue, 'reason', wake_agent_worker.reason));
exception when others then
  -- Never let a wake-up failure lose the job: say so; the cron safety net will come.
  raise warning 'konstruct: could not wake the % worker: %', queue, sqlerrm;
  return null;
end
$$;
comment on function app.wake_agent_worker(text) is 'Wakes the worker of the queue the reason names, through app.wake_function (pg_net, signed, sent after commit), once per transaction and function: knowledge_jobs wake knowledge-worker, everything else agent-worker. A failure or missing configuration is a warning, never an error: the job stays queued.';

create or replace function app.wake_workers_if_pending()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  request bigint;
begin
  if exists (select 1 from pgmq.q_agent_jobs q where q.vt <= now()) then
    request := app.wake_agent_worker('cron:agent_jobs');
  end if;
  if exists (select 1 from pgmq.q_knowledge_jobs q where q.vt <= now()) then
    request := coalesce(app.wake_agent_worker('cron:knowledge_jobs'), request);
  end if;
  return request;
end
$$;
comment on function app.wake_workers_if_pending() is 'The pg_cron safety net: wakes agent-worker when an agent job is visible and knowledge-worker when a knowledge job is; nothing when both queues are idle.';

revoke all on function app.wake_agent_worker(text), app.wake_workers_if_pending() from public, anon, authenticated;
grant execute on function app.wake_agent_worker(text), app.wake_workers_if_pending() to service_role;
