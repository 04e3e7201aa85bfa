-- No hot path reads what grows with history. Tenant A is filled to volume (thousands of
-- messages, conversations, contacts, model calls and audit entries this month, set-based,
-- then ANALYZE, so the planner picks a sequential scan only where no index fits); then each
-- hot call runs once and this transaction's own table statistics say what it read from the
-- tables that grow with history: no sequential scan of any, and at most a page's worth of
-- rows (index entries and heap rows) in all. A count or sum over the month, a sort of
-- every conversation, or an alert check that walks the audit log fails here.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(40);

insert into app.settings (key, value) values
  ('inbound_rate_limit_per_tenant', 'off'), ('inbound_rate_limit_per_sender', 'off')
on conflict (key) do update set value = excluded.value;
update app.plans set monthly_messages = 1000000, monthly_tokens = 1000000000000
where key = (select s.plan_key from app.subscriptions s where s.tenant_id = tests.get('tenant')::uuid);

-- Volume: 4,000 conversations (and contacts) with 3 messages each, 6,000 model calls, 4,000 audit entries,
-- 8,000 memories.
alter table app.messages disable trigger user;
alter table app.conversations disable trigger user;
alter table app.usage_events disable trigger user;
create temp table threads as
select i, gen_random_uuid() as contact_id, gen_random_uuid() as conversation_id from generate_series(1, 4000) i;
insert into app.contacts (id, tenant_id, display_name) select contact_id, tests.get('tenant')::uuid, 'Customer ' || i from threads;
insert into app.contact_identities (tenant_id, contact_id, channel, external_user_id)
select tests.get('tenant')::uuid, contact_id, 'web_chat', 'volume-' || i from threads;
insert into app.conversations (id, tenant_id, connection_id, channel, thread_key, contact_id, agent_id, last_message_at)
select conversation_id, tests.get('tenant')::uuid, tests.get('web_channel')::uuid, 'web_chat', 'volume-' || i, contact_id,
  tests.get('agent')::uuid, now() - make_interval(secs => i)
from threads;
insert into app.messages (tenant_id, conversation_id, connection_id, direction, author_kind, text, external_id,
  idempotency_key, created_at)
select tests.get('tenant')::uuid, t.conversation_id, tests.get('web_channel')::uuid,
  case when k % 2 = 0 then 'in' else 'out' end, case when k % 2 = 0 then 'contact' else 'agent' end,
  'Message ' || k, case when k % 2 = 0 then 'volume-' || k end, case when k % 2 = 1 then 'volume:' || k end,
  now() - make_interval(secs => 12000 - k)
from generate_series(0, 11999) k join threads t on t.i = k % 4000 + 1
order by k;
insert into app.usage_events (tenant_id, agent_id, conversation_id, channel, model, input_tokens, output_tokens, idempotency_key)
select tests.get('tenant')::uuid, tests.get('agent')::uuid, t.conversation_id, 'web_chat', 'volume-model', 100, 10, 'volume:' || k
from generate_series(1, 6000) k join threads t on t.i = k % 4000 + 1;
insert into app.audit_log (tenant_id, actor_kind, action, entity_type, created_at)
select tests.get('tenant')::uuid, 'system', 'conversation.closed', 'conversation', now() - make_interval(secs => k)
from generate_series(1, 4000) k;
alter table app.memories disable trigger user;
insert into app.memories (tenant_id, contact_id, agent_id, content)
select tests.get('tenant')::uuid, t.contact_id, tests.get('agent')::uuid, 'Remembered ' || k || ' of customer ' || t.i
from threads t cross join generate_series(1, 2) k;
alter table app.memories enable trigger user;
insert into app.reply_jobs (message_id, tenant_id, job_id)
select m.id, m.tenant_id, row_number() over (order by m.seq) + 1000000
from app.messages m where m.tenant_id = tests.get('tenant')::uuid and m.external_id like 'volume-%';
alter table app.messages enable trigger user;
alter table app.conversations enable trigger user;
alter table app.usage_events enable trigger user;
select app.reconcile_usage_counters(tests.get('tenant')::uuid);
analyze app.messages, app.conversations, app.contacts, app.contact_identities, app.usage_events, app.audit_log,
  app.tenant_usage, app.agent_usage, app.reply_jobs, app.memories;

-- The tables that grow with history.
create table tests.history_tables as
select c.oid from pg_class c join pg_namespace n on n.oid = c.relnamespace
where (n.nspname, c.relname) in (('app', 'messages'), ('app', 'conversations'), ('app', 'contacts'),
  ('app', 'contact_identities'), ('app', 'usage_events'), ('app', 'audit_log'), ('app', 'tool_calls'),
  ('app', 'reply_jobs'), ('app', 'rate_limited_messages'), ('app', 'memories'), ('pgmq', 'a_agent_jobs'));
grant select on tests.history_tables to public;

