-- The two silent defects of issue 15: a new channel is answered by the tenant's first
-- active agent unless the admin picks "no agent"; repeated model failures alert the
-- admins once (audit alert.model_failing, broadcast live), show on the conversation, and
-- re-arm after a success.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(17);

-- Default agent ------------------------------------------------------------------------------
select tests.become('admin');
select is((api.create_web_chat_channel(tests.get('tenant')::uuid, 'Left alone') ->> 'agent_id'),
  tests.get('agent'), 'a web chat created without choosing is answered by the first active agent');
select is((api.create_web_chat_channel(tests.get('tenant')::uuid, 'Humans only', without_agent => true) ->> 'agent_id'),
  null, 'without_agent leaves a web chat to humans');
select is((api.create_whatsapp_channel(tests.get('tenant')::uuid, 'WA default', '5550777', 'waba-x', 'tok') ->> 'agent_id'),
  tests.get('agent'), 'a WhatsApp number created without choosing is answered by the first active agent');
select api.pause_agent(tests.get('agent')::uuid);
select is((api.create_web_chat_channel(tests.get('tenant')::uuid, 'All paused') ->> 'agent_id'),
  null, 'with no active agent a new channel has none (and the portal says so)');
reset role;

-- Model failures ---------------------------------------------------------------------------------
select tests.become('service');
select is((api.record_model_outcome(tests.get('tenant')::uuid, false, tests.get('conv')::uuid, 'http (HTTP 401)', 401) ->> 'alerted')::boolean,
  false, 'one failure raises no alert');
select is((api.record_model_outcome(tests.get('tenant')::uuid, false, tests.get('conv')::uuid, 'http (HTTP 401)', 401) ->> 'alerted')::boolean,
  false, 'two failures raise no alert');
select is((api.record_model_outcome(tests.get('tenant')::uuid, false, tests.get('conv')::uuid, 'http (HTTP 401)', 401) ->> 'alerted')::boolean,
  true, 'the third failure in a row alerts');
select is((api.record_model_outcome(tests.get('tenant')::uuid, false, tests.get('conv')::uuid, 'http (HTTP 401)', 401) ->> 'alerted')::boolean,
  false, 'further failures do not alert again');
reset role;
select is((select count(*)::int from app.audit_log where tenant_id = tests.get('tenant')::uuid and action = 'alert.model_failing'),
  1, 'exactly one alert.model_failing in the audit log');
select ok(exists (select 1 from realtime.messages m where m.topic = 'tenant:' || tests.get('tenant')
    and m.event = 'alert' and m.payload ->> 'kind' = 'model_failing'),
  'the alert is broadcast to the tenant''s portal');
select is((select c.model_failure ->> 'status' from app.conversations c where c.id = tests.get('conv')::uuid),
  '401', 'the conversation shows the model failure');

select tests.become('operator');
select is((api.get_model_health(tests.get('tenant')::uuid) ->> 'failing')::boolean, true, 'members see the model is failing');
reset role;
select is(tests.outcome('stranger', format($$select api.get_model_health(%L)$$, tests.get('tenant'))), '42501',
  'another tenant cannot read it');
select is(tests.outcome('service', format($$select api.record_model_outcome(%L, false, %L)$$, tests.get('tenant_b'), tests.get('conv'))),
  '42501', 'a failure cannot be pinned on another tenant''s conversation');

select tests.become('service');
select api.record_model_outcome(tests.get('tenant')::uuid, true, tests.get('conv')::uuid);
reset role;
select is((select count(*)::int from app.audit_log where tenant_id = tests.get('tenant')::uuid and action = 'alert.model_recovered'),
  1, 'a success after the alert says the model recovered');
select is((select c.model_failure from app.conversations c where c.id = tests.get('conv')::uuid), null,
  'and clears the conversation''s failure');
select tests.become('service');
select api.record_model_outcome(tests.get('tenant')::uuid, false, tests.get('conv')::uuid, 'timeout', null);
select api.record_model_outcome(tests.get('tenant')::uuid, false, tests.get('conv')::uuid, 'timeout', null);
select is((api.record_model_outcome(tests.get('tenant')::uuid, false, tests.get('conv')::uuid, 'timeout', null) ->> 'alerted')::boolean,
  true, 'a new failing streak alerts again');
reset role;

select * from finish();
rollback;
