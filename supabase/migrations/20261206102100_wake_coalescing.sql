-- Wake-ups coalesced (issue 11): a burst of messages cost one pg_net request and one worker
-- invocation per message (app.wake_agent_worker woke once per transaction, and each
-- ingest is a transaction), most of which found their job already taken. Now a queue is
-- woken once per *wake epoch*: a wake-up sent and not yet begun covers every message queued
-- until a worker begins (its first claim), so a burst costs a wake-up per worker start, and
-- more workers start while the burst lasts.
--
-- State, per queue: a sequence, the epoch (app.<queue>_wake_epoch, bumped by each worker
-- as it begins), and app.worker_wakes.woken_epoch, the epoch a wake-up was last sent for
-- (with woken_at). An enqueue (app.wake_agent_worker with reason 'enqueued…') wakes the
-- worker only when no wake-up was sent in the current epoch, or the last one is stale (10
-- seconds without a worker beginning: a failed request, a function down). The safety net
-- and explicit wake-ups always send.
--
-- Why no message waits for a wake-up that never comes. Take a message M queued by a
-- transaction T that sends no wake-up because woken_epoch = e, the current epoch:
--   1. T read the epoch while holding the queue's advisory lock in shared mode, which it
--      keeps until it commits or rolls back. Enqueuers share it and never wait for each
--      other on it.
--   2. A worker begins by bumping the epoch (app.begin_wake) while holding that lock in
--      exclusive mode: the bump waits until every transaction that read the epoch has ended,
--      and is visible to everyone at once (sequences are not transactional). The lock is let
--      go right after the bump, so enqueuers wait at most that long. The worker's claim, the
--      next statement, takes a fresh snapshot.
--   3. woken_epoch = e was written by a transaction T0 that sent a wake-up: T's update of
--      that row waited for T0 to commit (a row lock), so T0's wake-up is on its way, and
--      its worker has not begun (else the epoch would be past e): when it does, the bump
--      of step 2 waits for T, and the claim that follows sees M.
--   If the epoch moved past e before T read it, T sends a wake-up itself (after commit, as
--   always). If T0's wake-up never arrives, the next enqueue after 10 seconds sends one,
--   and the pg_cron safety net wakes the worker whenever a job is visible. The argument
--   needs each statement's own snapshot (READ COMMITTED, as the Data API runs).

create sequence app.agent_jobs_wake_epoch;
create sequence app.knowledge_jobs_wake_epoch;
comment on sequence app.agent_jobs_wake_epoch is 'The agent_jobs wake epoch: bumped by each worker as it begins (app.begin_wake). Not transactional, on purpose.';
comment on sequence app.knowledge_jobs_wake_epoch is 'The knowledge_jobs wake epoch: bumped by each worker as it begins (app.begin_wake). Not transactional, on purpose.';
revoke all on sequence app.agent_jobs_wake_epoch, app.knowledge_jobs_wake_epoch from public, anon, authenticated;

create table app.worker_wakes (
  queue_name text primary key check (queue_name in ('agent_jobs', 'knowledge_jobs')),
  woken_epoch bigint,
  woken_at timestamptz
);
comment on table app.worker_wakes is 'Per queue: the wake epoch a wake-up was last sent for, and when. An enqueue in the same epoch sends none (app.wake_agent_worker); see the migration wake_coalescing for why no job is left waiting. Written by definer functions only.';
alter table app.worker_wakes enable row level security;
alter table app.worker_wakes force row level security;
revoke all on app.worker_wakes from public, anon, authenticated;
insert into app.worker_wakes (queue_name) values ('agent_jobs'), ('knowledge_jobs');

-- PL/pgSQL, like every helper on the enqueue path (see 20261206101000_counter_slots).
create function app.wake_lock(queue_name text)
returns bigint
language plpgsql
immutable
set search_path = ''
as $$
begin
  return pg_catalog.hashtext('konstruct.wake:' || wake_lock.queue_name)::bigint;
end
$$;
comment on function app.wake_lock(text) is 'The advisory lock key of a queue''s wake-ups: enqueuers hold it shared until they end, a worker beginning takes it exclusive for the bump of the epoch.';
revoke all on function app.wake_lock(text) from public, anon, authenticated;

create function app.wake_epoch(queue_name text)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  -- The sequence as it is now, whatever this transaction's snapshot. Until its first
  -- nextval a sequence shows its start value with is_called false: that is epoch 0, or the
  -- first worker's bump (to 1) would look like no bump at all and leave the next message
  -- without a wake-up.
  if wake_epoch.queue_name = 'knowledge_jobs' then
    return (select case when s.is_called then s.last_value else s.last_value - 1 end
      from app.knowledge_jobs_wake_epoch s);
  end if;
  return (select case when s.is_called then s.last_value else s.last_value - 1 end
    from app.agent_jobs_wake_epoch s);
