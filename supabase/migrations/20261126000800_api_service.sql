-- The service api: functions the edge functions call with the service_role key.
--
-- Webhook functions resolve a connection (Slack team, WhatsApp number, widget key) and
-- ingest inbound messages idempotently (api.ingest_message, defined with its admission
-- rules in 20261126007500_inbound_rate_limit.sql); the agent worker claims jobs from
-- pgmq, loads an agent's context, records replies, usage, tool calls and audit entries, and
-- completes or fails its jobs. Every function here is granted to service_role only.
-- Security invoker: service_role bypasses RLS, and each function checks that the ids
-- it is given belong to the tenant it is given (a job, conversation or message of one
-- tenant can never be acted on as another's: 42501 or P0002).

-- Connections ----------------------------------------------------------------------------

create function app.connection_json(connection_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'connection_id', c.id, 'tenant_id', c.tenant_id, 'kind', c.kind, 'name', c.name, 'status', c.status,
    'agent_id', c.agent_id, 'agent_status', a.status, 'slack_team_id', c.slack_team_id,
    'slack_bot_user_id', c.slack_bot_user_id, 'whatsapp_phone_number_id', c.whatsapp_phone_number_id,
    'whatsapp_business_account_id', c.whatsapp_business_account_id, 'widget_key', c.widget_key,
    'has_token', c.token_secret_id is not null, 'settings', c.settings)
  from app.channel_connections c
  left join app.agents a on a.id = c.agent_id
  where c.id = connection_json.connection_id
$$;
comment on function app.connection_json(uuid) is 'What a channel function needs to know about a connection (no token).';

create function api.resolve_slack_connection(team_id text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select app.connection_json(c.id) from app.channel_connections c where c.slack_team_id = resolve_slack_connection.team_id
$$;
comment on function api.resolve_slack_connection(text) is 'The connection of a Slack team id (any status; check status), or null when unknown. service_role.';

create function api.resolve_whatsapp_connection(phone_number_id text, business_account_id text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select app.connection_json(c.id) from app.channel_connections c
  where c.whatsapp_phone_number_id = resolve_whatsapp_connection.phone_number_id
    and c.whatsapp_business_account_id = resolve_whatsapp_connection.business_account_id
    and c.whatsapp_verified_at is not null
$$;
comment on function api.resolve_whatsapp_connection(text, text) is 'The connection that proved control of a WhatsApp phone number id, when the delivery names the same business account (the webhook''s entry id), or null: an unproven claim or another account''s delivery routes nowhere. service_role.';

create function api.confirm_whatsapp_channel(connection_id uuid, phone_number_ids text[], error text default null,
  display_phone_number text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  c app.channel_connections;
  holder uuid;
begin
  select * into c from app.channel_connections x
  where x.id = confirm_whatsapp_channel.connection_id and x.kind = 'whatsapp' for update;
  if not found then
    raise exception 'connection not found' using errcode = 'P0002';
  end if;
  if confirm_whatsapp_channel.error is not null or not (c.whatsapp_phone_number_id = any (coalesce(confirm_whatsapp_channel.phone_number_ids, '{}'))) then
    update app.channel_connections x set whatsapp_verified_at = null,
      whatsapp_verification_error = coalesce(confirm_whatsapp_channel.error,
        'The access token does not reach this phone number in that WhatsApp Business Account.')
    where x.id = c.id;
    return jsonb_build_object('verified', false, 'reason', 'not_controlled');
  end if;
  select x.id into holder from app.channel_connections x
  where x.whatsapp_phone_number_id = c.whatsapp_phone_number_id and x.whatsapp_verified_at is not null and x.id <> c.id;
  if holder is not null then
    update app.channel_connections x set whatsapp_verified_at = null,
      whatsapp_verification_error = 'This WhatsApp number is already connected to another account.'
    where x.id = c.id;
    return jsonb_build_object('verified', false, 'reason', 'taken');
  end if;
  update app.channel_connections x set whatsapp_verified_at = coalesce(x.whatsapp_verified_at, now()),
    whatsapp_verification_error = null,
    whatsapp_display_phone_number = coalesce(confirm_whatsapp_channel.display_phone_number, x.whatsapp_display_phone_number)
  where x.id = c.id;
  return jsonb_build_object('verified', true);
end
$$;
comment on function api.confirm_whatsapp_channel(uuid, text[], text, text) is 'Records the proof-of-control check of a WhatsApp connection: phone_number_ids are the numbers its token sees in its business account (Graph GET /<waba>/phone_numbers). The connection starts receiving its number''s traffic only when its number is among them and no other connection has proved it; an error or a missing number unproves it (whatsapp_verification_error). Returns {verified, reason?}. service_role.';

create function api.resolve_widget_connection(widget_key text)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select app.connection_json(c.id) from app.channel_connections c where c.widget_key = resolve_widget_connection.widget_key
$$;
comment on function api.resolve_widget_connection(text) is 'The web chat connection of a public widget key, or null when unknown. service_role.';

create function api.get_connection(connection_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select app.connection_json(get_connection.connection_id)
$$;
comment on function api.get_connection(uuid) is 'A connection by id (no token), or null. service_role.';

create function api.get_channel_token(connection_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
  select d.decrypted_secret
  from app.channel_connections c
  join vault.decrypted_secrets d on d.id = c.token_secret_id
  where c.id = get_channel_token.connection_id
$$;
comment on function api.get_channel_token(uuid) is 'The decrypted Slack bot token or WhatsApp access token of a connection, for sending; null when none. service_role only; never reaches a browser.';

create function api.save_slack_installation(tenant_id uuid, team_id text, bot_user_id text, bot_token text,
  team_name text default null, installed_by uuid default null, name text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  existing app.channel_connections;
  new_id uuid := gen_random_uuid();
begin
  if coalesce(btrim(save_slack_installation.team_id), '') = '' or coalesce(btrim(save_slack_installation.bot_token), '') = '' then
    raise exception 'team id and bot token are required' using errcode = '22023';
  end if;
  if not exists (select 1 from app.tenants t where t.id = save_slack_installation.tenant_id) then
    raise exception 'tenant not found' using errcode = 'P0002';
  end if;
  select * into existing from app.channel_connections c where c.slack_team_id = save_slack_installation.team_id for update;
  if found and existing.tenant_id <> save_slack_installation.tenant_id then
    raise exception 'this Slack workspace is connected to another tenant' using errcode = '23505';
  end if;
  if found then
    if existing.token_secret_id is null then
      update app.channel_connections c set token_secret_id = vault.create_secret(save_slack_installation.bot_token,
        'konstruct_channel_' || existing.id::text, 'Slack bot token of channel ' || existing.id::text)
      where c.id = existing.id;
    else
      perform vault.update_secret(existing.token_secret_id, save_slack_installation.bot_token);
    end if;
    update app.channel_connections c set
      status = 'active',
      slack_bot_user_id = save_slack_installation.bot_user_id,
      slack_team_name = coalesce(save_slack_installation.team_name, c.slack_team_name)
    where c.id = existing.id;
    perform app.write_audit(existing.tenant_id, 'channel.slack_reinstalled', 'channel', existing.id::text,
      jsonb_build_object('team_id', save_slack_installation.team_id, 'installed_by', save_slack_installation.installed_by));
    return app.connection_json(existing.id);
  end if;
  insert into app.channel_connections (id, tenant_id, kind, name, slack_team_id, slack_team_name, slack_bot_user_id,
    token_secret_id, agent_id, created_by)
  values (new_id, save_slack_installation.tenant_id, 'slack',
    coalesce(save_slack_installation.name, 'Slack ' || coalesce(save_slack_installation.team_name, save_slack_installation.team_id)),
    save_slack_installation.team_id, save_slack_installation.team_name, save_slack_installation.bot_user_id,
    vault.create_secret(save_slack_installation.bot_token, 'konstruct_channel_' || new_id::text,
      'Slack bot token of channel ' || new_id::text),
    -- The tenant's first active agent answers until an admin assigns another.
    (select a.id from app.agents a where a.tenant_id = save_slack_installation.tenant_id and a.status = 'active'
     order by a.created_at, a.id limit 1),
    save_slack_installation.installed_by);
  return app.connection_json(new_id);
end
$$;
comment on function api.save_slack_installation(uuid, text, text, text, text, uuid, text) is 'Stores a Slack OAuth v2 install for a tenant: creates the connection (token in Vault, first active agent assigned) or, on re-install, rotates the token and re-activates it. A team connected to another tenant is refused (23505). service_role.';

create function api.disable_slack_installation(team_id text, reason text default 'uninstalled')
returns boolean
language plpgsql
set search_path = ''
as $$
begin
  update app.channel_connections c set status = 'disabled',
    settings = c.settings || jsonb_build_object('disabled_reason', disable_slack_installation.reason)
  where c.slack_team_id = disable_slack_installation.team_id and c.status <> 'disabled';
  return found;
end
$$;
comment on function api.disable_slack_installation(text, text) is 'Disables the connection of a Slack team (app_uninstalled, tokens_revoked); true if something changed. service_role.';

-- Jobs -----------------------------------------------------------------------------------------

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

-- Agent context ---------------------------------------------------------------------------------

create function app.require_conversation_of_tenant(tenant_id uuid, conversation_id uuid)
returns app.conversations
language plpgsql
stable
set search_path = ''
as $$
declare
  conv app.conversations;
begin
  select * into conv from app.conversations c where c.id = require_conversation_of_tenant.conversation_id;
  if not found then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  if conv.tenant_id <> require_conversation_of_tenant.tenant_id then
    raise exception 'conversation % does not belong to tenant %', require_conversation_of_tenant.conversation_id,
      require_conversation_of_tenant.tenant_id using errcode = '42501';
  end if;
  return conv;
end
$$;
comment on function app.require_conversation_of_tenant(uuid, uuid) is 'The conversation; raises P0002 when missing and 42501 when it belongs to another tenant.';

create function api.get_agent_context(tenant_id uuid, conversation_id uuid, query_embedding extensions.vector default null,
  message_limit integer default 40, memory_limit integer default 8, knowledge_limit integer default 5)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(get_agent_context.tenant_id, get_agent_context.conversation_id);
  last_inbound text;
  speaker uuid;
  result jsonb;
begin
  -- The person being answered is whoever wrote last (in a Slack thread not always the
  -- one who started it): their contact card and their memories, nobody else's.
  select m.text, coalesce(m.author_contact_id, conv.contact_id) into last_inbound, speaker from app.messages m
  where m.conversation_id = conv.id and m.direction = 'in' order by m.seq desc limit 1;
  speaker := coalesce(speaker, conv.contact_id);

  select jsonb_build_object(
    'tenant', (select jsonb_build_object('id', t.id, 'name', t.name, 'model_settings', t.model_settings,
        'has_own_llm_key', t.llm_api_key_secret_id is not null)
      from app.tenants t where t.id = conv.tenant_id),
    'agent', (select app.agent_json(a) || jsonb_build_object('tokens_used_this_month',
        coalesce((select u.tokens from app.agent_usage u
          where u.agent_id = a.id and u.period_start = app.usage_period(now())), 0))
      from app.agents a where a.id = conv.agent_id),
    'conversation', app.conversation_json(conv.id),
    'connection', app.connection_json(conv.connection_id),
    'contact', (select jsonb_build_object('id', ct.id, 'display_name', ct.display_name, 'email', ct.email,
        'phone', ct.phone, 'metadata', ct.metadata,
        'identities', coalesce((select jsonb_agg(jsonb_build_object('channel', i.channel,
            'external_user_id', i.external_user_id) order by i.created_at)
          from app.contact_identities i where i.contact_id = ct.id), '[]'::jsonb))
      from app.contacts ct where ct.id = speaker),
    'messages', coalesce((select jsonb_agg(jsonb_build_object('id', w.id, 'seq', w.seq, 'direction', w.direction,
        'author_kind', w.author_kind, 'author_contact_id', w.author_contact_id, 'text', w.text,
        'attachments', w.attachments, 'created_at', w.created_at)
        order by w.seq)
      from (select m.* from app.messages m where m.conversation_id = conv.id
            order by m.seq desc limit least(greatest(coalesce(get_agent_context.message_limit, 40), 1), 500)) w),
      '[]'::jsonb),
    'memories', coalesce((select jsonb_agg(jsonb_build_object('id', r.id, 'content', r.content,
        'created_at', r.created_at))
      from (select me.* from app.memories me
            where me.tenant_id = conv.tenant_id and me.contact_id = speaker and me.agent_id = conv.agent_id
            order by case when get_agent_context.query_embedding is null or me.embedding is null then null
                       else me.embedding operator(extensions.<=>) get_agent_context.query_embedding end nulls last,
                     me.created_at desc
            limit least(greatest(coalesce(get_agent_context.memory_limit, 8), 0), 100)) r),
      '[]'::jsonb),
    'knowledge', coalesce((select jsonb_agg(jsonb_build_object('chunk_id', k.chunk_id, 'source_id', k.source_id,
        'source_title', k.source_title, 'content', k.content, 'score', k.score, 'coverage', k.coverage))
      from api.search_knowledge(conv.tenant_id, coalesce(last_inbound, ''), get_agent_context.query_embedding,
        greatest(coalesce(get_agent_context.knowledge_limit, 5), 1)) k
      where coalesce(get_agent_context.knowledge_limit, 5) > 0),
      '[]'::jsonb)
  ) into result;
  return result;
end
$$;
comment on function api.get_agent_context(uuid, uuid, extensions.vector, integer, integer, integer) is 'Everything the agent needs for a turn, all from one tenant: tenant and agent settings (with this month''s tokens), conversation, connection, contact with identities (the author of the last inbound message: in a thread with several people, the one being answered), the last message_limit messages (chronological, each with its author_contact_id), memories of that contact and agent (nearest to query_embedding first, else newest), and knowledge passages for the last inbound message (hybrid search). 42501 if the conversation is another tenant''s. service_role.';

create function api.get_llm_key(tenant_id uuid, agent_id uuid default null)
returns text
language sql
stable
set search_path = ''
as $$
  select d.decrypted_secret
  from (
    select a.llm_api_key_secret_id as secret_id, 1 as preference from app.agents a
    where a.id = get_llm_key.agent_id and a.tenant_id = get_llm_key.tenant_id
    union all
    select t.llm_api_key_secret_id, 2 from app.tenants t where t.id = get_llm_key.tenant_id
  ) s
  join vault.decrypted_secrets d on d.id = s.secret_id
  order by s.preference
  limit 1
$$;
comment on function api.get_llm_key(uuid, uuid) is 'The LLM API key to use: the agent''s own, else the tenant''s, else null (use the platform''s). service_role only.';

create function api.set_llm_key(tenant_id uuid, api_key text, agent_id uuid default null)
returns void
language plpgsql
set search_path = ''
as $$
declare
  secret uuid;
begin
  if set_llm_key.agent_id is not null then
    select a.llm_api_key_secret_id into secret from app.agents a
    where a.id = set_llm_key.agent_id and a.tenant_id = set_llm_key.tenant_id;
    if not found then
      raise exception 'agent not found in tenant' using errcode = 'P0002';
    end if;
  else
    select t.llm_api_key_secret_id into secret from app.tenants t where t.id = set_llm_key.tenant_id;
    if not found then
      raise exception 'tenant not found' using errcode = 'P0002';
    end if;
  end if;
  if secret is not null then
    perform vault.update_secret(secret, set_llm_key.api_key);
  else
    secret := vault.create_secret(set_llm_key.api_key,
      'konstruct_llm_' || coalesce(set_llm_key.agent_id, set_llm_key.tenant_id)::text, 'LLM API key');
    if set_llm_key.agent_id is not null then
      update app.agents a set llm_api_key_secret_id = secret where a.id = set_llm_key.agent_id;
    else
      update app.tenants t set llm_api_key_secret_id = secret where t.id = set_llm_key.tenant_id;
    end if;
  end if;
  perform app.write_audit(set_llm_key.tenant_id, 'llm_key.set', case when set_llm_key.agent_id is null then 'tenant' else 'agent' end,
    coalesce(set_llm_key.agent_id, set_llm_key.tenant_id)::text, '{}'::jsonb);
end
$$;
comment on function api.set_llm_key(uuid, text, uuid) is 'Stores a tenant''s (or one agent''s) own LLM API key in Vault. service_role (a settings edge function calls it after checking the user is an admin).';

-- Recording -------------------------------------------------------------------------------------

create function api.record_reply(tenant_id uuid, conversation_id uuid, text text, idempotency_key text,
  agent_id uuid default null, attachments jsonb default '[]'::jsonb, metadata jsonb default '{}'::jsonb,
  author_kind text default 'agent')
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(record_reply.tenant_id, record_reply.conversation_id);
  new_id uuid;
begin
  if record_reply.author_kind not in ('agent', 'system') then
    raise exception 'author_kind must be agent or system' using errcode = '22023';
  end if;
  if coalesce(record_reply.idempotency_key, '') = '' then
    raise exception 'an idempotency key is required' using errcode = '22023';
  end if;
  insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, agent_id, text,
    attachments, idempotency_key, delivery_status, metadata)
  values (conv.tenant_id, conv.id, conv.connection_id, 'out', record_reply.author_kind,
    coalesce(record_reply.agent_id, conv.agent_id), record_reply.text, coalesce(record_reply.attachments, '[]'::jsonb),
    record_reply.idempotency_key, 'pending', coalesce(record_reply.metadata, '{}'::jsonb))
  on conflict on constraint messages_conversation_idempotency_key do nothing
  returning id into new_id;
  if new_id is null then
    select m.id into new_id from app.messages m
    where m.conversation_id = conv.id and m.idempotency_key = record_reply.idempotency_key;
    return jsonb_build_object('message_id', new_id, 'duplicate', true,
      'delivery_status', (select m.delivery_status from app.messages m where m.id = new_id),
      'external_id', (select m.external_id from app.messages m where m.id = new_id));
  end if;
  return jsonb_build_object('message_id', new_id, 'duplicate', false, 'delivery_status', 'pending', 'external_id', null);
end
$$;
comment on function api.record_reply(uuid, uuid, text, text, uuid, jsonb, jsonb, text) is 'Stores the agent''s (or a system) outbound reply as pending, idempotent by idempotency_key (e.g. ''job:<id>''): a retried worker gets the same message back with duplicate=true and its delivery status, so it never sends twice. service_role.';

create function api.set_delivery_status(tenant_id uuid, message_id uuid, status text, external_id text default null,
  error text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  msg app.messages;
begin
  select * into msg from app.messages m where m.id = set_delivery_status.message_id;
  if not found then
    raise exception 'message not found' using errcode = 'P0002';
  end if;
  if msg.tenant_id <> set_delivery_status.tenant_id then
    raise exception 'message does not belong to tenant' using errcode = '42501';
  end if;
  if set_delivery_status.status not in ('pending', 'sent', 'delivered', 'read', 'failed', 'undeliverable') then
    raise exception 'unknown delivery status %', set_delivery_status.status using errcode = '22023';
  end if;
  update app.messages m set
    delivery_status = set_delivery_status.status,
    external_id = coalesce(set_delivery_status.external_id, m.external_id),
    delivery_error = set_delivery_status.error
  where m.id = msg.id;
  return jsonb_build_object('message_id', msg.id, 'delivery_status', set_delivery_status.status);
end
$$;
comment on function api.set_delivery_status(uuid, uuid, text, text, text) is 'The sender''s outcome for an outbound message: sent (with the channel''s external id, e.g. Slack ts or WhatsApp wamid), failed or undeliverable (with the reason). service_role.';

create function app.delivery_rank(status text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select case status when 'received' then 0 when 'pending' then 1 when 'sent' then 2 when 'delivered' then 3
    when 'read' then 4 when 'failed' then 5 when 'undeliverable' then 5 else 0 end
$$;
comment on function app.delivery_rank(text) is 'Order of delivery statuses, so out-of-order status webhooks never move a message backwards.';

create function api.record_delivery_status(connection_id uuid, external_id text, status text, error text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  msg app.messages;
begin
  if record_delivery_status.status not in ('sent', 'delivered', 'read', 'failed') then
    raise exception 'unknown delivery status %', record_delivery_status.status using errcode = '22023';
  end if;
  select * into msg from app.messages m
  where m.connection_id = record_delivery_status.connection_id and m.external_id = record_delivery_status.external_id;
  if not found then
    return jsonb_build_object('found', false, 'changed', false);
  end if;
  -- Out-of-order webhooks: only move forward (failed only overrides pending/sent).
  if (record_delivery_status.status = 'failed' and msg.delivery_status in ('pending', 'sent'))
     or (record_delivery_status.status <> 'failed'
         and app.delivery_rank(record_delivery_status.status) > app.delivery_rank(msg.delivery_status)
         and msg.delivery_status not in ('failed', 'undeliverable')) then
    update app.messages m set delivery_status = record_delivery_status.status,
      delivery_error = coalesce(record_delivery_status.error, m.delivery_error)
    where m.id = msg.id;
    return jsonb_build_object('found', true, 'changed', true, 'message_id', msg.id, 'tenant_id', msg.tenant_id,
      'delivery_status', record_delivery_status.status);
  end if;
  return jsonb_build_object('found', true, 'changed', false, 'message_id', msg.id, 'tenant_id', msg.tenant_id,
    'delivery_status', msg.delivery_status);
end
$$;
comment on function api.record_delivery_status(uuid, text, text, text) is 'Applies a channel status webhook (WhatsApp sent/delivered/read/failed) to the message with that external id on that connection, never moving it backwards. service_role.';

create function api.record_usage(tenant_id uuid, model text, input_tokens bigint, output_tokens bigint,
  cost_usd numeric default 0, agent_id uuid default null, conversation_id uuid default null, kind text default 'chat',
  idempotency_key text default null, metadata jsonb default '{}'::jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations;
  new_id bigint;
begin
  if record_usage.conversation_id is not null then
    conv := app.require_conversation_of_tenant(record_usage.tenant_id, record_usage.conversation_id);
  end if;
  if record_usage.agent_id is not null and not exists (
    select 1 from app.agents a where a.id = record_usage.agent_id and a.tenant_id = record_usage.tenant_id
  ) then
    raise exception 'agent does not belong to tenant' using errcode = '42501';
  end if;
  insert into app.usage_events (tenant_id, agent_id, conversation_id, connection_id, channel, kind, model, input_tokens,
    output_tokens, cost_usd, idempotency_key, metadata)
  values (record_usage.tenant_id, coalesce(record_usage.agent_id, conv.agent_id), conv.id, conv.connection_id,
    conv.channel, coalesce(record_usage.kind, 'chat'), record_usage.model, coalesce(record_usage.input_tokens, 0),
    coalesce(record_usage.output_tokens, 0), coalesce(record_usage.cost_usd, 0), record_usage.idempotency_key,
    coalesce(record_usage.metadata, '{}'::jsonb))
  on conflict on constraint usage_events_idempotency_key_key do nothing
  returning id into new_id;
  if new_id is null then
    return jsonb_build_object('usage_event_id',
      (select u.id from app.usage_events u where u.idempotency_key = record_usage.idempotency_key), 'duplicate', true);
  end if;
  return jsonb_build_object('usage_event_id', new_id, 'duplicate', false);
end
$$;
comment on function api.record_usage(uuid, text, bigint, bigint, numeric, uuid, uuid, text, text, jsonb) is 'Meters one model call (or embedding): tokens and cost per agent, conversation, channel and tenant; idempotent by idempotency_key. service_role.';

create function api.record_tool_call(tenant_id uuid, conversation_id uuid, tool_name text, arguments jsonb,
  status text default 'requested', result jsonb default null, error text default null, agent_id uuid default null,
  message_id uuid default null, idempotency_key text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(record_tool_call.tenant_id, record_tool_call.conversation_id);
  new_id uuid;
begin
  insert into app.tool_calls (tenant_id, conversation_id, message_id, agent_id, tool_name, arguments, result, status,
    error, idempotency_key, completed_at)
  values (conv.tenant_id, conv.id, record_tool_call.message_id, coalesce(record_tool_call.agent_id, conv.agent_id),
    record_tool_call.tool_name, coalesce(record_tool_call.arguments, '{}'::jsonb), record_tool_call.result,
    coalesce(record_tool_call.status, 'requested'), record_tool_call.error, record_tool_call.idempotency_key,
    case when record_tool_call.status in ('succeeded', 'failed', 'refused', 'cancelled') then now() end)
  on conflict on constraint tool_calls_conversation_id_idempotency_key_key do nothing
  returning id into new_id;
  if new_id is null then
    select t.id into new_id from app.tool_calls t
    where t.conversation_id = conv.id and t.idempotency_key = record_tool_call.idempotency_key;
    return jsonb_build_object('tool_call_id', new_id, 'duplicate', true,
      'status', (select t.status from app.tool_calls t where t.id = new_id));
  end if;
  return jsonb_build_object('tool_call_id', new_id, 'duplicate', false, 'status', coalesce(record_tool_call.status, 'requested'));
end
$$;
comment on function api.record_tool_call(uuid, uuid, text, jsonb, text, jsonb, text, uuid, uuid, text) is 'Logs a tool call with its arguments and (if known) outcome; idempotent per conversation by idempotency_key. service_role.';

create function api.update_tool_call(tenant_id uuid, tool_call_id uuid, status text, result jsonb default null,
  error text default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  call_tenant uuid;
begin
  select t.tenant_id into call_tenant from app.tool_calls t where t.id = update_tool_call.tool_call_id;
  if not found then
    raise exception 'tool call not found' using errcode = 'P0002';
  end if;
  if call_tenant <> update_tool_call.tenant_id then
    raise exception 'tool call does not belong to tenant' using errcode = '42501';
  end if;
  update app.tool_calls t set status = update_tool_call.status,
    result = coalesce(update_tool_call.result, t.result), error = coalesce(update_tool_call.error, t.error),
    completed_at = case when update_tool_call.status in ('succeeded', 'failed', 'refused', 'cancelled') then now()
      else t.completed_at end
  where t.id = update_tool_call.tool_call_id;
  return jsonb_build_object('tool_call_id', update_tool_call.tool_call_id, 'status', update_tool_call.status);
end
$$;
comment on function api.update_tool_call(uuid, uuid, text, jsonb, text) is 'Moves a tool call on (confirmed, cancelled, succeeded, failed, refused) with its result or error. service_role.';

create function api.record_audit(tenant_id uuid, action text, entity_type text default null, entity_id text default null,
  details jsonb default '{}'::jsonb)
returns bigint
language sql
set search_path = ''
as $$
  select app.write_audit(record_audit.tenant_id, record_audit.action, record_audit.entity_type, record_audit.entity_id,
    record_audit.details)
$$;
comment on function api.record_audit(uuid, text, text, text, jsonb) is 'Appends an audit entry as the service (model calls, tool calls, handoffs, billing events). service_role.';

create function api.escalate_conversation(tenant_id uuid, conversation_id uuid, reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  conv app.conversations := app.require_conversation_of_tenant(escalate_conversation.tenant_id,
    escalate_conversation.conversation_id);
begin
  if conv.status in ('open', 'closed') then
    update app.conversations c set status = 'waiting_for_human', escalation_reason = escalate_conversation.reason
    where c.id = conv.id;
  end if;
  return app.conversation_json(conv.id);
end
$$;
comment on function api.escalate_conversation(uuid, uuid, text) is 'Hands a conversation to the humans: status waiting_for_human with the reason (no-op when a human already has it); audited and broadcast to the portal. service_role.';

create function api.save_memory(tenant_id uuid, contact_id uuid, agent_id uuid, content text,
  embedding extensions.vector default null, source_conversation_id uuid default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  new_id uuid;
begin
  if not exists (select 1 from app.contacts c where c.id = save_memory.contact_id and c.tenant_id = save_memory.tenant_id)
     or not exists (select 1 from app.agents a where a.id = save_memory.agent_id and a.tenant_id = save_memory.tenant_id) then
    raise exception 'contact or agent does not belong to tenant' using errcode = '42501';
  end if;
  insert into app.memories (tenant_id, contact_id, agent_id, content, embedding, source_conversation_id)
  values (save_memory.tenant_id, save_memory.contact_id, save_memory.agent_id, btrim(save_memory.content),
    save_memory.embedding, save_memory.source_conversation_id)
  on conflict on constraint memories_contact_id_agent_id_content_hash_key do update
    set embedding = coalesce(excluded.embedding, app.memories.embedding)
  returning id into new_id;
  return jsonb_build_object('memory_id', new_id);
end
$$;
comment on function api.save_memory(uuid, uuid, uuid, text, extensions.vector, uuid) is 'Remembers something about a contact for an agent, deduplicated by normalised content (a repeat only fills a missing embedding). service_role.';

-- Knowledge processing -------------------------------------------------------------------------

create function api.get_knowledge_source(tenant_id uuid, source_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object('id', s.id, 'tenant_id', s.tenant_id, 'title', s.title, 'kind', s.kind, 'uri', s.uri,
    'content', s.content, 'status', s.status,
    'chunks', coalesce((select jsonb_agg(jsonb_build_object('id', c.id, 'chunk_index', c.chunk_index, 'content', c.content,
        'has_embedding', c.embedding is not null) order by c.chunk_index)
      from app.knowledge_chunks c where c.source_id = s.id), '[]'::jsonb))
  from app.knowledge_sources s
  where s.id = get_knowledge_source.source_id and s.tenant_id = get_knowledge_source.tenant_id
$$;
comment on function api.get_knowledge_source(uuid, uuid) is 'A knowledge source with its content and chunks (whether each has an embedding), for the knowledge worker; null if not this tenant''s. service_role.';

create function api.replace_knowledge_chunks(tenant_id uuid, source_id uuid, chunks jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  n integer;
  source_title text;
  source_language regconfig;
begin
  select s.title, s.language into source_title, source_language from app.knowledge_sources s
  where s.id = replace_knowledge_chunks.source_id and s.tenant_id = replace_knowledge_chunks.tenant_id;
  if not found then
    raise exception 'knowledge source not found in tenant' using errcode = 'P0002';
  end if;
  if jsonb_typeof(replace_knowledge_chunks.chunks) is distinct from 'array' then
    raise exception 'chunks must be an array of {content, heading?, embedding?, token_count?}' using errcode = '22023';
  end if;
  -- The language set by the admin, else the one detected from the text (simple when none fits).
  if source_language is null then
    source_language := coalesce(app.detect_language((select string_agg(e.value ->> 'content', ' ')
      from (select e.value from jsonb_array_elements(replace_knowledge_chunks.chunks) e limit 5) e)), 'simple'::regconfig);
    update app.knowledge_sources s set language = source_language where s.id = replace_knowledge_chunks.source_id;
  end if;
  delete from app.knowledge_chunks c where c.source_id = replace_knowledge_chunks.source_id;
  -- The heading (source title, then the chunk's section) is searchable with the text.
  insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content, heading, language, token_count, embedding)
  select replace_knowledge_chunks.tenant_id, replace_knowledge_chunks.source_id, (e.ordinality - 1)::integer,
    e.value ->> 'content',
    concat_ws(E'\n', source_title, nullif(nullif(left(btrim(e.value ->> 'heading'), 300), ''), source_title)), source_language,
    (e.value ->> 'token_count')::integer,
    case when e.value ? 'embedding' and jsonb_typeof(e.value -> 'embedding') = 'array'
      then (e.value ->> 'embedding')::extensions.vector end
  from jsonb_array_elements(replace_knowledge_chunks.chunks) with ordinality e
  where coalesce(btrim(e.value ->> 'content'), '') <> '';
  get diagnostics n = row_count;
  update app.knowledge_sources s set status = 'ready', error = null, chunk_count = n
  where s.id = replace_knowledge_chunks.source_id;
  return n;
end
$$;
comment on function api.replace_knowledge_chunks(uuid, uuid, jsonb) is 'Replaces the chunks of a source ([{content, heading? (its section title), embedding?: number[1536], token_count?}]; the source title heads every chunk) and marks it ready. service_role.';

create function api.set_chunk_embeddings(tenant_id uuid, embeddings jsonb)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  n integer;
begin
  update app.knowledge_chunks c set embedding = (e.value ->> 'embedding')::extensions.vector
  from jsonb_array_elements(set_chunk_embeddings.embeddings) e
  where c.id = (e.value ->> 'chunk_id')::uuid and c.tenant_id = set_chunk_embeddings.tenant_id;
  get diagnostics n = row_count;
  return n;
end
$$;
comment on function api.set_chunk_embeddings(uuid, jsonb) is 'Stores embeddings ([{chunk_id, embedding}]) for chunks of this tenant only; returns how many were updated. service_role.';

create function api.set_knowledge_source_status(tenant_id uuid, source_id uuid, status text, error text default null)
returns void
language plpgsql
set search_path = ''
as $$
begin
  update app.knowledge_sources s set status = set_knowledge_source_status.status, error = set_knowledge_source_status.error
  where s.id = set_knowledge_source_status.source_id and s.tenant_id = set_knowledge_source_status.tenant_id;
  if not found then
    raise exception 'knowledge source not found in tenant' using errcode = 'P0002';
  end if;
end
$$;
comment on function api.set_knowledge_source_status(uuid, uuid, text, text) is 'Marks a knowledge source processing, ready or failed (with the error shown to admins). service_role.';

-- Grants ---------------------------------------------------------------------------------------

revoke all on all functions in schema api from public, anon;
revoke all on function app.connection_json(uuid), app.check_queue(text), app.job_message(text, bigint),
  app.job_read_count(text, bigint), app.require_job_of_tenant(text, bigint, uuid),
  app.require_conversation_of_tenant(uuid, uuid), app.delivery_rank(text)
  from public, anon, authenticated;
grant execute on function app.connection_json(uuid), app.check_queue(text), app.job_message(text, bigint),
  app.job_read_count(text, bigint), app.require_job_of_tenant(text, bigint, uuid),
  app.require_conversation_of_tenant(uuid, uuid), app.delivery_rank(text)
  to service_role;

grant execute on function
  api.resolve_slack_connection(text),
  api.resolve_whatsapp_connection(text, text),
  api.confirm_whatsapp_channel(uuid, text[], text, text),
  api.resolve_widget_connection(text),
  api.get_connection(uuid),
  api.get_channel_token(uuid),
  api.save_slack_installation(uuid, text, text, text, text, uuid, text),
  api.disable_slack_installation(text, text),
  api.claim_jobs(text, integer, integer),
  api.complete_job(text, bigint, uuid),
  api.fail_job(text, bigint, uuid, text, integer, integer),
  api.enqueue_job(text, jsonb),
  api.get_agent_context(uuid, uuid, extensions.vector, integer, integer, integer),
  api.get_llm_key(uuid, uuid),
  api.set_llm_key(uuid, text, uuid),
  api.record_reply(uuid, uuid, text, text, uuid, jsonb, jsonb, text),
  api.set_delivery_status(uuid, uuid, text, text, text),
  api.record_delivery_status(uuid, text, text, text),
  api.record_usage(uuid, text, bigint, bigint, numeric, uuid, uuid, text, text, jsonb),
  api.record_tool_call(uuid, uuid, text, jsonb, text, jsonb, text, uuid, uuid, text),
  api.update_tool_call(uuid, uuid, text, jsonb, text),
  api.record_audit(uuid, text, text, text, jsonb),
  api.escalate_conversation(uuid, uuid, text),
  api.save_memory(uuid, uuid, uuid, text, extensions.vector, uuid),
  api.get_knowledge_source(uuid, uuid),
  api.replace_knowledge_chunks(uuid, uuid, jsonb),
  api.set_chunk_embeddings(uuid, jsonb),
  api.set_knowledge_source_status(uuid, uuid, text, text)
to service_role;
