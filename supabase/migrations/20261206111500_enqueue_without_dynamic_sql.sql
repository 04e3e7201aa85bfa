-- app.enqueue_job writes the job into its queue's table with a statement planned once.
--
-- Profiled on a native PostgreSQL 15 (pg_stat_statements with track = all, track_functions):
-- every answered inbound message enqueues its reply job, and pgmq.send took 0.10 ms of it,
-- of which its insert was 0.02 ms. pgmq.send(queue, message) calls its four-argument form,
-- which checks the queue's name and builds its INSERT as text for EXECUTE: parsed and
-- planned on every call. The two queues are fixed (agent_jobs, knowledge_jobs), so this
-- inserts into pgmq.q_agent_jobs / pgmq.q_knowledge_jobs as pgmq.send does (vt = now as the
-- clock reads, the other columns their defaults; the same columns in pgmq 1.4, which hosted
-- projects run, and later versions), from PL/pgSQL that keeps its plans. The project already
-- reads these tables directly (app.wake_workers_if_pending) and grants on them in
-- 20261201000400_queues_and_wakeups. Same checks, same job ids, same wake-up.

create or replace function app.enqueue_job(queue_name text, job jsonb)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  job_id bigint;
begin
  if queue_name not in ('agent_jobs', 'knowledge_jobs') then
    raise exception 'unknown queue %', queue_name using errcode = '22023';
  end if;
  if job ->> 'tenant_id' is null then
    raise exception 'a job must carry its tenant_id' using errcode = '22023';
  end if;
  if queue_name = 'agent_jobs' then
    insert into pgmq.q_agent_jobs (vt, message) values (clock_timestamp(), enqueue_job.job) returning msg_id into job_id;
  else
    insert into pgmq.q_knowledge_jobs (vt, message) values (clock_timestamp(), enqueue_job.job) returning msg_id into job_id;
  end if;
  perform app.wake_agent_worker('enqueued:' || queue_name);
  return job_id;
end
$$;