end
$$;
comment on function app.wake_epoch(text) is 'A queue''s current wake epoch (the sequence''s last value, not a snapshot''s).';
revoke all on function app.wake_epoch(text) from public, anon, authenticated;

create function app.begin_wake(queue_name text)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  epoch bigint;
begin
  perform app.check_queue(begin_wake.queue_name);
  -- Waits for every enqueuer that read the epoch to end; held only for the bump.
  perform pg_advisory_lock(app.wake_lock(begin_wake.queue_name));
  begin
    epoch := case when begin_wake.queue_name = 'knowledge_jobs' then nextval('app.knowledge_jobs_wake_epoch')
      else nextval('app.agent_jobs_wake_epoch') end;
  exception when others then
    perform pg_advisory_unlock(app.wake_lock(begin_wake.queue_name));
    raise;
  end;
  perform pg_advisory_unlock(app.wake_lock(begin_wake.queue_name));
  return epoch;
end
$$;
comment on function app.begin_wake(text) is 'A worker begins: bumps the queue''s wake epoch once every enqueuer that read it has ended (advisory lock, exclusive, held for the bump only), so that its next claim sees their jobs and later enqueues wake a worker of their own.';
revoke all on function app.begin_wake(text) from public, anon, authenticated;
grant execute on function app.begin_wake(text) to service_role;

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
comment on function app.wake_agent_worker(text) is 'Wakes the worker of the queue the reason names, through app.wake_function (pg_net, signed, sent after commit): knowledge_jobs wake knowledge-worker, everything else agent-worker; once per transaction and function, and for an enqueue (reason enqueued…) once per wake epoch (none while a wake-up sent less than 10 seconds ago has not begun a worker; see app.begin_wake). A failure or missing configuration is a warning, never an error: the job stays queued.';
revoke all on function app.wake_agent_worker(text) from public, anon, authenticated;
grant execute on function app.wake_agent_worker(text) to service_role;

-- The worker's claim (see 20261206102000_reply_in_fewer_calls): api.claim_jobs with each reply
-- job's api.prepare_reply beside it; the first claim of a wake-up begins its epoch.
create function api.claim_jobs_with_context(queue_name text default 'agent_jobs', batch_size integer default 10,
  visibility_timeout_seconds integer default 60, reply_context jsonb default null, begins_wake boolean default false)
returns table (job_id bigint, read_count integer, enqueued_at timestamptz, visible_at timestamptz, job jsonb,
  prepared jsonb)
language plpgsql
set search_path = ''
as $$
declare
  claimed record;
begin
  if claim_jobs_with_context.begins_wake then
    -- Before the claim's snapshot: see app.begin_wake.
    perform app.begin_wake(claim_jobs_with_context.queue_name);
  end if;
  for claimed in
    select c.job_id, c.read_count, c.enqueued_at, c.visible_at, c.job
    from api.claim_jobs(claim_jobs_with_context.queue_name, claim_jobs_with_context.batch_size,
      claim_jobs_with_context.visibility_timeout_seconds) c
  loop
    job_id := claimed.job_id;
    read_count := claimed.read_count;
    enqueued_at := claimed.enqueued_at;
    visible_at := claimed.visible_at;
    job := claimed.job;
    prepared := null;
    if claim_jobs_with_context.reply_context is not null and claimed.job ->> 'kind' = 'reply' then
      begin
        prepared := api.prepare_reply((claimed.job ->> 'tenant_id')::uuid, (claimed.job ->> 'conversation_id')::uuid,
          (claimed.job ->> 'message_id')::uuid, 'reply:' || (claimed.job ->> 'message_id'),
          (claim_jobs_with_context.reply_context ->> 'message_limit')::integer,
          (claim_jobs_with_context.reply_context ->> 'memory_limit')::integer,
          (claim_jobs_with_context.reply_context ->> 'knowledge_limit')::integer);
      exception when others then
        -- A job that cannot be prepared (another tenant's conversation in a forged job, a
        -- deleted conversation, an odd payload) is still claimed: its own run meets the
        -- error, and the executor retries or dead-letters it as always.
        prepared := null;
      end;
    end if;
    return next;
  end loop;
end
$$;
comment on function api.claim_jobs_with_context(text, integer, integer, jsonb, boolean) is 'api.claim_jobs, and for each reply job (when reply_context {message_limit, memory_limit, knowledge_limit} is given) api.prepare_reply under the idempotency key reply:<message_id> in prepared (null when it could not be read: the job''s own run then meets the error). begins_wake: the first claim of a wake-up, which first begins a wake epoch (app.begin_wake), so that messages queued from then on wake a worker of their own. service_role.';
revoke all on function api.claim_jobs_with_context(text, integer, integer, jsonb, boolean) from public, anon, authenticated;
grant execute on function api.claim_jobs_with_context(text, integer, integer, jsonb, boolean) to service_role;

