-- Queues and wake-ups: the pgmq job queues, and waking the edge functions from the
-- database with no key in any readable row.
--
-- Queues: agent_jobs (answer an inbound message, deliver a reply, distil memories, notify
-- a hand-off) and knowledge_jobs (extract, chunk and embed a knowledge source). Only the
-- api functions here touch them: app.enqueue_job (and api.enqueue_job, api.schedule_job
-- for delayed jobs), api.claim_jobs, api.complete_job, api.fail_job, each checking that a
-- job belongs to the tenant it is claimed for.
--
-- Wake-ups: every enqueue wakes the worker through app.wake_agent_worker, once per
-- transaction, so a job does not wait for the safety net; the body names the queue, and
-- the worker drains that queue first. pg_net queues each request in
-- net.http_request_queue, which every role can read, and runs as its caller; so a wake-up
-- carries no key or secret, only a short-lived signature:
--
--   x-konstruct-signature: t=<unix seconds>,v1=<hex hmac-sha256(worker secret, t || '.' || body)>
--
-- which agent-worker and stripe-meter check against KONSTRUCT_WORKER_SECRET (a 5-minute
-- window). Where the functions are and the worker secret are two Vault secrets, set once
-- after deploying (as Supabase documents for cron -> functions), by the database owner:
--
--   select app.configure_functions('https://<project-ref>.supabase.co/functions/v1', '<worker secret>');
--
-- The local stack calls it on start. app.wake_function reads both secrets inside a narrow
-- security-definer function; without them it warns (each time) and wakes nothing.
--
-- Safety net: pg_cron wakes the worker when a job of either queue is visible (a retry
-- whose backoff ran out, a delayed job, a lost wake-up). The interval is the app.settings
-- key worker_safety_net_schedule ('30 seconds' by default);
-- app.schedule_worker_safety_net() applies it and is safe to run again.

create schema if not exists pgmq;

create extension if not exists pgmq with schema pgmq;

select pgmq.create('agent_jobs');

select pgmq.create('knowledge_jobs');

grant usage on schema pgmq to service_role;

grant select, insert, update, delete on pgmq.q_agent_jobs, pgmq.a_agent_jobs, pgmq.q_knowledge_jobs, pgmq.a_knowledge_jobs
  to service_role;