-- What a statement read from the tables that grow with history, in this transaction so far.
create function tests.history_reads() returns table (seq_scans bigint, rows_read bigint) language sql as $$
  select coalesce(sum(pg_stat_get_xact_numscans(t.oid)), 0)::bigint,
    coalesce(sum(pg_stat_get_xact_tuples_returned(t.oid) + pg_stat_get_xact_tuples_fetched(t.oid)), 0)::bigint
      + coalesce((select sum(pg_stat_get_xact_tuples_returned(i.indexrelid)) from pg_index i
                  where i.indrelid in (select h.oid from tests.history_tables h)), 0)::bigint
  from tests.history_tables t
$$;

-- Runs one hot call as a persona; returns {seq_scans, rows_read} of history tables it caused.
create table tests.reads (call text primary key, seq_scans bigint, rows_read bigint);
grant select, insert on tests.reads to public;
create function tests.measure(call text, persona text, sql text) returns void language plpgsql as $$
declare
  before_scans bigint; before_rows bigint; after_scans bigint; after_rows bigint;
begin
  select r.seq_scans, r.rows_read into before_scans, before_rows from tests.history_reads() r;
  perform tests.become(persona);
  execute tests.fill(sql);
  reset role;
  perform set_config('request.jwt.claims', '', true);
  select r.seq_scans, r.rows_read into after_scans, after_rows from tests.history_reads() r;
  insert into tests.reads values (call, after_scans - before_scans, after_rows - before_rows);
end $$;

select tests.measure('ingest_message (new message, existing thread)', 'service',
  $$select api.ingest_message('{web_channel}', 'hot-1', 'volume-7', 'volume-7', 'Where is my parcel?')$$);
select tests.measure('ingest_message (new thread, new contact)', 'service',
  $$select api.ingest_message('{web_channel}', 'hot-2', 'hot-visitor', 'hot-visitor', 'Hello')$$);
select tests.measure('ingest_message (a retried delivery)', 'service',
  $$select api.ingest_message('{web_channel}', 'hot-1', 'volume-7', 'volume-7', 'Where is my parcel?')$$);
select tests.measure('claim_jobs', 'service',
  $$create temp table claimed as select * from api.claim_jobs('agent_jobs', 1, 60)$$);
select tests.measure('complete_job', 'service',
  $$select api.complete_job('agent_jobs', c.job_id, (c.job ->> 'tenant_id')::uuid) from claimed c$$);
select tests.measure('check_entitlement', 'service', $$select api.check_entitlement('{tenant}')$$);
select tests.measure('enforce_reply_entitlement', 'service',
  $$select api.enforce_reply_entitlement('{tenant}', m.conversation_id, m.id, 'hot:entitlement')
    from app.messages m where m.connection_id = '{web_channel}' and m.external_id = 'hot-1'$$);
select tests.measure('get_agent_context', 'service',
  $$select api.get_agent_context('{tenant}', c.id) from app.conversations c
    where c.connection_id = '{web_channel}' and c.thread_key = 'volume-7'$$);
select tests.measure('reply_superseded_by', 'service',
  $$select api.reply_superseded_by('{tenant}', m.conversation_id, m.id)
    from app.messages m where m.connection_id = '{web_channel}' and m.external_id = 'volume-6'$$);
select tests.measure('record_reply', 'service',
  $$select api.record_reply('{tenant}', c.id, 'Your parcel left today.', 'hot:reply') from app.conversations c
    where c.connection_id = '{web_channel}' and c.thread_key = 'volume-7'$$);
select tests.measure('record_usage', 'service',
  $$select api.record_usage('{tenant}', 'gpt-4o-mini', 120, 30, 0.0001, '{agent}', null, 'chat', 'hot:usage')$$);
select tests.measure('alert_once', 'service',
  $$select app.alert_once('{tenant}', 'plan_limit_reached', date_trunc('month', now()))$$);
select tests.measure('web_chat_history', 'service', $$select api.web_chat_history('{web_channel}', 'volume-7')$$);
select tests.measure('web_chat_status', 'service', $$select api.web_chat_status('{web_channel}', 'volume-7')$$);
select tests.measure('list_conversations (first page)', 'admin', $$select count(*) from api.list_conversations('{tenant}')$$);
select tests.measure('list_messages (first page)', 'admin',
  $$select count(*) from app.conversations c, api.list_messages(c.id) m
    where c.connection_id = '{web_channel}' and c.thread_key = 'volume-7'$$);
select tests.measure('list_audit_log (first page)', 'admin', $$select count(*) from api.list_audit_log('{tenant}')$$);
select tests.measure('list_agents', 'admin', $$select count(*) from api.list_agents('{tenant}')$$);
select tests.measure('get_billing', 'admin', $$select api.get_billing('{tenant}')$$);
select tests.measure('get_dashboard (90 days)', 'admin',
  $$select api.get_dashboard('{tenant}', (now() at time zone 'UTC')::date - 89, (now() at time zone 'UTC')::date)$$);

-- 20 calls, two checks each.
select is(r.seq_scans, 0::bigint, r.call || ': no sequential scan of a table that grows with history')
from tests.reads r order by r.call;
select cmp_ok(r.rows_read, '<=', 250::bigint, r.call || ': reads at most a page of history rows (read ' || r.rows_read || ')')
from tests.reads r order by r.call;

select * from finish();
rollback;
