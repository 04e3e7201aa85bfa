-- Portal follow-ups: tool calls listed for members only, the
-- knowledge_source_changed broadcast reaching only the tenant's members, and the
-- tenant's own LLM key written by owners/admins and never read back.
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(20);

-- A tool call in tenant B too, to be sure it never shows up in tenant A.
select api.record_tool_call(tests.get('tenant_b')::uuid, tests.get('conv_b')::uuid, 'http_request',
  '{"url": "https://b.example/secret"}', 'failed', null, 'host not allowed');
select api.update_tool_call(tests.get('tenant')::uuid, tests.get('tool_call')::uuid, 'succeeded', '{"passages": 2}');

-- 1. list_tool_calls ---------------------------------------------------------------------------

select is(tests.value_as('operator', format($$select string_agg(tool_name || ':' || status || ':' || (result ->> 'passages'), ',')
  from api.list_tool_calls(%L)$$, tests.get('conv'))), 'knowledge_search:succeeded:2',
  'an operator sees the tool calls of a conversation with their outcome');
select is(tests.value_as('owner', format($$select arguments ->> 'query' from api.list_tool_calls(%L)$$, tests.get('conv'))),
  'refunds', 'the arguments are listed');
select is(tests.outcome('stranger', format($$select * from api.list_tool_calls(%L)$$, tests.get('conv'))), 'P0002',
  'a member of another tenant cannot list the tool calls (the conversation is invisible)');
select is(tests.value_as('owner', format($$select count(*)::text from api.list_tool_calls(%L)$$, tests.get('conv_b'))), 'P0002',
  'nor can the owner of tenant A list tenant B''s');
select is(tests.value_as('stranger', format($$select error from api.list_tool_calls(%L)$$, tests.get('conv_b'))),
  'host not allowed', 'tenant B sees its own failed call with the error');
select is(tests.outcome('anon', format($$select * from api.list_tool_calls(%L)$$, tests.get('conv'))), '42501',
  'anon cannot call it');
select is(tests.outcome('owner', format($$select * from api.list_tool_calls(%L)$$, gen_random_uuid())), 'P0002',
  'an unknown conversation is not found');
select is(tests.value_as('platform', format($$select count(*)::text from api.list_tool_calls(%L)$$, tests.get('conv'))), '1',
  'a platform admin may read them');
select is(
  (select string_agg(r.privilege_type || ':' || r.grantee, ',' order by r.grantee)
   from information_schema.routine_privileges r where r.routine_schema = 'api' and r.routine_name = 'list_tool_calls'
     and r.grantee in ('anon', 'authenticated', 'service_role', 'PUBLIC')),
  'EXECUTE:authenticated', 'list_tool_calls is granted to authenticated only');

-- 2. knowledge_source_changed -------------------------------------------------------------------

create function tests.source_events(tenant_key text, source_id text) returns text language sql as $$
  select coalesce(string_agg(m.payload ->> 'operation' || ':' || (m.payload ->> 'status'), ','
    order by m.payload ->> 'operation', m.payload ->> 'status'), '')
  from realtime.messages m
  where m.event = 'knowledge_source_changed' and m.topic = 'tenant:' || tests.get(tenant_key) and m.payload ->> 'id' = source_id
$$;

-- Pasted text is inserted pending and made ready in the same call.
select is(tests.source_events('tenant', tests.get('source')), 'insert:pending,update:ready',
  'adding a source broadcasts knowledge_source_changed: inserted, then ready');
select ok(not exists (select 1 from realtime.messages m where m.event = 'knowledge_source_changed' and m.payload ? 'content'),
  'the broadcast never carries the content');
select api.set_knowledge_source_status(tests.get('tenant')::uuid, tests.get('source')::uuid, 'failed', 'could not parse');
select ok(exists (select 1 from realtime.messages m where m.event = 'knowledge_source_changed'
    and m.topic = 'tenant:' || tests.get('tenant') and m.payload ->> 'id' = tests.get('source')
    and m.payload ->> 'status' = 'failed' and m.payload ->> 'error' = 'could not parse'),
  'a status change from the worker is broadcast with its error');
select is((select count(*)::integer from realtime.messages m where m.event = 'knowledge_source_changed'
    and m.payload ->> 'tenant_id' = tests.get('tenant') and m.topic <> 'tenant:' || tests.get('tenant')), 0,
  'nothing of tenant A''s knowledge is broadcast on another topic');

-- Who receives it: RLS on realtime.messages, probed like Realtime does (topic set, select as the user).
create function tests.receives(persona text, tenant_key text, source_id text) returns text language plpgsql as $$
declare
  seen integer;
begin
  begin
    perform tests.become(persona);
    perform set_config('realtime.topic', 'tenant:' || tests.get(tenant_key), true);
    select count(*) into seen from realtime.messages m
    where m.topic = 'tenant:' || tests.get(tenant_key) and m.event = 'knowledge_source_changed' and m.payload ->> 'id' = source_id;
    raise exception using errcode = 'TT000', message = seen::text;
  exception when others then
    if sqlstate = 'TT000' then
      return case when sqlerrm = '0' then 'no' else 'yes' end;
    end if;
    return sqlstate;
  end;
end $$;

select is(tests.receives('operator', 'tenant', tests.get('source')), 'yes', 'an operator of the tenant receives knowledge_source_changed');
select is(tests.receives('stranger', 'tenant', tests.get('source')), 'no', 'a member of another tenant does not');
select is(tests.receives('anon', 'tenant', tests.get('source')), 'no', 'anon does not');

-- 3. set_tenant_llm_key --------------------------------------------------------------------------

select is(tests.value_as('admin', format($$select api.set_tenant_llm_key(%L, 'sk-own-1') ->> 'has_own_llm_key'$$, tests.get('tenant'))),
  'true', 'an admin sets the tenant''s own key');
select api.set_tenant_llm_key(tests.get('tenant')::uuid, 'sk-own-2')
from (select tests.claims('owner')) c;
select is(api.get_llm_key(tests.get('tenant')::uuid), 'sk-own-2', 'the worker gets the replaced key');
select ok(tests.value_as('owner', format($$select api.get_tenant(%L)::text$$, tests.get('tenant'))) !~ 'sk-own',
  'get_tenant never returns the key, only has_own_llm_key');
select api.set_tenant_llm_key(tests.get('tenant')::uuid, '')
from (select tests.claims('owner')) c;
select is(api.get_llm_key(tests.get('tenant')::uuid) is null
  and not (api.get_tenant(tests.get('tenant')::uuid) ->> 'has_own_llm_key')::boolean, true,
  'an empty key clears it');

select * from finish();
rollback;