create function app.check_queue(queue_name text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if queue_name is null or queue_name not in ('agent_jobs', 'knowledge_jobs') then
    raise exception 'unknown queue %', queue_name using errcode = '22023';
  end if;
end
$$;
comment on function app.check_queue(text) is 'Raises 22023 unless the queue is one of Konstruct''s (agent_jobs, knowledge_jobs).';
revoke all on function app.check_queue(text) from public, anon, authenticated;
grant execute on function app.check_queue(text) to service_role;

create function app.job_message(queue_name text, job_id bigint)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  result jsonb;
begin
  perform app.check_queue(queue_name);
  execute format('select message from pgmq.%I where msg_id = $1', 'q_' || queue_name) into result using job_id;
  return result;
end
$$;
comment on function app.job_message(text, bigint) is 'The payload of a job still in its queue, or null.';
revoke all on function app.job_message(text, bigint) from public, anon, authenticated;
grant execute on function app.job_message(text, bigint) to service_role;

create function app.job_read_count(queue_name text, job_id bigint)
returns integer
language plpgsql
stable
set search_path = ''
as $$
declare
  result integer;
begin
  perform app.check_queue(queue_name);
  execute format('select read_ct from pgmq.%I where msg_id = $1', 'q_' || queue_name) into result using job_id;
  return result;
end
$$;
comment on function app.job_read_count(text, bigint) is 'How many times a job was read (claimed), or null when it is gone.';
revoke all on function app.job_read_count(text, bigint) from public, anon, authenticated;
grant execute on function app.job_read_count(text, bigint) to service_role;

create function app.require_job_of_tenant(queue_name text, job_id bigint, tenant_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
  job jsonb := app.job_message(queue_name, job_id);
begin
  if job is not null and (job ->> 'tenant_id') is distinct from tenant_id::text then
    raise exception 'job % does not belong to tenant %', job_id, tenant_id using errcode = '42501';
  end if;
  return job;
end
$$;
comment on function app.require_job_of_tenant(text, bigint, uuid) is 'The job''s payload; raises 42501 when the job carries another tenant''s id; null when it is gone.';
revoke all on function app.require_job_of_tenant(text, bigint, uuid) from public, anon, authenticated;
grant execute on function app.require_job_of_tenant(text, bigint, uuid) to service_role;

create function api.claim_jobs(queue_name text default 'agent_jobs', batch_size integer default 10,
  visibility_timeout_seconds integer default 60)
returns table (job_id bigint, read_count integer, enqueued_at timestamptz, visible_at timestamptz, job jsonb)
language plpgsql
set search_path = ''
as $$
begin
  perform app.check_queue(claim_jobs.queue_name);
  return query
    select r.msg_id, r.read_ct, r.enqueued_at, r.vt, r.message
    from pgmq.read(claim_jobs.queue_name, greatest(coalesce(claim_jobs.visibility_timeout_seconds, 60), 1),
      least(greatest(coalesce(claim_jobs.batch_size, 10), 1), 100)) r;
end
$$;
comment on function api.claim_jobs(text, integer, integer) is 'Claims up to batch_size (1-100) visible jobs of agent_jobs or knowledge_jobs, hiding them for visibility_timeout_seconds; a job not completed in time becomes visible again (at-least-once). Each job carries tenant_id. service_role.';
revoke all on function api.claim_jobs(text, integer, integer) from public, anon;
grant execute on function api.claim_jobs(text, integer, integer) to service_role;

create function api.complete_job(queue_name text, job_id bigint, tenant_id uuid)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  job jsonb := app.require_job_of_tenant(complete_job.queue_name, complete_job.job_id, complete_job.tenant_id);
  deleted boolean;
begin
  if job is null then
    return false;
  end if;
  select d into deleted from pgmq.delete(complete_job.queue_name, complete_job.job_id) d;
  return coalesce(deleted, false);
end
$$;
comment on function api.complete_job(text, bigint, uuid) is 'Deletes a job once its effect is recorded; tenant_id must be the job''s (42501 otherwise). False when the job was already gone. service_role.';
revoke all on function api.complete_job(text, bigint, uuid) from public, anon;
grant execute on function api.complete_job(text, bigint, uuid) to service_role;

create function api.fail_job(queue_name text, job_id bigint, tenant_id uuid, error text default null,
  max_attempts integer default 5, base_delay_seconds integer default 10)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  job jsonb := app.require_job_of_tenant(fail_job.queue_name, fail_job.job_id, fail_job.tenant_id);
  attempts integer := app.job_read_count(fail_job.queue_name, fail_job.job_id);
  delay integer;
begin
  if job is null then
    return jsonb_build_object('outcome', 'gone');
  end if;
  if attempts >= greatest(coalesce(fail_job.max_attempts, 5), 1) then
    perform pgmq.archive(fail_job.queue_name, fail_job.job_id);
    perform app.write_audit(fail_job.tenant_id, 'job.dead_lettered', 'job', fail_job.queue_name || ':' || fail_job.job_id,
      jsonb_build_object('job', job, 'attempts', attempts, 'error', left(fail_job.error, 2000)));
    return jsonb_build_object('outcome', 'archived', 'attempts', attempts, 'job', job);
  end if;
  delay := least(greatest(coalesce(fail_job.base_delay_seconds, 10), 1) * power(2, greatest(attempts - 1, 0))::integer, 3600);
  perform pgmq.set_vt(fail_job.queue_name, fail_job.job_id, delay);
  return jsonb_build_object('outcome', 'retry', 'attempts', attempts, 'retry_in_seconds', delay);
end
$$;
comment on function api.fail_job(text, bigint, uuid, text, integer, integer) is 'Records a failed attempt: before max_attempts the job becomes visible again after base_delay_seconds * 2^(attempts-1) (at most an hour); at max_attempts it is archived (the dead-letter queue, pgmq.a_<queue>) and audited as job.dead_lettered. Returns {outcome: retry|archived|gone, ...}. tenant_id must be the job''s (42501). service_role.';
revoke all on function api.fail_job(text, bigint, uuid, text, integer, integer) from public, anon;
grant execute on function api.fail_job(text, bigint, uuid, text, integer, integer) to service_role;

create function api.enqueue_job(queue_name text, job jsonb)
returns bigint
language plpgsql
set search_path = ''
as $$
begin
  perform app.check_queue(enqueue_job.queue_name);
  if not exists (select 1 from app.tenants t where t.id::text = enqueue_job.job ->> 'tenant_id') then
    raise exception 'a job must carry an existing tenant_id' using errcode = '22023';
  end if;
  return app.enqueue_job(enqueue_job.queue_name, enqueue_job.job);
end
$$;
comment on function api.enqueue_job(text, jsonb) is 'Adds a job (with tenant_id) to agent_jobs or knowledge_jobs, e.g. to distil memories later. service_role.';
revoke all on function api.enqueue_job(text, jsonb) from public, anon;
grant execute on function api.enqueue_job(text, jsonb) to service_role;

create function app.configure_functions(functions_url text, worker_secret text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  wanted jsonb := jsonb_build_object(
    'konstruct_functions_url', rtrim(btrim(coalesce(configure_functions.functions_url, '')), '/'),
    'konstruct_worker_secret', coalesce(configure_functions.worker_secret, ''));
  secret record;
  secret_id uuid;
begin
  if wanted ->> 'konstruct_functions_url' !~ '^https?://[^/?#\s]+' then
    raise exception 'functions_url must be an http(s) URL, e.g. https://<project-ref>.supabase.co/functions/v1'
      using errcode = '22023';
  end if;
  if length(wanted ->> 'konstruct_worker_secret') < 32 then
    raise exception 'worker_secret must be at least 32 characters (e.g. openssl rand -hex 32)' using errcode = '22023';
  end if;
  if to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    raise exception 'pg_net is not enabled: run `create extension pg_net with schema extensions` first'
      using errcode = '55000';
  end if;
  for secret in select key as name, value from jsonb_each_text(wanted) loop
    select s.id into secret_id from vault.secrets s where s.name = secret.name;
    if secret_id is null then
      perform vault.create_secret(secret.value, secret.name, 'Konstruct: how the database wakes its edge functions');
    else
      perform vault.update_secret(secret_id, secret.value);
    end if;
  end loop;
end
$$;
comment on function app.configure_functions(text, text) is 'The deploy step: stores where the edge functions are (Vault konstruct_functions_url) and the secret wake-ups are signed with (Vault konstruct_worker_secret, also the functions'' KONSTRUCT_WORKER_SECRET). 22023 for a bad URL or a short secret; 55000 without pg_net. Database owner only.';
revoke all on function app.configure_functions(text, text) from public, anon, authenticated, service_role;

create function app.wake_function(function_name text, body jsonb)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  base_url text;
  secret text;
  signed_at text := floor(extract(epoch from clock_timestamp()))::bigint::text;
begin
  if wake_function.function_name !~ '^[a-z][a-z0-9-]*$' then
    raise exception 'not a function name: %', wake_function.function_name using errcode = '22023';
  end if;
  select max(d.decrypted_secret) filter (where d.name = 'konstruct_functions_url'),
         max(d.decrypted_secret) filter (where d.name = 'konstruct_worker_secret')
    into base_url, secret
  from vault.decrypted_secrets d
  where d.name in ('konstruct_functions_url', 'konstruct_worker_secret');
  if base_url is null or secret is null then
    raise warning 'konstruct: % was not woken: the Vault secrets konstruct_functions_url and konstruct_worker_secret are not set (run app.configure_functions once after deploying)',
      wake_function.function_name;
    return null;
  end if;
  -- pg_net sends convert_to(body::text, 'UTF8'): the signature covers exactly those bytes.
  return net.http_post(
    url := base_url || '/' || wake_function.function_name,
    body := wake_function.body,
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'x-konstruct-signature', 't=' || signed_at || ',v1=' || encode(extensions.hmac(
        convert_to(signed_at || '.' || wake_function.body::text, 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'), 'hex')
    ),
    -- The worker answers when its batch is done (up to the Edge Functions' 150 s wall
    -- clock); pg_net must not hang up first.
    timeout_milliseconds := 150000
  );
end
$$;
comment on function app.wake_function(text, jsonb) is 'Posts body to <konstruct_functions_url>/<function_name> through pg_net (sent after commit), signed with the Vault worker secret (header x-konstruct-signature: t=<unix>,v1=<hmac-sha256 of t.body>); the queued row holds no secret. Warns and returns null when the Vault secrets are missing. Internal.';
revoke all on function app.wake_function(text, jsonb) from public, anon, authenticated, service_role;

create function api.schedule_job(queue_name text, job jsonb, delay_seconds integer default 0)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  job_id bigint;
begin
  perform app.check_queue(schedule_job.queue_name);
  if not exists (select 1 from app.tenants t where t.id::text = schedule_job.job ->> 'tenant_id') then
    raise exception 'a job must carry an existing tenant_id' using errcode = '22023';
  end if;
  select s into job_id
  from pgmq.send(schedule_job.queue_name, schedule_job.job, least(greatest(coalesce(schedule_job.delay_seconds, 0), 0), 86400)) s;
  return job_id;
end
$$;
comment on function api.schedule_job(text, jsonb, integer) is 'Adds a job (with tenant_id) that becomes visible after delay_seconds (at most a day), e.g. distilling memories once a conversation has gone quiet. The safety net wakes the worker for it. service_role.';
revoke all on function api.schedule_job(text, jsonb, integer) from public, anon, authenticated;
grant execute on function api.schedule_job(text, jsonb, integer) to service_role;

create function app.wake_workers_if_pending()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select 1 from pgmq.q_agent_jobs q where q.vt <= now())
     or exists (select 1 from pgmq.q_knowledge_jobs q where q.vt <= now()) then
    return app.wake_agent_worker('cron');
  end if;
  return null;
end
$$;
comment on function app.wake_workers_if_pending() is 'The pg_cron safety net: wakes the worker (which drains agent_jobs, then knowledge_jobs) only when a job of either queue is visible.';
revoke all on function app.wake_workers_if_pending() from public, anon, authenticated;
grant execute on function app.wake_workers_if_pending() to service_role;

create function app.schedule_worker_safety_net(schedule text default null)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  wanted text := coalesce(
    nullif(btrim(schedule_worker_safety_net.schedule), ''),
    (select nullif(btrim(s.value), '') from app.settings s where s.key = 'worker_safety_net_schedule'),
    '30 seconds');
begin
  if not exists (select 1 from pg_namespace where nspname = 'cron') then
    return null;
  end if;
  -- cron.schedule with an existing name replaces that job's schedule and command.
  return cron.schedule('konstruct-agent-worker-safety-net', wanted, 'select app.wake_workers_if_pending()');
end
$$;
comment on function app.schedule_worker_safety_net(text) is 'Schedules (or reschedules) the worker safety net under one cron job name, with the given schedule, else app.settings worker_safety_net_schedule, else every 30 seconds. Idempotent.';
revoke all on function app.schedule_worker_safety_net(text) from public, anon, authenticated;
select app.schedule_worker_safety_net();

create function app.wake_agent_worker(reason text default 'enqueued')
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- 'enqueued:knowledge_jobs' wakes the worker for that queue first.
  queue text := case when wake_agent_worker.reason like '%knowledge_jobs%' then 'knowledge_jobs' else 'agent_jobs' end;
begin
  -- Once per transaction is enough: the worker drains both queues.
  if coalesce(current_setting('konstruct.worker_woken', true), '') = 'yes' then
    return null;
  end if;
  perform set_config('konstruct.worker_woken', 'yes', true);
  return app.wake_function('agent-worker', jsonb_build_object('queue', queue, 'reason', wake_agent_worker.reason));
exception when others then
  -- Never let a wake-up failure lose the job: say so; the cron safety net will come.
  raise warning 'konstruct: could not wake the agent worker: %', sqlerrm;
  return null;
end
$$;
comment on function app.wake_agent_worker(text) is 'Wakes agent-worker through app.wake_function (pg_net, signed, sent after commit), once per transaction, naming the queue to drain first (knowledge_jobs when the reason mentions it). A failure or missing configuration is a warning, never an error: the job stays queued.';
revoke all on function app.wake_agent_worker(text) from public, anon, authenticated;
grant execute on function app.wake_agent_worker(text) to service_role;

create function app.enqueue_job(queue_name text, job jsonb)
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
  select s into job_id from pgmq.send(queue_name, job) s;
  perform app.wake_agent_worker('enqueued:' || queue_name);
  return job_id;
end
$$;
comment on function app.enqueue_job(text, jsonb) is 'Sends a job (which must carry tenant_id) to agent_jobs or knowledge_jobs and wakes the worker for that queue. Internal: called by api functions after their own permission checks.';
revoke all on function app.enqueue_job(text, jsonb) from public, anon, authenticated;
grant execute on function app.enqueue_job(text, jsonb) to service_role;
