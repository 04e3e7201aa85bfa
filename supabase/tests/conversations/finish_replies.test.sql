-- Several replies finished in one call (api.finish_replies): each is finished as
-- api.finish_reply would (reply sent, job completed, usage counted once), a reply naming
-- another tenant's conversation or job is refused alone and records nothing, the outcomes
-- come back in the order given, and a retry of the same call counts nothing twice.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(19);

-- A second job of tenant B's, which a forged reply of tenant A names.
insert into tests.fx values ('job_b2', app.enqueue_job('agent_jobs', jsonb_build_object('kind', 'reply',
  'tenant_id', tests.get('tenant_b'), 'conversation_id', tests.get('conv_b'), 'message_id', gen_random_uuid()))::text);

create function tests.finish_item(tenant text, conv text, reply_key text, agent text, usage_key text, job text)
returns jsonb language sql as $$
  select jsonb_build_object('tenant_id', tenant, 'conversation_id', conv,
    'reply', jsonb_build_object('text', 'Answered: ' || reply_key, 'idempotency_key', reply_key, 'agent_id', agent,
      'metadata', '{"mode": "model"}'::jsonb),
    'usage', jsonb_build_array(jsonb_build_object('model', 'gpt-4o-mini', 'input_tokens', 40, 'output_tokens', 2,
      'cost_usd', 0.0001, 'agent_id', agent, 'idempotency_key', usage_key)),
    'audit', jsonb_build_array(jsonb_build_object('action', 'agent.model_call', 'entity_type', 'conversation',
      'entity_id', conv, 'details', jsonb_build_object('usage_key', usage_key))),
    'model_ok', true, 'lease_seconds', 60, 'sent_on_record', true, 'queue_name', 'agent_jobs', 'job_id', job::bigint)
$$;
create function tests.agent_tokens(agent text) returns bigint language sql as $$
  select coalesce(sum(u.tokens), 0)::bigint from app.agent_usage u where u.agent_id = agent::uuid
$$;
create temp table before_tokens on commit drop as
  select tests.agent_tokens(tests.get('agent')) as a, tests.agent_tokens(tests.get('agent_b')) as b;
grant select on before_tokens to service_role;
create temp table batch on commit drop as select jsonb_build_array(
  tests.finish_item(tests.get('tenant'), tests.get('conv'), 'reply:batch-a', tests.get('agent'), 'batch:a0', tests.get('job')),
  tests.finish_item(tests.get('tenant_b'), tests.get('conv_b'), 'reply:batch-b', tests.get('agent_b'), 'batch:b0',
    tests.get('job_b')),
  -- forged: tenant A's name on tenant B's conversation
  tests.finish_item(tests.get('tenant'), tests.get('conv_b'), 'reply:forged-conv', tests.get('agent'), 'forged:conv',
    null),
  -- forged: tenant A's own conversation, but tenant B's job to complete
  tests.finish_item(tests.get('tenant'), tests.get('conv'), 'reply:forged-job', tests.get('agent'), 'forged:job',
    tests.get('job_b2'))) as replies;
grant select on batch to service_role;

select tests.become('service');
create temp table outcomes on commit drop as select api.finish_replies((select replies from batch)) as o;

select is((select jsonb_agg(e ->> 'ok' order by i) from outcomes, jsonb_array_elements(o) with ordinality x(e, i)),
  '["true", "true", "false", "false"]'::jsonb, 'each reply has its outcome, in the order given');
select is((select o #>> '{2,code}' from outcomes), '42501', 'a reply naming another tenant''s conversation is refused');
select is((select o #>> '{3,code}' from outcomes), '42501', 'a reply naming another tenant''s job is refused');
select ok((select (o #>> '{0,finished,settled}')::boolean and (o #>> '{0,finished,completed}')::boolean
    and (o #>> '{1,finished,settled}')::boolean and (o #>> '{1,finished,completed}')::boolean from outcomes),
  'the others are settled and their jobs completed, tenant by tenant');
reset role;

select is((select count(*)::integer from app.messages where idempotency_key in ('reply:batch-a', 'reply:batch-b')
    and delivery_status = 'sent'), 2, 'both replies are stored and sent');
select is((select tenant_id::text from app.messages where idempotency_key = 'reply:batch-b'), tests.get('tenant_b'),
  'tenant B''s reply is in tenant B');
select is((select count(*)::integer from pgmq.q_agent_jobs where msg_id in (tests.get('job')::bigint,
    tests.get('job_b')::bigint)), 0, 'both jobs are gone');
select is((select count(*)::integer from app.usage_events where idempotency_key in ('batch:a0', 'batch:b0')), 2,
  'each reply''s model call is metered');
select is((select count(*)::integer from app.audit_log where action = 'agent.model_call'
    and details ->> 'usage_key' in ('batch:a0', 'batch:b0')), 2, 'and audited');
select is(tests.agent_tokens(tests.get('agent')) - (select a from before_tokens), 42::bigint,
  'agent A''s counter grows by its reply''s tokens only');
select is(tests.agent_tokens(tests.get('agent_b')) - (select b from before_tokens), 42::bigint,
  'agent B''s by its own');

select is((select count(*)::integer from app.messages where idempotency_key like 'reply:forged%')
    + (select count(*)::integer from app.usage_events where idempotency_key like 'forged:%')
    + (select count(*)::integer from app.audit_log where details ->> 'usage_key' like 'forged:%'), 0,
  'a refused reply records nothing: no message, no usage, no audit');
select is((select count(*)::integer from pgmq.q_agent_jobs where msg_id = tests.get('job_b2')::bigint), 1,
  'and the other tenant''s job it named is still queued');

-- The same call again (a lost answer, retried): the replies are found, nothing counted twice.
select tests.become('service');
create temp table again on commit drop as
  select api.finish_replies((select jsonb_build_array(b.replies -> 0, b.replies -> 1) from batch b)) as o;
select ok((select (o #>> '{0,finished,reply,duplicate}')::boolean and (o #>> '{1,finished,reply,duplicate}')::boolean
    from again), 'a retried call finds the replies it wrote');
reset role;
select is((select count(*)::integer from app.usage_events where idempotency_key in ('batch:a0', 'batch:b0')), 2,
  'and meters nothing twice');
select is(tests.agent_tokens(tests.get('agent')) - (select a from before_tokens), 42::bigint,
  'the agent''s counter is unchanged by the retry');

-- Bad input.
select tests.become('service');
select throws_ok($$select api.finish_replies('{"tenant_id": "x"}')$$, '22023', null,
  'replies must be an array');
select throws_ok($$select api.finish_replies((select jsonb_agg('{}'::jsonb) from generate_series(1, 51)))$$, '22023',
  null, 'at most 50 replies in one call');
select is(api.finish_replies('["not an object"]') #>> '{0,code}', '22023', 'an item that is no object fails alone');
reset role;

select * from finish();
rollback;
